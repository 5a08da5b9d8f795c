/**
 * inspect.js: what the send page learns about a file before it is sealed, the browser's twin of
 * `medcrypt meta --json` (src/medcrypt/cmd_meta.c, lib/image.c, lib/exif.c): the type by the
 * bytes (DICM at 128, the PNG and JPEG signatures — never the name), a quick structural check
 * (a PNG must be a complete chunk sequence ending in IEND; a JPEG must have its frame header and
 * end with EOI) and the metadata JSON the CLI's `send` seals, with the same member names and
 * order, so `medcrypt ls` and the inbox show what the browser sent exactly as what the CLI sent.
 * It reads a Blob (a File) through slices, never the whole file, and runs in the Web Worker.
 * Nothing here is a secret-free operation on the main thread: the page never parses a file.
 */
import dicomParser from 'dicom-parser';

/** Thrown for a file the page must refuse; `.reason` is a short machine code for tests. */
export class InspectError extends Error {
  constructor(reason, message) {
    super(message);
    this.name = 'InspectError';
    this.reason = reason;
  }
}

const BLOCK = 1 << 20;

/** Random access to a Blob, one cached 1 MiB block at a time. */
class BlobReader {
  constructor(blob) {
    this.blob = blob;
    this.size = blob.size;
    this.block = -1;
    this.bytes = null;
  }

  /** Exactly len bytes at off, or fewer when the file ends first. */
  async read(off, len) {
    if (off >= this.size || len <= 0) return new Uint8Array(0);
    const end = Math.min(this.size, off + len);
    const first = Math.floor(off / BLOCK);
    if (Math.floor((end - 1) / BLOCK) !== first || len > BLOCK) {
      return new Uint8Array(await this.blob.slice(off, end).arrayBuffer());
    }
    if (this.block !== first) {
      this.bytes = new Uint8Array(await this.blob.slice(first * BLOCK, Math.min(this.size, (first + 1) * BLOCK)).arrayBuffer());
      this.block = first;
    }
    return this.bytes.subarray(off - first * BLOCK, end - first * BLOCK);
  }
}

const PNG_SIG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** 'dicom', 'png', 'jpeg' or null, by the first 132 bytes (as mc_image_detect). */
export function detectType(head) {
  if (head.length >= 132 && head[128] === 0x44 && head[129] === 0x49 && head[130] === 0x43 && head[131] === 0x4d) return 'dicom';
  if (head.length >= 8 && PNG_SIG.every((b, i) => head[i] === b)) return 'png';
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  return null;
}

const be32 = (b, o) => ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3];
const be16 = (b, o) => (b[o] << 8) | b[o + 1];
const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8');
const ascii = (bytes) => latin1.decode(bytes);

/** A value the file holds, as the CLI's untrusted_string: UTF-8 as is, other bytes replaced. */
function untrusted(bytes) {
  return utf8.decode(bytes);
}

/**
 * Inspects a File or Blob (name: the file's name, sealed as "file" as the CLI does). Resolves to
 * `{type, metadata}` with type 'dicom' | 'png' | 'jpeg'; rejects with InspectError for an empty
 * file, a file of another type, or a damaged or truncated image.
 */
export async function inspectFile(blob, name = blob.name ?? null) {
  if (blob.size === 0) throw new InspectError('empty', 'The file is empty (0 bytes).');
  const reader = new BlobReader(blob);
  const head = await reader.read(0, 132);
  const type = detectType(head);
  if (!type) throw new InspectError('not-image', 'This is not a DICOM, PNG or JPEG file (checked by its content, not its name).');
  const file = name == null ? null : String(name).split(/[\\/]/).pop();
  if (type === 'png') return { type, metadata: await pngMetadata(reader, file) };
  if (type === 'jpeg') return { type, metadata: await jpegMetadata(reader, file) };
  return { type, metadata: await dicomMetadata(reader, file) };
}

/* ---- PNG ---- */

const PNG_COLOR = { 0: ['gray', 1], 2: ['rgb', 3], 3: ['palette', 1], 4: ['gray+alpha', 2], 6: ['rgba', 4] };

