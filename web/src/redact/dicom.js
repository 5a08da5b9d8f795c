/**
 * dicom.js: region encryption for DICOM files with native (uncompressed) pixel data
 * (docs/FORMAT.md §13.6), the JavaScript twin of lib/redact_dicom.c. The file is walked once to
 * find the image attributes, the Pixel Data value and where the private block goes. Redacting
 * changes the region samples of every frame in place and inserts two top-level private elements,
 * (7FD1,0010) "MEDCRYPT REGIONS" and (7FD1,1001) OB holding the side data, in tag order; nothing
 * else moves. Restoring removes exactly those two elements and puts the samples back, so the
 * restored file is the original byte for byte (the sealed SHA-256 of the whole file proves it).
 *
 * The walker is hand-written, a port of the bounds-checked reader of lib/dicom.c, rather than
 * dicom-parser: §13.6 places the block by the offset of each top-level element's header (which
 * dicom-parser does not report) and refuses what the C reader refuses (odd lengths, values past
 * their item, undefined lengths outside sequences and Pixel Data), so that the browser and the CLI
 * accept and place exactly alike.
 */
import { Kind, fail } from '../container/errors.js';
import { concat, equal, ld32, u32, wipe } from '../container/bytes.js';
import {
  Fill, MAX_SEALED, PIXELATE_CELL, RedactKind, checkDims, checkRegions, checkRestores, encodeRecord, fillNumber, keyOpener,
  randomFill, recordDataLength, sealSide, sha256,
} from './record.js';

const PRIVATE_GROUP = 0x7fd1;
const CREATOR = 'MEDCRYPT REGIONS'; // 16 bytes: even, no padding
const SIDE_ELEMENT = 0x1001;
const UNDEFINED = 0xffffffff;
const MAX_DEPTH = 64;
const TAG_ITEM = 0xfffee000;
const TAG_ITEM_END = 0xfffee00d;
const TAG_SEQ_END = 0xfffee0dd;
const TAG_PIXEL_DATA = 0x7fe00010;
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const latin1 = new TextDecoder('latin1');

/** Whether bytes are a DICOM Part 10 file (DICM at 128). */
export function isDicom(bytes) {
  return bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
}

const le16 = (b, o) => b[o] | (b[o + 1] << 8);
const le32 = (b, o) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)) + b[o + 3] * 0x1000000;
const hex4 = (n) => n.toString(16).toUpperCase().padStart(4, '0');

/**
 * Walks a Part 10 file as mc_dicom_parse does (little endian only: the two transfer syntaxes
 * §13.6 supports; anything else is refused by the caller from the transfer syntax the walk
 * reports). visit.element(el) for every element, visit.sequence(el) for every sequence start;
 * el = {group, element, vr, offset, valueOffset, length, depth}. McError header for a malformed
 * or truncated file, unsupported for a deflated or big endian one.
 */
