/**
 * png.js: region encryption for PNG (docs/FORMAT.md §13.2), the JavaScript twin of
 * lib/redact_png.c. The chunk sequence is walked here, by hand, because the format's rules are
 * about chunks no decoder exposes ([MC-RGN-10]: every CRC checked, IDATs consecutive, one PLTE,
 * IEND last, mcRG refused or required; [MC-RGN-11]: which ancillary chunks are copied byte for
 * byte). The pixels go through the npm package fast-png, which only ever sees a copy made of
 * IHDR, PLTE and the IDATs: it decodes them (filters, Adam7) to the PNG's own sample format and
 * encodes the changed samples again (no filter, zlib). The re-encoded IDATs are not the CLI's
 * bytes (libspng chooses other filters); §13 defines the samples and the chunk sequence, and both
 * tools restore each other's images to the same samples.
 */
import { decode as decodePngData, encode as encodePngData } from 'fast-png';
import { Kind, fail } from '../container/errors.js';
import { concat, equal, ld32, u32, wipe } from '../container/bytes.js';
import {
  Fill, MAX_SEALED, PIXELATE_CELL, RedactKind, checkDims, checkRegions, checkRestores, encodeRecord, fillNumber, keyOpener,
  pngBpp, randomFill, recordDataLength, sealSide, sha256,
} from './record.js';

const SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const MAX_CHUNKS = 1_000_000;
const latin1 = new TextDecoder('latin1');

/** Whether bytes start with the PNG signature. */
export function isPng(bytes) {
  return bytes.length >= 8 && equal(bytes.subarray(0, 8), SIGNATURE);
}

const CRC_TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 of ISO 3309, as PNG uses it, over the chunk type and data. */
function crc32(bytes, crc = 0) {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * The chunks of a PNG, [MC-RGN-10] (png_next): each `{type, start, end, data}` (start at its
 * length field, end past its CRC), up to and with IEND; bytes after IEND are ignored. McError
 * header for a truncated file, a malformed type, a length past the end, a failed CRC, too many
 * chunks or a first chunk that is not a 13-byte IHDR.
 */
export function pngChunks(png) {
  const chunks = [];
  let pos = 8;
  for (;;) {
    if (png.length - pos < 12) fail(Kind.HEADER, `the PNG is truncated at byte ${pos} (no IEND)`);
    const len = ld32(png, pos);
    const typeBytes = png.subarray(pos + 4, pos + 8);
    if (!typeBytes.every((b) => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a))) fail(Kind.HEADER, `the PNG has a malformed chunk type at byte ${pos}`);
    const type = latin1.decode(typeBytes);
    if (len > 0x7fffffff || len > png.length - pos - 12) fail(Kind.HEADER, `the PNG's ${type} chunk at byte ${pos} runs past the end of the file`);
    if (crc32(png.subarray(pos + 4, pos + 8 + len)) !== ld32(png, pos + 8 + len)) {
      fail(Kind.HEADER, `the PNG's ${type} chunk at byte ${pos} fails its CRC: the file is damaged or was altered`);
    }
    if (chunks.length + 1 > MAX_CHUNKS) fail(Kind.HEADER, `the PNG has more than ${MAX_CHUNKS} chunks`);
    if (chunks.length === 0 && (type !== 'IHDR' || len !== 13)) fail(Kind.HEADER, 'the PNG does not start with an IHDR chunk');
    chunks.push({ type, start: pos, end: pos + 12 + len, data: png.subarray(pos + 8, pos + 8 + len) });
    pos += 12 + len;
    if (type === 'IEND') return chunks;
  }
}

/** A chunk's bytes: length, type, data, CRC. */
function chunk(type, data) {
  const typeBytes = new TextEncoder().encode(type);
  return concat(u32(data.length), typeBytes, data, u32(crc32(data, crc32(typeBytes))));
}

const raw = (png, c) => png.subarray(c.start, c.end);

/* [MC-RGN-11] Ancillary chunks whose meaning does not depend on the pixel values. */
const KEEP = new Set(['cHRM', 'gAMA', 'iCCP', 'sBIT', 'sRGB', 'cICP', 'mDCv', 'cLLi', 'bKGD', 'tRNS', 'pHYs', 'sPLT', 'oFFs', 'pCAL', 'sCAL', 'sTER']);
const KEEP_METADATA = new Set(['tEXt', 'zTXt', 'iTXt', 'eXIf', 'tIME']);

/** Whether an ancillary chunk is copied; notes in `state.metadata` when it carries metadata. */
function keepAncillary(type, state) {
  if (KEEP.has(type)) return true;
  if (KEEP_METADATA.has(type)) {
    state.metadata = true;
    return true;
  }
  if (type === 'hIST') return false;
  if (type.charCodeAt(3) >= 0x61) { // safe-to-copy bit set (fourth letter lowercase)
    state.metadata = true;
    return true;
  }
  return false;
}