async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function pngMetadata(reader, file) {
  const damaged = (why) => new InspectError('damaged', `The PNG is truncated or damaged: ${why}.`);
  let off = 8;
  let ihdr = null;
  let idat = false;
  let ended = false;
  let time = null;
  let exif = null;
  const text = [];
  while (off < reader.size) {
    const h = await reader.read(off, 8);
    if (h.length < 8) throw damaged(`it ends inside a chunk header at byte ${off}`);
    const len = be32(h, 0);
    const type = ascii(h.subarray(4, 8));
    if (!/^[A-Za-z]{4}$/.test(type)) throw damaged(`byte ${off} does not start a chunk`);
    if (len > 0x7fffffff || off + 12 + len > reader.size) throw damaged(`the ${type} chunk at byte ${off} runs past the end of the file`);
    if (!ihdr && type !== 'IHDR') throw damaged('it does not start with IHDR');
    const wanted = ['IHDR', 'tIME', 'tEXt', 'zTXt', 'iTXt', 'eXIf'].includes(type) && len <= (1 << 24);
    const data = wanted ? await reader.read(off + 8, len) : null;
    if (type === 'IHDR') {
      if (len !== 13) throw damaged('its IHDR chunk is malformed');
      const [color, components] = PNG_COLOR[data[9]] ?? ['unknown', 1];
      ihdr = { Width: be32(data, 0), Height: be32(data, 4), BitDepth: data[8], Components: components, ColorType: color, Interlaced: data[12] !== 0 };
      if (!ihdr.Width || !ihdr.Height) throw damaged('its size is zero');
    } else if (type === 'IDAT') {
      idat = true;
    } else if (type === 'IEND') {
      ended = true;
      break;
    } else if (type === 'tIME' && len === 7 && !time) {
      const p = (n, w = 2) => String(n).padStart(w, '0');
      time = `${p(be16(data, 0) % 10000, 4)}-${p(data[2] % 100)}-${p(data[3] % 100)}T${p(data[4] % 100)}:${p(data[5] % 100)}:${p(data[6] % 100)}`;
    } else if (data && (type === 'tEXt' || type === 'zTXt' || type === 'iTXt')) {
      const entry = await pngText(type, data).catch(() => null);
      if (entry) text.push(entry);
    } else if (type === 'eXIf' && data && !exif) {
      exif = exifDates(data);
    }
    off += 12 + len;
  }
  if (!ended) throw damaged('it has no IEND chunk (the end of the file is missing)');
  if (!idat) throw damaged('it has no image data');
  const o = { file, format: 'png', ...ihdr };
  const creation = text.find((t) => t.keyword === 'Creation Time');
  if (creation) o.CreationTime = creation.value;
  if (time) o.ModificationTime = time;
  addExif(o, exif);
  if (text.length) {
    o.Text = {};
    for (const t of text) if (!Object.hasOwn(o.Text, t.keyword)) o.Text[t.keyword] = t.value;
  }
  return o;
}

/** {keyword, value} of a PNG text chunk. */
async function pngText(type, data) {
  const nul = data.indexOf(0);
  if (nul < 1 || nul > 79) return null;
  const keyword = ascii(data.subarray(0, nul));
  if (type === 'tEXt') return { keyword, value: untrusted(data.subarray(nul + 1)) };
  if (type === 'zTXt') return { keyword, value: untrusted(await inflate(data.subarray(nul + 2))) };
  // iTXt: keyword NUL compressed method language NUL translated NUL text (UTF-8)
  const compressed = data[nul + 1] === 1;
  const lang = data.indexOf(0, nul + 3);
  const translated = lang < 0 ? -1 : data.indexOf(0, lang + 1);
  if (translated < 0) return null;
  const body = data.subarray(translated + 1);
  return { keyword, value: untrusted(compressed ? await inflate(body) : body) };
}

/* ---- EXIF (TIFF): the three dates lib/exif.c reads ---- */

