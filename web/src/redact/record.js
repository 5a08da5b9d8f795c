/**
 * record.js: the format-independent half of region encryption (docs/FORMAT.md §13), the
 * JavaScript twin of lib/redact.c: the limits (§13.1), the region record sealed inside the image
 * (§13.4), the side-data envelope "MCRG" around its container, and sealing and opening that
 * container with src/container (seal, openBytes). png.js and dicom.js use it; nothing here knows
 * an image format.
 *
 * Ownership: every function returns new arrays; a record holds original pixels, so its callers
 * wipe it (wipe() of container/bytes.js) once it is sealed or put back.
 */
import { Kind, McError, fail } from '../container/errors.js';
import { concat, equal, ld32, readAll, u32, wipe } from '../container/bytes.js';
import { CHUNK_PT, TAG_LEN } from '../container/format.js';
import { readHeader } from '../container/header.js';
import { openBytes } from '../container/open.js';
import { seal } from '../container/seal.js';

/** Image kinds of the envelope and the record ([MC-RGN-1]). */
export const RedactKind = Object.freeze({ PNG: 1, JPEG: 2, DICOM: 3 });
/** Fills (§13.4 byte 6, [MC-RGN-8]). */
export const Fill = Object.freeze({ black: 1, noise: 2, pixelate: 3 });
export const FILL_NAMES = Object.freeze({ 1: 'black', 2: 'noise', 3: 'pixelate' });

export const MAX_REGIONS = 64;
export const MAX_DIM = 16384;
export const MAX_PIXELS = 2 ** 28;
export const MAX_SEALED = 1024 * 1024 * 1024; // MC_REDACT_MAX_SEALED: the record's data
export const MAX_INPUT = 1024 * 1024 * 1024; // MC_REDACT_MAX_INPUT: the image file
const MAX_CONTAINER = MAX_SEALED + 64 * 1024 * 1024; // record + wraps, tags, signature
const VERSION = 1;
const ENVELOPE_LEN = 8;
export const PIXELATE_CELL = 16;
const ENC = new TextEncoder();
const ENVELOPE_MAGIC = ENC.encode('MCRG');
const RECORD_MAGIC = ENC.encode('MCRD');

/** Why a redaction could not be undone by its own restore (rd_check_restores's words). */
export const NOT_RESTORABLE = 'the redacted image would not restore';

/** §13.1: MC_ERR_HEADER for a size of 0 or over the limits. */
export function checkDims(width, height) {
  if (width === 0 || height === 0) fail(Kind.HEADER, `the image has no pixels (${width}x${height})`);
  if (width > MAX_DIM || height > MAX_DIM || width * height > MAX_PIXELS) {
    fail(Kind.HEADER, `the image is ${width}x${height}: over the limit of ${MAX_DIM} pixels a side and ${MAX_PIXELS} pixels in all`);
  }
}

/**
 * The caller's regions against a width x height image (rd_regions_check): each {x, y, w, h} of
 * non-negative integers, non-empty and inside. McError misuse naming the region's number.
 */
export function checkRegions(regions, width, height) {
  if (!Array.isArray(regions) || regions.length === 0) fail(Kind.MISUSE, 'give at least one region');
  if (regions.length > MAX_REGIONS) fail(Kind.MISUSE, `at most ${MAX_REGIONS} regions`);
  regions.forEach((g, i) => {
    const ok = ['x', 'y', 'w', 'h'].every((k) => Number.isInteger(g?.[k]) && g[k] >= 0 && g[k] <= 0xffffffff);
    const text = ok ? `${g.x},${g.y},${g.w},${g.h}` : JSON.stringify(g);
    if (!ok) fail(Kind.MISUSE, `region ${i + 1} (${text}) is not four non-negative integers x, y, w, h`);
    if (g.w === 0 || g.h === 0) fail(Kind.MISUSE, `region ${i + 1} (${text}) is empty`);
    if (g.x + g.w > width || g.y + g.h > height) fail(Kind.MISUSE, `region ${i + 1} (${text}) is not inside the ${width}x${height} image`);
  });
}