const isCritical = (type) => type.charCodeAt(0) < 0x61;

/**
 * Walks the file, checks IHDR against the limits and decodes the samples (png_load). wantSide:
 * the mcRG chunk must be there (restore) or must not (redact). Returns {width, height, bitDepth,
 * colorType, bpp, palette (PLTE data | null), chunks, side (mcRG data | null), pixels}.
 */
export async function loadPng(png, wantSide) {
  const chunks = pngChunks(png);
  const ihdr = chunks[0].data;
  const im = {
    width: ld32(ihdr, 0), height: ld32(ihdr, 4), bitDepth: ihdr[8], colorType: ihdr[9], palette: null, plte: null, side: null, chunks,
  };
  checkDims(im.width, im.height);
  im.bpp = pngBpp(im.colorType, im.bitDepth);
  if (!im.bpp) {
    fail(Kind.UNSUPPORTED, `PNG colour type ${im.colorType} with bit depth ${im.bitDepth} is not supported: only 8- and 16-bit images (8-bit for palettes)`);
  }
  let seenIdat = false;
  let idatEnded = false;
  const idats = [];
  for (const c of chunks.slice(1)) {
    if (c.type === 'IDAT') {
      if (idatEnded) fail(Kind.HEADER, 'the PNG\'s IDAT chunks are not consecutive');
      seenIdat = true;
      idats.push(c);
    } else if (seenIdat) {
      idatEnded = true;
    }
    if (c.type === 'PLTE') {
      if (im.plte || seenIdat) fail(Kind.HEADER, 'the PNG has a misplaced or second PLTE chunk');
      if (c.data.length === 0 || c.data.length % 3 || c.data.length > 768) fail(Kind.HEADER, 'the PNG\'s PLTE chunk has a bad length');
      im.plte = c;
      im.palette = c.data;
    } else if (c.type === 'mcRG') {
      if (!wantSide) fail(Kind.UNSUPPORTED, 'the PNG already carries sealed regions (an mcRG chunk): restore it first');
      if (im.side) fail(Kind.HEADER, 'the PNG has more than one mcRG chunk');
      im.side = c.data;
    } else if (c.type === 'IHDR' || (isCritical(c.type) && c.type !== 'IDAT' && c.type !== 'IEND')) {
      fail(Kind.UNSUPPORTED, `the PNG has a ${c.type} chunk that cannot be handled`);
    }
  }
  if (!seenIdat) fail(Kind.HEADER, 'the PNG has no IDAT chunk');
  if (im.colorType === 3 && !im.plte) fail(Kind.HEADER, 'the palette PNG has no PLTE chunk');
  if (wantSide && !im.side) fail(Kind.HEADER, 'the PNG carries no sealed regions (no mcRG chunk)');

  // The copy the decoder reads: signature, IHDR, PLTE, IDATs, IEND.
  const copy = concat(SIGNATURE, raw(png, chunks[0]), im.plte ? raw(png, im.plte) : new Uint8Array(0), ...idats.map((c) => raw(png, c)), chunk('IEND', new Uint8Array(0)));
  let decoded;
  try {
    decoded = decodePngData(copy);
  } catch (e) {
    fail(Kind.HEADER, `the PNG's image data does not decode: ${e?.message ?? e}`);
  }
  const want = im.width * im.height * im.bpp;
  im.pixels = new Uint8Array(want);
  const d = decoded.data;
  if (im.bitDepth === 16) {
    if (d.length * 2 !== want) fail(Kind.HEADER, 'the PNG\'s image data does not decode: the samples do not fill the image');
    for (let i = 0; i < d.length; i++) {
      im.pixels[2 * i] = d[i] >>> 8;
      im.pixels[2 * i + 1] = d[i] & 0xff;
    }
  } else {
    if (d.length !== want) fail(Kind.HEADER, 'the PNG\'s image data does not decode: the samples do not fill the image');
    im.pixels.set(d);
  }
  wipe(d);
  return im;
}

/**
 * The output (png_write): the input's chunks in order with a new IHDR (interlace 0) and new
 * IDATs, PLTE as it was, the kept ancillary chunks, and `side` (if any) as mcRG before IEND.
 * Returns {image, metadata}.
 */