function exifDates(tiff) {
  try {
    const le = tiff[0] === 0x49 && tiff[1] === 0x49;
    if (!le && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return null;
    const u16 = (o) => (le ? tiff[o] | (tiff[o + 1] << 8) : be16(tiff, o));
    const u32 = (o) => (le ? (tiff[o] | (tiff[o + 1] << 8) | (tiff[o + 2] << 16)) + tiff[o + 3] * 0x1000000 : be32(tiff, o));
    if (u16(2) !== 42) return null;
    const out = {};
    const ascii20 = (e) => {
      const count = u32(e + 4);
      if (u16(e + 2) !== 2 || count < 1 || count > 64) return null;
      const at = count <= 4 ? e + 8 : u32(e + 8);
      if (at + count > tiff.length) return null;
      let s = ascii(tiff.subarray(at, at + count));
      s = s.replace(/\0.*$/s, '');
      return /^[\x20-\x7e]*$/.test(s) && s ? s : null;
    };
    const ifd = (at, tags) => {
      if (at + 2 > tiff.length) return;
      const n = u16(at);
      for (let i = 0; i < n && at + 2 + 12 * (i + 1) <= tiff.length; i++) {
        const e = at + 2 + 12 * i;
        const tag = u16(e);
        if (tags[tag] && !out[tags[tag]]) {
          const v = ascii20(e);
          if (v) out[tags[tag]] = v;
        } else if (tag === 0x8769 && tags === IFD0) {
          ifd(u32(e + 8), EXIF_IFD);
        }
      }
    };
    ifd(u32(4), IFD0);
    return out;
  } catch {
    return null;
  }
}
const IFD0 = { 0x0132: 'DateTime' };
const EXIF_IFD = { 0x9003: 'DateTimeOriginal', 0x9004: 'DateTimeDigitized' };

function addExif(o, exif) {
  if (!exif) return;
  for (const k of ['DateTimeOriginal', 'DateTimeDigitized', 'DateTime']) if (exif[k]) o[k] = exif[k];
}

/* ---- JPEG ---- */

async function jpegMetadata(reader, file) {
  const damaged = (why) => new InspectError('damaged', `The JPEG is truncated or damaged: ${why}.`);
  let off = 2;
  let frame = null;
  let jfif = false;
  let adobe = null;
  let exif = null;
  for (;;) {
    const h = await reader.read(off, 4);
    if (h.length < 2) throw damaged('it ends before its image data');
    if (h[0] !== 0xff) throw damaged(`byte ${off} is not a marker`);
    const marker = h[1];
    if (marker === 0xff) { off++; continue; } // fill byte
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) { off += 2; continue; }
    if (marker === 0xd9) throw damaged('it ends before its image data');
    if (h.length < 4) throw damaged('it ends inside a marker');
    const len = be16(h, 2);
    if (len < 2 || off + 2 + len > reader.size) throw damaged(`a segment at byte ${off} runs past the end of the file`);
    if (marker === 0xda) break; // SOS: the entropy-coded data follows
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof || marker === 0xe0 || marker === 0xe1 || marker === 0xee) {
      const seg = await reader.read(off + 4, Math.min(len - 2, 1 << 20));
      if (isSof && !frame) {
        if (seg.length < 6) throw damaged('its frame header is malformed');
        const n = seg[5];
        const ids = [];
        for (let i = 0; i < n && 6 + 3 * i < seg.length; i++) ids.push(seg[6 + 3 * i]);
        frame = { precision: seg[0], height: be16(seg, 1), width: be16(seg, 3), components: n, ids, progressive: [0xc2, 0xc6, 0xca, 0xce].includes(marker) };
      } else if (marker === 0xe0 && ascii(seg.subarray(0, 5)) === 'JFIF\0') {
        jfif = true;
      } else if (marker === 0xee && ascii(seg.subarray(0, 5)) === 'Adobe' && seg.length >= 12) {
        adobe = seg[11];
      } else if (marker === 0xe1 && !exif && ascii(seg.subarray(0, 6)) === 'Exif\0\0') {
        exif = exifDates(seg.subarray(6));
      }
    }
    off += 2 + len;
  }
  if (!frame) throw damaged('it has no frame header');
  if (!frame.width || !frame.height) throw damaged('its size is zero');
  // EOI within the last bytes: a file cut short loses it (some writers pad after it).
  const tail = await reader.read(Math.max(off, reader.size - 1024), 1024);
  let eoi = false;
  for (let i = tail.length - 2; i >= 0 && !eoi; i--) eoi = tail[i] === 0xff && tail[i + 1] === 0xd9;
  if (!eoi) throw damaged('its end-of-image marker is missing (the end of the file is missing)');
  if (![1, 3, 4].includes(frame.components)) throw new InspectError('unsupported', 'The JPEG has an unsupported number of components.');
  const o = {
    file,
    format: 'jpeg',
    Width: frame.width,
    Height: frame.height,
    BitDepth: frame.precision,
    Components: frame.components,
    ColorType: jpegColor(frame, jfif, adobe),
    Progressive: frame.progressive,
  };
  addExif(o, exif);
  return o;
}

/** libjpeg's guess of the colour space (jdapimin.c default_decompress_parms). */
function jpegColor({ components, ids }, jfif, adobe) {
  if (components === 1) return 'gray';
  if (components === 3) {
    if (jfif) return 'ycbcr';
    if (adobe !== null) return adobe === 0 ? 'rgb' : 'ycbcr';
    if (ids[0] === 0x52 && ids[1] === 0x47 && ids[2] === 0x42) return 'rgb';
    return 'ycbcr';
  }
  if (adobe !== null) return adobe === 2 ? 'ycck' : 'cmyk';
  return 'cmyk';
}

/* ---- DICOM ---- */