/** Bytes per PNG pixel; 0 for an unsupported colour type or depth (rd_png_bpp). */
export function pngBpp(colorType, bitDepth) {
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType];
  if (!channels) return 0;
  if (bitDepth === 8 || (bitDepth === 16 && colorType !== 3)) return (channels * bitDepth) / 8;
  return 0;
}

/** The length of the data the record's header implies (rd_record_data_len); misuse/header past 1 GiB. */
export function recordDataLength(r) {
  let n = 0;
  if (r.kind === RedactKind.PNG) {
    const bpp = pngBpp(r.colorType, r.bitDepth);
    for (const g of r.regions) n += g.w * g.h * bpp;
  } else if (r.kind === RedactKind.DICOM) {
    let frame = 0;
    for (const g of r.regions) frame += g.w * g.h * r.samples * (r.bitsAllocated / 8);
    n = frame * r.frames; // a double: exact far beyond the 1 GiB limit
  } else {
    fail(Kind.UNSUPPORTED, 'JPEG region records are read by the command-line tool (medcrypt restore)');
  }
  if (n > MAX_SEALED) fail(Kind.HEADER, `the regions hold ${n} bytes, over the limit of ${MAX_SEALED}`);
  return n;
}

/** The length of the record's header, everything before the data. */
export function recordHeaderLength(r) {
  return 20 + (r.kind === RedactKind.DICOM ? 4 : 0) + 16 * r.regions.length + 64;
}

/**
 * A record (§13.4): `{kind, fill, width, height, colorType, bitDepth (PNG) | bitsAllocated,
 * samples, planar, frames (DICOM), regions, originalDigest, redactedDigest}` and its data, as
 * one new array (the data copied in at the end).
 */
export function encodeRecord(r, data) {
  const header = new Uint8Array(recordHeaderLength(r));
  header.set(RECORD_MAGIC, 0);
  header[4] = VERSION;
  header[5] = r.kind;
  header[6] = r.fill;
  header[7] = r.regions.length;
  header.set(u32(r.width), 8);
  header.set(u32(r.height), 12);
  let p = 16;
  if (r.kind === RedactKind.PNG) {
    header[16] = r.colorType;
    header[17] = r.bitDepth;
    p = 20;
  } else {
    header[16] = r.bitsAllocated;
    header[17] = r.samples;
    header[18] = r.planar;
    header.set(u32(r.frames), 20);
    p = 24;
  }
  for (const g of r.regions) {
    header.set(u32(g.x), p);
    header.set(u32(g.y), p + 4);
    header.set(u32(g.w), p + 8);
    header.set(u32(g.h), p + 12);
    p += 16;
  }
  header.set(r.originalDigest, p);
  header.set(r.redactedDigest, p + 32);
  return concat(header, data);
}

/**
 * Parses and validates a record, [MC-RGN-6] (rd_record_parse): every field, the regions and the
 * exact data length. Returns the fields of encodeRecord plus `data` (a view into buf). McError
 * header, or unsupported for another version (and for a JPEG record, which the browser does not
 * restore).
 */
