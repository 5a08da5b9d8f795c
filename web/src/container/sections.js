/**
 * sections.js: what the two encrypted header sections hold (docs/FORMAT.md [MC-CORE-5],
 * [MC-CORE-6], [MC-CORE-10]): the metadata is a UTF-8 JSON object of at most 1 MiB, the preview a
 * PNG or JPEG of at most 8 MiB. A writer refuses anything else; a reader that finds anything else
 * after the MAC verified has a readable container whose section it should not display.
 */
import { Kind, fail } from './errors.js';
import { asBytes, equal } from './bytes.js';
import { MAX_META, MAX_PREVIEW } from './format.js';

const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

/** 'png' or 'jpeg' by the image's signature, or null for anything else. */
export function previewType(bytes) {
  if (bytes.length >= 8 && equal(bytes.subarray(0, 8), PNG_SIGNATURE)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

/** The metadata plaintext as an object, or null when it is not a UTF-8 JSON object
 *  ([MC-CORE-10]: not a container failure; the caller should refuse to display it). */
export function parseMetadata(bytes) {
  try {
    const value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/** The metadata plaintext a writer stores: a plain object is serialized as JSON, bytes must
 *  already be a UTF-8 JSON object; at most 1 MiB ([MC-CORE-5]). McError(misuse) otherwise. */
export function encodeMetadata(metadata) {
  let bytes;
  if (metadata instanceof Uint8Array || metadata instanceof ArrayBuffer || ArrayBuffer.isView(metadata)) {
    bytes = asBytes(metadata);
    if (!parseMetadata(bytes)) fail(Kind.MISUSE, 'the metadata is not a UTF-8 JSON object ([MC-CORE-5])');
  } else if (metadata !== null && typeof metadata === 'object' && !Array.isArray(metadata)) {
    bytes = new TextEncoder().encode(JSON.stringify(metadata));
  } else {
    fail(Kind.MISUSE, 'the metadata must be a JSON object ([MC-CORE-5])');
  }
  if (bytes.length > MAX_META) fail(Kind.MISUSE, `the metadata is ${bytes.length} bytes, more than 1 MiB ([MC-CORE-5])`);
  return bytes;
}

/** The preview a writer stores: a PNG or JPEG of at most 8 MiB ([MC-CORE-6]). */
export function checkPreview(preview) {
  const bytes = asBytes(preview, 'the preview');
  if (!previewType(bytes)) fail(Kind.MISUSE, 'the preview is neither a PNG nor a JPEG ([MC-CORE-6])');
  if (bytes.length > MAX_PREVIEW) fail(Kind.MISUSE, `the preview is ${bytes.length} bytes, more than 8 MiB ([MC-CORE-6])`);
  return bytes;
}