export function walkDicom(file, visit) {
  const total = file.length;
  if (!isDicom(file)) fail(Kind.HEADER, 'not a DICOM Part 10 file: no "DICM" at byte 128');
  const frames = [{ kind: 'root', end: total, limit: total, explicit: true, depth: 0 }];
  const top = () => frames[frames.length - 1];
  let off = 132;
  let inMeta = true;
  let ts = '';
  const truncatedOr = (f) => (f.limit === total ? 'truncated DICOM file' : 'malformed DICOM');
  const header = (n, tagOffset) => {
    const f = top();
    if (n > f.limit - off) {
      fail(Kind.HEADER, `${truncatedOr(f)}: the element header at byte ${tagOffset} crosses the end of its ${f.limit === total ? 'file' : 'enclosing item or sequence'} at byte ${f.limit}`);
    }
    const at = off;
    off += n;
    return at;
  };
  const fits = (len, tag, tagOffset) => {
    const f = top();
    if (len > f.limit - off) {
      fail(Kind.HEADER, `${truncatedOr(f)}: the length ${len} of (${hex4(tag >>> 16)},${hex4(tag & 0xffff)}) at byte ${tagOffset} runs past the end of its ${f.limit === total ? 'file' : 'enclosing item or sequence'} at byte ${f.limit}`);
    }
  };
  const push = (kind, len, explicit, depth) => {
    const parent = top();
    const end = len === UNDEFINED ? null : off + len;
    frames.push({ kind, end, limit: end ?? parent.limit, explicit, depth });
  };
  const startDataset = () => {
    if (!ts) fail(Kind.HEADER, 'malformed DICOM: the file meta group has no transfer syntax (0002,0010)');
    if (ts === '1.2.840.10008.1.2.1.99' || ts === '1.2.840.10008.1.2.4.95') fail(Kind.UNSUPPORTED, `the deflated transfer syntax ${ts} is not supported (dcmconv +te converts the file)`);
    if (ts === '1.2.840.10008.1.2.2') fail(Kind.UNSUPPORTED, 'DICOM transfer syntax 1.2.840.10008.1.2.2 (explicit VR big endian) is not supported: convert with \'dcmconv +te\'');
    frames[0].explicit = ts !== IMPLICIT_LE;
  };
  for (;;) {
    const f = top();
    if (f.end !== null && off === f.end) {
      if (f.kind === 'root') break;
      frames.pop();
      continue;
    }
    const tagOffset = off;
    if (off === total) {
      if (f.kind !== 'root') fail(Kind.HEADER, `truncated DICOM file: it ends at byte ${off}, inside ${f.kind === 'fragments' ? 'encapsulated pixel data' : 'a sequence or item'}`);
      break;
    }
    const t = header(4, tagOffset);
    if (inMeta && le16(file, t) !== 0x0002) {
      inMeta = false;
      startDataset();
    }
    const tag = ((le16(file, t) << 16) | le16(file, t + 2)) >>> 0;
    if (!inMeta && f.kind === 'root' && tag >>> 16 === 0x0002) fail(Kind.HEADER, `malformed DICOM: (0002,${hex4(tag & 0xffff)}) at offset ${tagOffset}, after the file meta group ended`);
    if (f.kind === 'seq') {
      const len = le32(file, header(4, tagOffset));
      if (tag === TAG_ITEM) {
        if (len !== UNDEFINED && len % 2) fail(Kind.HEADER, `malformed DICOM: the item at byte ${tagOffset} has the odd length ${len}`);
        if (len !== UNDEFINED) fits(len, tag, tagOffset);
        push('item', len, f.explicit, f.depth + 1);
      } else if (tag === TAG_SEQ_END && f.end === null) {
        if (len !== 0) fail(Kind.HEADER, `malformed DICOM: sequence delimiter at byte ${tagOffset} has length ${len}, not 0`);
        frames.pop();
      } else {
        fail(Kind.HEADER, `malformed DICOM: expected an item at byte ${tagOffset}, found (${hex4(tag >>> 16)},${hex4(tag & 0xffff)})`);
      }
      continue;
    }
    if (f.kind === 'fragments') {
      const len = le32(file, header(4, tagOffset));
      if (tag === TAG_ITEM) {
        if (len === UNDEFINED) fail(Kind.HEADER, `malformed DICOM: the pixel data fragment at byte ${tagOffset} has an undefined length`);
        if (len % 2) fail(Kind.HEADER, `malformed DICOM: the pixel data fragment at byte ${tagOffset} has the odd length ${len}`);
        fits(len, tag, tagOffset);
        off += len;
      } else if (tag === TAG_SEQ_END) {
        if (len !== 0) fail(Kind.HEADER, `malformed DICOM: sequence delimiter at byte ${tagOffset} has length ${len}, not 0`);
        frames.pop();
      } else {
        fail(Kind.HEADER, `malformed DICOM: expected a pixel data fragment at byte ${tagOffset}, found (${hex4(tag >>> 16)},${hex4(tag & 0xffff)})`);
      }
      continue;
    }
    const el = { group: tag >>> 16, element: tag & 0xffff, vr: 'UN', offset: tagOffset, depth: f.depth };
    if (el.group === 0xfffe) {
      if (tag === TAG_ITEM_END && f.kind === 'item' && f.end === null) {
        const len = le32(file, header(4, tagOffset));
        if (len !== 0) fail(Kind.HEADER, `malformed DICOM: item delimiter at byte ${tagOffset} has length ${len}, not 0`);
        frames.pop();
        continue;
      }
      fail(Kind.HEADER, `malformed DICOM: unexpected delimiter (FFFE,${hex4(el.element)}) at byte ${tagOffset}`);
    }
    if (f.explicit) {
      const v = header(2, tagOffset);
      if (file[v] < 0x41 || file[v] > 0x5a || file[v + 1] < 0x41 || file[v + 1] > 0x5a) {
        fail(Kind.HEADER, `malformed DICOM: (${hex4(el.group)},${hex4(el.element)}) at byte ${tagOffset} has no valid VR`);
      }
      el.vr = latin1.decode(file.subarray(v, v + 2));
      el.length = LONG_VRS.has(el.vr) ? le32(file, header(6, tagOffset) + 2) : le16(file, header(2, tagOffset));
    } else {
      el.length = le32(file, header(4, tagOffset));
    }
    el.valueOffset = off;
    const undefinedLength = el.length === UNDEFINED;
    let sequence;
    let subExplicit = f.explicit;
    if (f.explicit) {
      sequence = el.vr === 'SQ' || (undefinedLength && el.vr === 'UN' && tag !== TAG_PIXEL_DATA);
      if (sequence && el.vr === 'UN') subExplicit = false; // PS3.5 6.2.2
    } else {
      const item = off + 4 <= total && file[off] === 0xfe && file[off + 1] === 0xff && file[off + 2] === 0x00 && file[off + 3] === 0xe0;
      sequence = tag !== TAG_PIXEL_DATA && (undefinedLength || (el.length >= 8 && item));
      if (sequence) el.vr = 'SQ';
    }
    if (undefinedLength && !sequence) {
      if (tag !== TAG_PIXEL_DATA || !['OB', 'OW', 'UN'].includes(el.vr)) {
        fail(Kind.HEADER, `malformed DICOM: (${hex4(el.group)},${hex4(el.element)}) at byte ${tagOffset} has an undefined length, which VR ${el.vr} does not allow`);
      }
      visit.element?.(el); // encapsulated pixel data: reported once, then its fragments skipped
      push('fragments', el.length, f.explicit, f.depth);
      continue;
    }
    if (!undefinedLength) {
      if (el.length % 2) fail(Kind.HEADER, `malformed DICOM: (${hex4(el.group)},${hex4(el.element)}) at byte ${tagOffset} has the odd length ${el.length} (PS3.5 7.1.1 requires even)`);
      fits(el.length, tag, tagOffset);
    }
    if (sequence) {
      if (f.depth + 1 > MAX_DEPTH) fail(Kind.HEADER, `malformed DICOM: sequences nested too deep (more than ${MAX_DEPTH}) at byte ${tagOffset}`);
      push('seq', el.length, subExplicit, f.depth);
      visit.sequence?.(el);
      continue;
    }
    off += el.length;
    if (tag === 0x00020010 && f.kind === 'root') {
      ts = latin1.decode(file.subarray(el.valueOffset, off)).replace(/[ \0]+$/, '');
      if (ts.length >= 64) fail(Kind.HEADER, `malformed DICOM: the transfer syntax UID is ${ts.length} bytes long`);
    }
    visit.element?.(el);
  }
  if (inMeta) startDataset();
  return ts;
}