export function parseRecord(buf) {
  if (buf.length < 20 || !equal(buf.subarray(0, 4), RECORD_MAGIC)) fail(Kind.HEADER, 'the sealed region record does not start with MCRD');
  if (buf[4] !== VERSION) fail(Kind.UNSUPPORTED, `region record version ${buf[4]} is not supported`);
  const r = { kind: buf[5], fill: buf[6], width: ld32(buf, 8), height: ld32(buf, 12), regions: [] };
  const n = buf[7];
  if (![RedactKind.PNG, RedactKind.JPEG, RedactKind.DICOM].includes(r.kind)) fail(Kind.HEADER, `the region record has an unknown kind ${buf[5]}`);
  if (!FILL_NAMES[r.fill]) fail(Kind.HEADER, `the region record has an unknown fill ${buf[6]}`);
  if (n === 0 || n > MAX_REGIONS) fail(Kind.HEADER, `the region record has ${n} regions`);
  checkDims(r.width, r.height);
  if ((r.kind !== RedactKind.DICOM && buf[18] !== 0) || buf[19] !== 0) fail(Kind.HEADER, 'the region record\'s reserved bytes are not zero');
  if (r.kind === RedactKind.DICOM) {
    Object.assign(r, { bitsAllocated: buf[16], samples: buf[17], planar: buf[18] });
    if ((r.bitsAllocated !== 8 && r.bitsAllocated !== 16) || (r.samples !== 1 && r.samples !== 3) || r.planar > 1 || (r.planar && r.samples === 1)) {
      fail(Kind.HEADER, `the region record names ${r.bitsAllocated}-bit DICOM pixels of ${r.samples} samples, planar ${r.planar}`);
    }
  } else if (r.kind === RedactKind.PNG) {
    Object.assign(r, { colorType: buf[16], bitDepth: buf[17] });
    if (!pngBpp(r.colorType, r.bitDepth)) fail(Kind.HEADER, `the region record names PNG colour type ${r.colorType}, depth ${r.bitDepth}`);
  } else {
    fail(Kind.UNSUPPORTED, 'JPEG region records are read by the command-line tool (medcrypt restore)');
  }
  r.regions.length = n; // for recordHeaderLength
  const header = recordHeaderLength(r);
  if (buf.length < header) fail(Kind.HEADER, `the region record is truncated (${buf.length} bytes)`);
  let p = 20;
  if (r.kind === RedactKind.DICOM) {
    r.frames = ld32(buf, 20);
    p = 24;
    if (r.frames === 0) fail(Kind.HEADER, 'the region record has no frames');
  }
  for (let i = 0; i < n; i++, p += 16) r.regions[i] = { x: ld32(buf, p), y: ld32(buf, p + 4), w: ld32(buf, p + 8), h: ld32(buf, p + 12) };
  try {
    checkRegions(r.regions, r.width, r.height);
  } catch (e) {
    fail(Kind.HEADER, `in the sealed region record: ${e.message}`);
  }
  r.originalDigest = buf.slice(p, p + 32);
  r.redactedDigest = buf.slice(p + 32, p + 64);
  const want = recordDataLength(r);
  if (buf.length - header !== want) fail(Kind.HEADER, `the region record holds ${buf.length - header} bytes of data where its header implies ${want}`);
  r.data = buf.subarray(header);
  return r;
}

/**
 * Seals a record for the recipients and wraps it in the envelope of this kind, [MC-RGN-1]: a
 * fresh file key, signed when `signer` is given, no metadata, no preview. Returns the side data.
 */
export async function sealSide(kind, record, { recipients, signer = null, cipher = 'chacha20' }) {
  const stream = await seal(record, { recipients, signer, cipher });
  const container = await readAll(stream);
  return concat(new Uint8Array([...ENVELOPE_MAGIC, VERSION, kind, 0, 0]), container);
}

/** Parses an envelope, [MC-RGN-2]: the container inside it (a view into side). */
export function parseEnvelope(side, kind) {
  if (side.length < ENVELOPE_LEN || !equal(side.subarray(0, 4), ENVELOPE_MAGIC)) fail(Kind.HEADER, 'the sealed regions do not start with MCRG');
  if (side[4] !== VERSION) fail(Kind.UNSUPPORTED, `sealed-region version ${side[4]} is not supported`);
  if (side[5] !== kind) fail(Kind.HEADER, `the sealed regions were made for another image type (${side[5]})`);
  if (side[6] !== 0 || side[7] !== 0) fail(Kind.HEADER, 'the sealed regions\' reserved bytes are not zero');
  if (side.length - ENVELOPE_LEN > MAX_CONTAINER) fail(Kind.HEADER, 'the sealed regions are larger than the limit');
  return side.subarray(ENVELOPE_LEN);
}

