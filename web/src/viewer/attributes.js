/**
 * attributes.js: the DICOM attributes the viewer's side panel shows, read from the decrypted
 * Part 10 bytes with dicom-parser (the parser the image loader itself depends on; medcrypt
 * writes no DICOM parser of its own in the browser). Parsing stops at Pixel Data, so a
 * 100-frame study costs no more than its header. Everything here stays in memory.
 */
import dicomParser from 'dicom-parser';

import { McError, Kind } from '../container/errors.js';

/** The attributes shown, in display order: [keyword, tag, name]. */
const SHOWN = [
  ['PatientName', 'x00100010', 'Patient name'],
  ['PatientID', 'x00100020', 'Patient ID'],
  ['PatientBirthDate', 'x00100030', 'Birth date'],
  ['PatientSex', 'x00100040', 'Sex'],
  ['StudyDate', 'x00080020', 'Study date'],
  ['StudyTime', 'x00080030', 'Study time'],
  ['StudyDescription', 'x00081030', 'Study'],
  ['SeriesDescription', 'x0008103e', 'Series'],
  ['Modality', 'x00080060', 'Modality'],
  ['BodyPartExamined', 'x00180015', 'Body part'],
  ['InstitutionName', 'x00080080', 'Institution'],
  ['Manufacturer', 'x00080070', 'Manufacturer'],
  ['AccessionNumber', 'x00080050', 'Accession number'],
  ['SeriesNumber', 'x00200011', 'Series number'],
  ['InstanceNumber', 'x00200013', 'Instance number'],
  ['Rows', 'x00280010', 'Rows'],
  ['Columns', 'x00280011', 'Columns'],
  ['NumberOfFrames', 'x00280008', 'Frames'],
  ['BitsAllocated', 'x00280100', 'Bits allocated'],
  ['BitsStored', 'x00280101', 'Bits stored'],
  ['PixelRepresentation', 'x00280103', 'Pixel representation'],
  ['PhotometricInterpretation', 'x00280004', 'Photometric interpretation'],
  ['PixelSpacing', 'x00280030', 'Pixel spacing (mm)'],
  ['SliceThickness', 'x00180050', 'Slice thickness (mm)'],
  ['WindowCenter', 'x00281050', 'Window center'],
  ['WindowWidth', 'x00281051', 'Window width'],
  ['TransferSyntaxUID', 'x00020010', 'Transfer syntax'],
  ['SOPClassUID', 'x00080016', 'SOP class'],
  ['StudyInstanceUID', 'x0020000d', 'Study instance UID'],
  ['SeriesInstanceUID', 'x0020000e', 'Series instance UID'],
  ['SOPInstanceUID', 'x00080018', 'SOP instance UID'],
];

/** Transfer syntaxes by UID, for display; the ones the viewer decodes are all listed. */
export const TRANSFER_SYNTAXES = Object.freeze({
  '1.2.840.10008.1.2': 'Implicit VR Little Endian',
  '1.2.840.10008.1.2.1': 'Explicit VR Little Endian',
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline (Process 1)',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended (Process 2 & 4)',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless (Process 14)',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless SV1',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Near-Lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Lossless',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
  '1.2.840.10008.1.2.4.201': 'HTJ2K Lossless',
  '1.2.840.10008.1.2.4.202': 'HTJ2K Lossless RPCL',
  '1.2.840.10008.1.2.4.203': 'HTJ2K',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
});

/** Unsigned attributes read as numbers when the file carries them in binary VRs. */
const BINARY_US = new Set(['x00280010', 'x00280011', 'x00280100', 'x00280101', 'x00280103']);

function asBytes(bytes) {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw new McError(Kind.MISUSE, 'dicomAttributes: bytes must be a Uint8Array or ArrayBuffer');
}

/**
 * parseHeader(bytes): the dicom-parser DataSet of a Part 10 file, up to (not into) Pixel Data.
 * Throws McError kind 'unsupported' when the bytes are not DICOM Part 10.
 */
export function parseHeader(bytes) {
  try {
    return dicomParser.parseDicom(asBytes(bytes), { untilTag: 'x7fe00010' });
  } catch (cause) {
    if (cause instanceof McError) throw cause;
    // dicom-parser throws strings as well as Errors; never echo file contents
    throw new McError(Kind.UNSUPPORTED, 'not a readable DICOM Part 10 file', { cause });
  }
}

/** numberOfFrames(dataSet): NumberOfFrames, or 1 when absent or not a positive number. */
export function numberOfFrames(dataSet) {
  const n = dataSet.intString('x00280008');
  return Number.isInteger(n) && n > 0 ? n : 1;
}

function valueOf(dataSet, tag) {
  const element = dataSet.elements[tag];
  if (!element || element.length === 0) return undefined;
  if (BINARY_US.has(tag) && element.length === 2 && element.vr !== 'IS' && element.vr !== 'DS') {
    return String(dataSet.uint16(tag));
  }
  const text = dataSet.string(tag);
  return text === undefined ? undefined : text.replace(/\\/g, ' \\ ').trim();
}

/**
 * dicomAttributes(bytes): the attributes for the side panel, as an array of
 * `{keyword, tag, name, value}` in display order, only those present in the file. `tag` is
 * "(gggg,eeee)"; `value` is a string (person names keep DICOM's ^ separators turned into
 * spaces; the transfer syntax carries its name). Synchronous; the caller owns the result.
 * Throws McError kind 'unsupported' when the bytes are not DICOM Part 10, 'misuse' when they
 * are not bytes.
 */
export function dicomAttributes(bytes) {
  const dataSet = parseHeader(bytes);
  const out = [];
  for (const [keyword, tag, name] of SHOWN) {
    let value = valueOf(dataSet, tag);
    if (value === undefined || value === '') continue;
    if (keyword === 'PatientName') value = value.replace(/\^+/g, ' ').trim();
    if (keyword === 'TransferSyntaxUID' && TRANSFER_SYNTAXES[value]) {
      value = `${TRANSFER_SYNTAXES[value]} (${value})`;
    }
    out.push({ keyword, tag: `(${tag.slice(1, 5)},${tag.slice(5)})`.toUpperCase(), name, value });
  }
  return out;
}