function writePng(png, im, side) {
  const channels = im.bpp / (im.bitDepth / 8);
  let data = im.pixels;
  if (im.bitDepth === 16) {
    data = new Uint16Array(im.pixels.length / 2);
    for (let i = 0; i < data.length; i++) data[i] = (im.pixels[2 * i] << 8) | im.pixels[2 * i + 1];
  }
  // A palette image's indices are encoded as 8-bit grey: the IDAT bytes are the same (one byte a
  // pixel, the same filters), and IHDR and PLTE are written here, not by the encoder.
  let encoded;
  try {
    encoded = encodePngData({ width: im.width, height: im.height, data, depth: im.bitDepth, channels });
  } finally {
    if (data !== im.pixels) data.fill(0);
  }
  const idats = pngChunks(encoded).filter((c) => c.type === 'IDAT').map((c) => raw(encoded, c));
  const ihdr = concat(u32(im.width), u32(im.height), new Uint8Array([im.bitDepth, im.colorType, 0, 0, 0]));
  const parts = [SIGNATURE, chunk('IHDR', ihdr)];
  const state = { metadata: false };
  let idatDone = false;
  for (const c of im.chunks.slice(1)) {
    if (c.type === 'IHDR' || c.type === 'mcRG') continue;
    if (c.type === 'PLTE') {
      parts.push(raw(png, c));
    } else if (c.type === 'IDAT') {
      if (!idatDone) parts.push(...idats);
      idatDone = true;
    } else if (c.type === 'IEND') {
      if (side) parts.push(chunk('mcRG', side));
      parts.push(chunk('IEND', new Uint8Array(0)));
    } else if (keepAncillary(c.type, state)) {
      parts.push(raw(png, c));
    }
  }
  const image = concat(...parts);
  encoded.fill(0);
  return { image, metadata: state.metadata };
}

function darkestIndex(palette) {
  let best = 0;
  let bestSum = 1000;
  for (let i = 0; i < palette.length / 3; i++) {
    const s = palette[3 * i] + palette[3 * i + 1] + palette[3 * i + 2];
    if (s < bestSum) {
      bestSum = s;
      best = i;
    }
  }
  return best;
}

/** Makes every pixel of g opaque (the last channel of grey+alpha and RGBA). */
function setOpaque(im, g) {
  if (im.colorType !== 4 && im.colorType !== 6) return;
  const sb = im.bitDepth / 8;
  for (let y = g.y; y < g.y + g.h; y++) {
    const row = (y * im.width + g.x) * im.bpp;
    for (let x = 0; x < g.w; x++) im.pixels.fill(0xff, row + x * im.bpp + im.bpp - sb, row + (x + 1) * im.bpp);
  }
}

/** [MC-RGN-8] for PNG (png_fill). */
function fillRegion(im, g, fill) {
  const rowBytes = g.w * im.bpp;
  if (fill === Fill.black) {
    const idx = im.colorType === 3 ? darkestIndex(im.palette) : 0;
    for (let y = g.y; y < g.y + g.h; y++) {
      const at = (y * im.width + g.x) * im.bpp;
      im.pixels.fill(idx, at, at + rowBytes);
    }
    setOpaque(im, g);
    return;
  }
  if (fill === Fill.noise) {
    const n = im.colorType === 3 ? im.palette.length / 3 : 0;
    for (let y = g.y; y < g.y + g.h; y++) {
      const row = im.pixels.subarray((y * im.width + g.x) * im.bpp, (y * im.width + g.x) * im.bpp + rowBytes);
      randomFill(row);
      if (n) for (let i = 0; i < row.length; i++) row[i] %= n;
    }
    setOpaque(im, g);
    return;
  }
  // Pixelate: each 16x16 cell (clipped to the region) takes the mean of every sample, rounded
  // half up; a palette image takes the cell's first index.
  const sb = im.bitDepth / 8;
  const ns = im.bpp / sb;
  const value = new Uint8Array(im.bpp);
  for (let cy = g.y; cy < g.y + g.h; cy += PIXELATE_CELL) {
    const ch = Math.min(PIXELATE_CELL, g.y + g.h - cy);
    for (let cx = g.x; cx < g.x + g.w; cx += PIXELATE_CELL) {
      const cw = Math.min(PIXELATE_CELL, g.x + g.w - cx);
      const first = (cy * im.width + cx) * im.bpp;
      if (im.colorType === 3) {
        value[0] = im.pixels[first];
      } else {
        for (let s = 0; s < ns; s++) {
          let sum = 0;
          for (let y = cy; y < cy + ch; y++) {
            for (let x = cx; x < cx + cw; x++) {
              const p = (y * im.width + x) * im.bpp + s * sb;
              sum += sb === 2 ? (im.pixels[p] << 8) | im.pixels[p + 1] : im.pixels[p];
            }
          }
          const n = cw * ch;
          const mean = Math.floor((sum + Math.floor(n / 2)) / n);
          if (sb === 2) {
            value[2 * s] = mean >>> 8;
            value[2 * s + 1] = mean & 0xff;
          } else {
            value[s] = mean;
          }
        }
      }
      for (let y = cy; y < cy + ch; y++) for (let x = cx; x < cx + cw; x++) im.pixels.set(value, (y * im.width + x) * im.bpp);
    }
  }
}