/** The attributes `medcrypt meta` shows, in its order (cmd_meta.c `fields`). */
const DICOM_FIELDS = [
  ['x00100020', 'PatientID', 'text'],
  ['x00100010', 'PatientName', 'text'],
  ['x00100030', 'PatientBirthDate', 'leading'],
  ['x00100040', 'PatientSex', 'leading'],
  ['x00080020', 'StudyDate', 'leading'],
  ['x00080030', 'StudyTime', 'leading'],
  ['x00080060', 'Modality', 'leading'],
  ['x00081030', 'StudyDescription', 'text'],
  ['x00180015', 'BodyPartExamined', 'leading'],
  ['x0020000d', 'StudyInstanceUID', 'leading'],
  ['x0020000e', 'SeriesInstanceUID', 'leading'],
  ['x00080018', 'SOPInstanceUID', 'leading'],
  ['x00280010', 'Rows', 'ushort'],
  ['x00280011', 'Columns', 'ushort'],
  ['x00280008', 'NumberOfFrames', 'intstr'],
  ['x00020010', 'TransferSyntax', 'leading'],
];

/** lib/dicom.c mc_dicom_transfer_syntax_name. */
const TRANSFER_SYNTAX = {
  '1.2.840.10008.1.2': 'Implicit VR Little Endian',
  '1.2.840.10008.1.2.1': 'Explicit VR Little Endian',
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline (Process 1)',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended (Process 2 & 4)',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless, Non-Hierarchical (Process 14)',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Lossy (Near-Lossless)',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Image Compression (Lossless Only)',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000 Image Compression',
  '1.2.840.10008.1.2.4.100': 'MPEG2 Main Profile / Main Level',
  '1.2.840.10008.1.2.4.102': 'MPEG-4 AVC/H.264 High Profile / Level 4.1',
  '1.2.840.10008.1.2.4.201': 'High-Throughput JPEG 2000 Image Compression (Lossless Only)',
  '1.2.840.10008.1.2.4.203': 'High-Throughput JPEG 2000 Image Compression',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
};

/** The decoder of a Specific Character Set (0008,0005): the common single-byte and UTF-8 ones. */
function charsetDecoder(value) {
  const sets = (value ?? '').split('\\').map((s) => s.trim().toUpperCase());
  if (sets.includes('ISO_IR 192')) return utf8;
  const latin = { 'ISO_IR 100': 'iso-8859-1', 'ISO_IR 101': 'iso-8859-2', 'ISO_IR 109': 'iso-8859-3', 'ISO_IR 110': 'iso-8859-4',
    'ISO_IR 144': 'iso-8859-5', 'ISO_IR 127': 'iso-8859-6', 'ISO_IR 126': 'iso-8859-7', 'ISO_IR 138': 'iso-8859-8', 'ISO_IR 148': 'iso-8859-9' };
  const label = latin[sets[0]];
  return label ? new TextDecoder(label) : utf8;
}

async function dicomMetadata(reader, file) {
  // The attributes come before the pixel data: parse a prefix, longer while it is not enough.
  let ds = null;
  let lastError = null;
  for (let len = 256 * 1024; ; len *= 4) {
    const bytes = await reader.read(0, Math.min(len, reader.size));
    try {
      ds = dicomParser.parseDicom(bytes, { untilTag: 'x7fe00010' });
      break;
    } catch (e) {
      lastError = e;
      if (len >= reader.size || len >= 64 * 1024 * 1024) break;
    }
  }
  if (!ds) {
    const why = typeof lastError === 'string' ? lastError : lastError?.exception ?? lastError?.message ?? 'it does not parse';
    throw new InspectError('damaged', `The DICOM file is truncated or damaged: ${String(why).replace(/^dicomParser\.\w+: /, '')}.`);
  }
  const decoder = charsetDecoder(ds.string('x00080005'));
  const o = { file, format: 'dicom' };
  for (const [tag, name, kind] of DICOM_FIELDS) {
    const el = ds.elements[tag];
    if (!el || el.length === undefined || el.dataOffset === undefined) continue;
    const raw = ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length);
    if (kind === 'ushort') {
      if (el.length < 2) continue;
      o[name] = ds.uint16(tag);
      continue;
    }
    let end = raw.length;
    while (end > 0 && (raw[end - 1] === 0x20 || raw[end - 1] === 0)) end--;
    let start = 0;
    if (kind !== 'text') while (start < end && raw[start] === 0x20) start++;
    const bytes = raw.subarray(start, end);
    if (kind === 'intstr') {
      const s = ascii(bytes);
      if (/^\d{1,18}$/.test(s)) o[name] = Number(s);
      continue;
    }
    o[name] = tag.startsWith('x0002') ? ascii(bytes) : decoder.decode(bytes);
  }
  const tsName = TRANSFER_SYNTAX[o.TransferSyntax];
  if (tsName) o.TransferSyntaxName = tsName;
  return o;
}
