/**
 * index.js: region encryption in the browser (docs/FORMAT.md §13), the JavaScript twin of
 * `medcrypt redact` / `medcrypt restore` (lib/redact.c picks the format by the first bytes, as
 * redact() and restore() here do). One module per part of the spec: record.js (§13.1, §13.4,
 * the envelope and its container), png.js (§13.2), dicom.js (§13.6). JPEG (§13.3) needs the
 * image's quantized DCT coefficients, which no browser API exposes: JPEG regions are made and
 * restored with the command-line tool, and redact()/restore() say so.
 *
 * Everything here holds whole images and their original pixels in memory: it runs in the Web
 * Worker (src/worker/), never on the page's thread.
 */
import { Kind, fail } from '../container/errors.js';
import { MAX_INPUT } from './record.js';
import { isDicom, redactDicom, restoreDicom } from './dicom.js';
import { isPng, redactPng, restorePng } from './png.js';

export { redactPng, restorePng, isPng, pngChunks } from './png.js';
export { redactDicom, restoreDicom, isDicom, walkDicom } from './dicom.js';
export { Fill, MAX_REGIONS, RedactKind, parseEnvelope, parseRecord } from './record.js';
export { hasRegions } from './detect.js';

const isJpeg = (b) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

/** The message for a JPEG: the browser does not make or undo JPEG regions. */
export const JPEG_NOTE = 'Regions of a JPEG are hidden with the command-line tool (medcrypt redact), which keeps its DCT coefficients: the browser cannot.';

/** 'png', 'dicom', 'jpeg' or null, by the first bytes (mc_redact's order). */
export function redactableKind(bytes) {
  if (isPng(bytes)) return 'png';
  if (isJpeg(bytes)) return 'jpeg';
  if (isDicom(bytes)) return 'dicom';
  return null;
}

function pick(bytes) {
  if (!(bytes instanceof Uint8Array)) fail(Kind.MISUSE, 'the image must be a Uint8Array');
  if (bytes.length > MAX_INPUT) fail(Kind.HEADER, `the image is larger than ${MAX_INPUT} bytes`);
  const kind = redactableKind(bytes);
  if (kind === 'jpeg') fail(Kind.UNSUPPORTED, JPEG_NOTE);
  if (!kind) fail(Kind.UNSUPPORTED, 'the file is neither PNG, JPEG nor DICOM (judged by its first bytes)');
  return kind;
}

/**
 * Hides rectangles of a PNG or a native DICOM image, carrying their originals sealed inside it
 * (mc_redact). options: {regions: [{x, y, w, h}] (1 to 64, image pixels), fill ('black' default,
 * 'noise', 'pixelate'), recipients (SPKI DER or importRecipient results: who may restore; add the
 * sender to restore it yourself), signer (importIdentity result, or {signing} as the worker holds
 * it; null: unsigned), cipher ('chacha20' | 'aes')}. Resolves to {image, info}; McError misuse,
 * header, unsupported (JPEG, other formats and depths, an image already redacted).
 */
export async function redact(bytes, options) {
  return pick(bytes) === 'png' ? redactPng(bytes, options) : redactDicom(bytes, options);
}

/**
 * Gives a recipient the original of a redacted PNG or DICOM (mc_restore). options: {identity,
 * trustedSigners}. Resolves to {image, info} (info.signer: the side data's signer fingerprint,
 * or null when unsigned); McError as restorePng / restoreDicom.
 */
export async function restore(bytes, options) {
  return pick(bytes) === 'png' ? restorePng(bytes, options) : restoreDicom(bytes, options);
}