/** Copies every region's rows between the samples and the record's data, in record order. */
function moveRegions(im, regions, data, toRecord) {
  let d = 0;
  for (const g of regions) {
    const n = g.w * im.bpp;
    for (let y = g.y; y < g.y + g.h; y++, d += n) {
      const at = (y * im.width + g.x) * im.bpp;
      if (toRecord) data.set(im.pixels.subarray(at, at + n), d);
      else im.pixels.set(data.subarray(d, d + n), at);
    }
  }
}

/**
 * Redacts a PNG (rd_png_redact). options: {regions: [{x, y, w, h}], fill ('black' | 'noise' |
 * 'pixelate', default black), recipients (SPKI DER or importRecipient results), signer
 * (importIdentity result | null), cipher}. Resolves to {image (the redacted PNG), info: {kind:
 * 'png', width, height, regions, sealedLength, metadataKept}}. McError misuse (a region the
 * image cannot hold), header, unsupported.
 */
export async function redactPng(png, { regions, fill, recipients, signer = null, cipher = 'chacha20' }) {
  const fillN = fillNumber(fill);
  const im = await loadPng(png, false);
  let record = null;
  try {
    checkRegions(regions, im.width, im.height);
    const r = {
      kind: RedactKind.PNG, fill: fillN, width: im.width, height: im.height, colorType: im.colorType, bitDepth: im.bitDepth,
      regions: regions.map(({ x, y, w, h }) => ({ x, y, w, h })),
    };
    let dataLength;
    try {
      dataLength = recordDataLength(r);
    } catch {
      fail(Kind.MISUSE, `the regions hold more than ${MAX_SEALED} bytes of samples: give smaller ones`);
    }
    // [MC-RGN-5] the original samples of every region, before any is filled
    r.originalDigest = await sha256(im.pixels);
    const data = new Uint8Array(dataLength);
    moveRegions(im, r.regions, data, true);
    for (const g of r.regions) fillRegion(im, g, fillN);
    r.redactedDigest = await sha256(im.pixels);
    record = encodeRecord(r, data);
    wipe(data);
    const side = await sealSide(RedactKind.PNG, record, { recipients, signer, cipher });
    const { image, metadata } = writePng(png, im, side);
    await checkRestores(restoreWith, image, side, record);
    return {
      image,
      info: { kind: 'png', width: im.width, height: im.height, regions: r.regions, sealedLength: side.length, metadataKept: metadata },
    };
  } finally {
    wipe(im.pixels);
    if (record) wipe(record);
  }
}

/** rd_png_restore with an opener (record.js): the record's check, the data back, the digests. */
async function restoreWith(png, opener) {
  const im = await loadPng(png, true);
  let opened = null;
  try {
    opened = await opener(im.side, RedactKind.PNG);
    const { r } = opened;
    // [MC-RGN-9] the visible image must be the one the record was made from
    const digest = await sha256(im.pixels);
    if (r.width !== im.width || r.height !== im.height || r.colorType !== im.colorType || r.bitDepth !== im.bitDepth || !equal(digest, r.redactedDigest)) {
      fail(Kind.PAYLOAD, 'the image was altered after it was redacted (its pixels are not those the sealed regions were made for): not restored');
    }
    moveRegions(im, r.regions, r.data, false);
    if (!equal(await sha256(im.pixels), r.originalDigest)) fail(Kind.PAYLOAD, 'the restored pixels do not match the digest of the original: not restored');
    const { image } = writePng(png, im, null);
    return {
      image,
      info: { kind: 'png', width: r.width, height: r.height, regions: r.regions, fill: r.fill, sealedLength: im.side.length, signer: opened.signer },
    };
  } finally {
    wipe(im.pixels);
    if (opened) wipe(opened.record);
  }
}

/**
 * Restores a redacted PNG for a recipient (rd_png_restore). options: {identity (importIdentity's
 * result), trustedSigners (optional SPKI DER list: the side data must be signed by one)}.
 * Resolves to {image (the PNG with the original samples, without mcRG), info: {kind, width,
 * height, regions, fill, sealedLength, signer (fingerprint | null)}}. McError header (no or two
 * mcRG, a CRC), unsupported, no match, mac, payload (altered after redaction), signature.
 */
export function restorePng(png, { identity, trustedSigners = [] }) {
  return restoreWith(png, keyOpener({ identity, trustedSigners }));
}