/** A value as a trimmed string (padding spaces and NULs removed), as value_string. */
function valueString(file, el) {
  return latin1.decode(file.subarray(el.valueOffset, el.valueOffset + el.length)).replace(/[ \0]+$/, '').replace(/^ +/, '');
}

const afterOurBlock = (group, element) => group > PRIVATE_GROUP || (group === PRIVATE_GROUP && element > SIDE_ELEMENT);

/**
 * Parses the file and checks that its pixel data can be handled (dcm_load). Returns the scan:
 * {explicitVr, rows, cols, bitsAllocated, bitsStored, samples, planar, pixrep, frames,
 * photometric, pixelOffset, insertAt, creator, side, otherPrivate}.
 */
export function loadDicom(file) {
  const s = { samples: 1, frames: 1, rows: 0, cols: 0, bitsAllocated: 0, bitsStored: 0, planar: 0, pixrep: 0, photometric: '', insertAt: null, creator: null, side: null, otherPrivate: false };
  const note = (el) => {
    if (el.depth === 0 && s.insertAt === null && afterOurBlock(el.group, el.element)) s.insertAt = el.offset;
  };
  const us = (el) => (el.length >= 2 ? le16(file, el.valueOffset) : 0);
  const ts = walkDicom(file, {
    sequence: (el) => {
      note(el);
      if (el.depth === 0 && el.group === PRIVATE_GROUP) s.otherPrivate = true;
    },
    element: (el) => {
      note(el);
      if (el.depth !== 0) return;
      switch (((el.group << 16) | el.element) >>> 0) {
        case 0x00280002: s.samples = us(el); break;
        case 0x00280004: s.photometric = valueString(file, el); break;
        case 0x00280006: s.planar = us(el); break;
        case 0x00280008: {
          const text = valueString(file, el);
          s.frames = /^[0-9]{1,9}$/.test(text) ? Number(text) : text === '' ? 0 : -1;
          break;
        }
        case 0x00280010: s.rows = us(el); break;
        case 0x00280011: s.cols = us(el); break;
        case 0x00280100: s.bitsAllocated = us(el); break;
        case 0x00280101: s.bitsStored = us(el); break;
        case 0x00280103: s.pixrep = us(el); break;
        case TAG_PIXEL_DATA:
          s.pixels = { encapsulated: el.length === UNDEFINED, offset: el.valueOffset, length: el.length };
          break;
        default:
          if (el.group !== PRIVATE_GROUP) break;
          if (el.element === 0x0010) {
            s.creator = { ours: valueString(file, el) === CREATOR, offset: el.offset, end: el.valueOffset + el.length };
          } else if (el.element === SIDE_ELEMENT) {
            s.side = { offset: el.offset, valueOffset: el.valueOffset, length: el.length };
          } else {
            s.otherPrivate = true;
          }
      }
    },
  });
  if (ts === EXPLICIT_LE) s.explicitVr = true;
  else if (ts === IMPLICIT_LE) s.explicitVr = false;
  else {
    fail(Kind.UNSUPPORTED, `DICOM transfer syntax ${ts || '(none)'} is not supported: only native pixel data in explicit or implicit VR little endian. Compressed (encapsulated) DICOM images are redacted after decompressing them ('dcmdjpeg' or 'dcmconv +te').`);
  }
  if (!s.pixels) fail(Kind.HEADER, 'the DICOM file has no Pixel Data (7FE0,0010)');
  if (s.pixels.encapsulated) fail(Kind.UNSUPPORTED, 'the DICOM pixel data is not native little endian (it is encapsulated): not supported');
  if ((s.bitsAllocated !== 8 && s.bitsAllocated !== 16) || (s.samples !== 1 && s.samples !== 3) || s.planar > 1) {
    fail(Kind.UNSUPPORTED, `DICOM pixels of ${s.bitsAllocated} bits allocated and ${s.samples} samples are not supported: only 8 or 16 bits, 1 or 3 samples`);
  }
  if (s.photometric.startsWith('YBR_') && s.photometric !== 'YBR_FULL') {
    fail(Kind.UNSUPPORTED, `DICOM pixels in ${s.photometric} are not supported: their chroma is subsampled (only MONOCHROME1/2, PALETTE COLOR, RGB and YBR_FULL)`);
  }
  if (s.samples === 1) s.planar = 0;
  if (s.bitsStored === 0 || s.bitsStored > s.bitsAllocated) s.bitsStored = s.bitsAllocated;
  checkDims(s.cols, s.rows);
  if (!(s.frames >= 1)) fail(Kind.HEADER, 'the DICOM file has a bad Number of Frames');
  const frame = s.rows * s.cols * s.samples * (s.bitsAllocated / 8);
  if (Math.floor(s.pixels.length / frame) < s.frames) fail(Kind.HEADER, `the DICOM Pixel Data holds ${s.pixels.length} bytes, less than ${s.frames} frames of ${frame}`);
  return s;
}