/** The plaintext length of a whole container in memory, from its header and length alone. */
async function plaintextLength(container) {
  const header = await readHeader(container);
  const payload = container.length - header.length - header.signatureLength;
  if (payload < TAG_LEN) fail(Kind.PAYLOAD, 'the sealed regions\' payload is missing or truncated');
  const wire = CHUNK_PT + TAG_LEN;
  const chunks = Math.max(1, Math.ceil(payload / wire));
  return payload - chunks * TAG_LEN;
}

/**
 * An opener gets the record of some side data: `await opener(side, kind)` resolves to
 * `{record (bytes, the caller wipes), r (parseRecord's), signer (fingerprint bytes | null)}`.
 *
 * keyOpener({identity, trustedSigners}): opens the container with the reader's key (rd_open):
 * the envelope, then §4–8 with their failure classes, a payload over 1 GiB refused before it is
 * decrypted, then the record, whose kind must be the envelope's.
 */
export function keyOpener({ identity, trustedSigners = [] }) {
  return async (side, kind) => {
    const container = parseEnvelope(side, kind);
    if ((await plaintextLength(container)) > MAX_SEALED) fail(Kind.HEADER, 'the sealed regions are larger than the limit');
    const opened = await openBytes(container, { identity, trustedSigners });
    const record = opened.plaintext;
    try {
      const r = parseRecord(record);
      if (r.kind !== kind) fail(Kind.HEADER, 'the sealed record was made for another image type');
      return { record, r, signer: opened.signer };
    } catch (e) {
      wipe(record);
      throw e;
    }
  };
}

/**
 * The redactor's own check (rd_unseal without a key): the side data read back from its output
 * must be the bytes it sealed, carry a container whose payload is the record's length, and the
 * record it holds in clear must parse.
 */
export function selfOpener(sealedSide, record) {
  return async (side, kind) => {
    if (!equal(side, sealedSide)) fail(Kind.HEADER, 'the sealed regions read back differ from those written');
    const container = parseEnvelope(side, kind);
    const n = await plaintextLength(container);
    if (n !== record.length) fail(Kind.HEADER, `the sealed container holds ${n} bytes where the record has ${record.length}`);
    const copy = record.slice();
    const r = parseRecord(copy);
    if (r.kind !== kind) fail(Kind.HEADER, 'the sealed record was made for another image type');
    return { record: copy, r, signer: null };
  };
}

/**
 * rd_check_restores: a redaction's last step. `restore()` runs on the output with selfOpener;
 * any failure becomes McError unsupported ("would not restore"), so an image whose regions could
 * not come back is never returned. The restored copy is wiped.
 */
export async function checkRestores(restore, out, side, record) {
  try {
    const back = await restore(out, selfOpener(side, record));
    wipe(back.image);
  } catch (e) {
    throw new McError(Kind.UNSUPPORTED, `${NOT_RESTORABLE} (${e?.message ?? e}): refused, its hidden regions would be lost`, { cause: e });
  }
}

/** SHA-256 of bytes (WebCrypto). */
export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

/** Fills buf with CSPRNG bytes (getRandomValues takes at most 64 KiB a call). */
export function randomFill(buf) {
  for (let off = 0; off < buf.length; off += 65536) crypto.getRandomValues(buf.subarray(off, Math.min(buf.length, off + 65536)));
  return buf;
}

/** The fill number of a name or number; black when absent (mc_redact's default). */
export function fillNumber(fill) {
  if (fill === undefined || fill === null) return Fill.black;
  const n = typeof fill === 'string' ? Fill[fill] : fill;
  if (!FILL_NAMES[n]) fail(Kind.MISUSE, `unknown fill ${fill}: black, noise or pixelate`);
  return n;
}
