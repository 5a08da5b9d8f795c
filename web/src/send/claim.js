/**
 * claim.js: the de-identification claim the send page seals into a PNG's or JPEG's metadata
 * (member "deidentified", docs/FORMAT.md's convention of issue 12), as `medcrypt send
 * --deidentified --confirm-deidentified` makes it (src/medcrypt/deidclaim.c): nothing in a PNG or
 * JPEG says what was removed, so only the sender can vouch for it, and the claim says so
 * ("sender confirmation"). The file's signature signs the claim. A DICOM file is checked against
 * PS3.15 Table E.1-1 before it may be marked (the CLI does; this page does not yet), so none is
 * made here for one. Pure: tested in node (test/send-pieces.test.js).
 */

export const PROFILE_SENDER = 'sender confirmation';
export const TOOL = 'medcrypt web client';

/** Whether a JPEG carries an APP11 "medcrypt-region" segment before its first scan (FORMAT.md [MC-RGN-4]). */
export function jpegHasRegions(bytes) {
  const id = 'medcrypt-region\0';
  let pos = 2;
  for (let i = 0; i < 1_000_000 && pos + 4 <= bytes.length; i++) {
    if (bytes[pos] !== 0xff) return false;
    const m = bytes[pos + 1];
    if (m === 0xff) {
      pos++;
      continue;
    }
    if (m === 0xda || m === 0xd9) return false;
    if ((m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      pos += 2;
      continue;
    }
    const len = (bytes[pos + 2] << 8) | bytes[pos + 3];
    if (m === 0xeb && len >= 2 + id.length && pos + 4 + id.length <= bytes.length &&
        [...id].every((c, k) => bytes[pos + 4 + k] === c.charCodeAt(0))) return true;
    if (len < 2) return false;
    pos += 2 + len;
  }
  return false;
}

/** The claim for a PNG or JPEG the sender confirmed; `regions` whether it carries region encryption. */
export function pictureClaim({ regions = false, now = new Date() } = {}) {
  const checked = ['the sender confirmed that nothing in the image identifies the patient (on the send page)'];
  if (regions) checked.push('medcrypt region encryption present (FORMAT.md §13)');
  return {
    profile: PROFILE_SENDER,
    checked,
    pixels: regions ? 'regions cleaned' : 'confirmed by sender',
    tool: TOOL,
    time: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}