/** Byte offset of sample c of pixel (x, y) of frame f. */
export function sampleAt(s, f, x, y, c) {
  const bps = s.bitsAllocated / 8;
  const plane = s.rows * s.cols;
  const index = s.planar ? c * plane + y * s.cols + x : (y * s.cols + x) * s.samples + c;
  return s.pixels.offset + f * plane * s.samples * bps + index * bps;
}

/** Copies the region samples between the file and the record's data: every frame, every region,
 *  rows top to bottom, pixels left to right, samples in order, little endian. */
function moveSamples(s, file, regions, data, toRecord) {
  const bps = s.bitsAllocated / 8;
  let d = 0;
  for (let f = 0; f < s.frames; f++) {
    for (const g of regions) {
      for (let y = g.y; y < g.y + g.h; y++) {
        for (let x = g.x; x < g.x + g.w; x++) {
          for (let c = 0; c < s.samples; c++, d += bps) {
            const at = sampleAt(s, f, x, y, c);
            if (toRecord) data.set(file.subarray(at, at + bps), d);
            else file.set(data.subarray(d, d + bps), at);
          }
        }
      }
    }
  }
}

export function readSample(s, file, p) {
  let v = s.bitsAllocated === 16 ? file[p] | (file[p + 1] << 8) : file[p];
  v &= 2 ** s.bitsStored - 1;
  if (s.pixrep && (v >>> (s.bitsStored - 1)) & 1) return v - 2 ** s.bitsStored;
  return v;
}

