/**
 * detect.js: whether a decrypted image carries sealed regions (docs/FORMAT.md §13.2, §13.6), by
 * its structure alone: no key, no pixel decoding. The view page asks it to offer "Show hidden
 * regions"; restoring (src/redact, in the worker) decides for real. Kept apart from index.js so
 * that the page's chunk does not carry the PNG codec.
 */
import { isDicom, walkDicom } from './dicom.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** True for a PNG with an mcRG chunk before IEND, or a DICOM with a top-level (7FD1,0010). */
export function hasRegions(bytes) {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) {
    let pos = 8;
    while (pos + 12 <= bytes.length) {
      const len = ((bytes[pos] << 24) | (bytes[pos + 1] << 16) | (bytes[pos + 2] << 8) | bytes[pos + 3]) >>> 0;
      const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
      if (type === 'mcRG') return true;
      if (type === 'IEND') return false;
      pos += 12 + len;
    }
    return false;
  }
  if (isDicom(bytes)) {
    let found = false;
    try {
      walkDicom(bytes, {
        element: (el) => {
          if (el.depth === 0 && el.group === 0x7fd1 && el.element === 0x0010) found = true;
        },
      });
    } catch {
      return false;
    }
    return found;
  }
  return false;
}