function writeSample(s, file, p, v) {
  const u = v < 0 ? v + 0x10000 : v; // two's complement, sign-extended into the allocated bits
  file[p] = u & 0xff;
  if (s.bitsAllocated === 16) file[p + 1] = (u >>> 8) & 0xff;
}

/** [MC-RGN-8] for DICOM (dcm_fill): black is the darkest stored value for the photometric interpretation. */
function fillRegion(s, file, g, fill) {
  const lo = s.pixrep ? -(2 ** (s.bitsStored - 1)) : 0;
  const hi = s.pixrep ? 2 ** (s.bitsStored - 1) - 1 : 2 ** s.bitsStored - 1;
  let black = s.photometric === 'MONOCHROME1' ? hi : lo;
  if (s.samples === 3 || s.photometric === 'PALETTE COLOR') black = 0;
  const rnd = new Uint32Array(1);
  for (let f = 0; f < s.frames; f++) {
    if (fill === Fill.pixelate) {
      for (let cy = g.y; cy < g.y + g.h; cy += PIXELATE_CELL) {
        for (let cx = g.x; cx < g.x + g.w; cx += PIXELATE_CELL) {
          const ch = Math.min(PIXELATE_CELL, g.y + g.h - cy);
          const cw = Math.min(PIXELATE_CELL, g.x + g.w - cx);
          for (let c = 0; c < s.samples; c++) {
            let sum = 0;
            for (let y = cy; y < cy + ch; y++) for (let x = cx; x < cx + cw; x++) sum += readSample(s, file, sampleAt(s, f, x, y, c));
            const n = cw * ch;
            const half = Math.floor(n / 2);
            const mean = sum >= 0 ? Math.floor((sum + half) / n) : -Math.floor((-sum + half) / n);
            for (let y = cy; y < cy + ch; y++) for (let x = cx; x < cx + cw; x++) writeSample(s, file, sampleAt(s, f, x, y, c), mean);
          }
        }
      }
      continue;
    }
    for (let y = g.y; y < g.y + g.h; y++) {
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let c = 0; c < s.samples; c++) {
          let v = black;
          if (fill === Fill.noise) {
            crypto.getRandomValues(rnd);
            v = lo + (rnd[0] % (hi - lo + 1));
          }
          writeSample(s, file, sampleAt(s, f, x, y, c), v);
        }
      }
    }
  }
}

const le16Bytes = (v) => new Uint8Array([v & 0xff, (v >>> 8) & 0xff]);
const le32Bytes = (v) => new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]);

/** [MC-RGN-13] The two private elements in the file's VR encoding; the (7FD1,1001) value is
 *  length(u32, big-endian) side_data [00 to make it even]. */
function privateBlock(explicitVr, side) {
  const value = concat(u32(side.length), side, new Uint8Array((4 + side.length) & 1));
  const creator = new TextEncoder().encode(CREATOR);
  const tag = (element) => concat(le16Bytes(PRIVATE_GROUP), le16Bytes(element));
  const ascii = (t) => new TextEncoder().encode(t);
  if (explicitVr) {
    return concat(tag(0x0010), ascii('LO'), le16Bytes(creator.length), creator, tag(SIDE_ELEMENT), ascii('OB'), new Uint8Array(2), le32Bytes(value.length), value);
  }
  return concat(tag(0x0010), le32Bytes(creator.length), creator, tag(SIDE_ELEMENT), le32Bytes(value.length), value);
}

/**
 * Redacts a DICOM file with native pixel data (rd_dicom_redact): the regions hidden in every
 * frame. Options as redactPng. Resolves to {image, info: {kind: 'dicom', width, height, frames,
 * regions, sealedLength, metadataKept: true}}. McError misuse (a region outside), header,
 * unsupported (compressed pixel data, other depths, a file already redacted or using group 7FD1).
 */
export async function redactDicom(file, { regions, fill, recipients, signer = null, cipher = 'chacha20' }) {
  const fillN = fillNumber(fill);
  const s = loadDicom(file);
  if (s.creator?.ours) fail(Kind.UNSUPPORTED, 'the DICOM file already carries sealed regions: restore it first');
  if (s.creator || s.side || s.otherPrivate) fail(Kind.UNSUPPORTED, 'the DICOM file already uses private group 7FD1');
  checkRegions(regions, s.cols, s.rows);
  const r = {
    kind: RedactKind.DICOM, fill: fillN, width: s.cols, height: s.rows, bitsAllocated: s.bitsAllocated, samples: s.samples,
    planar: s.planar, frames: s.frames, regions: regions.map(({ x, y, w, h }) => ({ x, y, w, h })),
  };
  let dataLength;
  try {
    dataLength = recordDataLength(r);
  } catch {
    fail(Kind.MISUSE, `the regions of all frames hold more than ${MAX_SEALED} bytes: give smaller ones`);
  }
  const work = file.slice();
  const data = new Uint8Array(dataLength);
  let record = null;
  try {
    // [MC-RGN-5] DICOM: the whole original file; the redacted file without the private block
    r.originalDigest = await sha256(file);
    moveSamples(s, work, r.regions, data, true);
    for (const g of r.regions) fillRegion(s, work, g, fillN);
    r.redactedDigest = await sha256(work);
    record = encodeRecord(r, data);
    const side = await sealSide(RedactKind.DICOM, record, { recipients, signer, cipher });
    const at = s.insertAt ?? work.length;
    const image = concat(work.subarray(0, at), privateBlock(s.explicitVr, side), work.subarray(at));
    await checkRestores(restoreWith, image, side, record);
    return {
      image,
      info: { kind: 'dicom', width: s.cols, height: s.rows, frames: s.frames, regions: r.regions, sealedLength: side.length, metadataKept: true },
    };
  } finally {
    wipe(work);
    wipe(data);
    if (record) wipe(record);
  }
}

/** rd_dicom_restore with an opener (record.js). */
async function restoreWith(file, opener) {
  const s = loadDicom(file);
  // [MC-RGN-13] our creator, then our data element right after it, nothing else in 7FD1
  if (!s.creator?.ours || !s.side) fail(Kind.HEADER, `the DICOM file carries no sealed regions (no (7FD1,1001) of ${CREATOR})`);
  if (s.otherPrivate || s.side.offset !== s.creator.end || s.side.length < 4 || s.side.valueOffset + s.side.length > file.length) {
    fail(Kind.HEADER, 'the DICOM file\'s sealed-region elements are malformed');
  }
  const value = file.subarray(s.side.valueOffset, s.side.valueOffset + s.side.length);
  const sideLength = ld32(value, 0);
  if (sideLength + 4 > s.side.length || s.side.length - 4 - sideLength > 1) fail(Kind.HEADER, 'the DICOM file\'s sealed-region element has a bad length');
  const opened = await opener(value.subarray(4, 4 + sideLength), RedactKind.DICOM);
  const { r } = opened;
  // The file without the private block; its pixel data moves back by the block's size.
  const cut = s.creator.offset;
  const cutEnd = s.side.valueOffset + s.side.length;
  const work = concat(file.subarray(0, cut), file.subarray(cutEnd));
  try {
    if (s.pixels.offset >= cutEnd) s.pixels.offset -= cutEnd - cut;
    // [MC-RGN-9]
    if (r.width !== s.cols || r.height !== s.rows || r.bitsAllocated !== s.bitsAllocated || r.samples !== s.samples || r.planar !== s.planar ||
      r.frames !== s.frames || !equal(await sha256(work), r.redactedDigest)) {
      fail(Kind.PAYLOAD, 'the DICOM file was altered after it was redacted (it is not the file the sealed regions were made for): not restored');
    }
    moveSamples(s, work, r.regions, r.data, false);
    if (!equal(await sha256(work), r.originalDigest)) fail(Kind.PAYLOAD, 'the restored file does not match the digest of the original: not restored');
    return {
      image: work,
      info: { kind: 'dicom', width: r.width, height: r.height, frames: r.frames, regions: r.regions, fill: r.fill, sealedLength: sideLength, signer: opened.signer },
    };
  } catch (e) {
    wipe(work);
    throw e;
  } finally {
    wipe(opened.record);
  }
}

/**
 * Restores a redacted DICOM file for a recipient (rd_dicom_restore): the original byte for byte.
 * Options and result as restorePng. McError header (no or malformed private block), no match,
 * mac, payload (any change of the file after redaction, an attribute included), signature.
 */
export function restoreDicom(file, { identity, trustedSigners = [] }) {
  return restoreWith(file, keyOpener({ identity, trustedSigners }));
}
