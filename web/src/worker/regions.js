/**
 * regions.js (worker): region encryption off the page's thread (src/redact, docs/FORMAT.md §13).
 *
 *   {type: 'regions:frame', id, file}  → {type: 'regions:framed', id, kind, width, height,
 *       frames, rgba} (the first frame as RGBA, transferred) or {type: 'regions:failed', id,
 *       reason, message}: what the send page's editor draws on, refused as redaction would
 *       refuse the image (JPEG, compressed DICOM, other PNG depths, already redacted)
 *   {type: 'regions:restore', id, bytes, identity ({encryption} of importIdentity: the
 *       non-extractable key, structured-cloned), trusted (SPKI DER list)} → {type:
 *       'regions:restored', id, image, info} or {type: 'regions:failed', id, reason, message}:
 *       the view page's "Show hidden regions"
 *
 * Redaction itself runs inside send:upload (src/worker/send.js), before the image is sealed.
 */
import { restore } from '../redact/index.js';
import { regionFrame } from '../redact/frame.js';

const fail = (id, e) => self.postMessage({ type: 'regions:failed', id, reason: e?.kind ?? 'error', message: e?.message ?? String(e) });

async function frame({ id, file }) {
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const f = await regionFrame(bytes);
    bytes.fill(0);
    self.postMessage({ type: 'regions:framed', id, kind: f.kind, width: f.width, height: f.height, frames: f.frames, rgba: f.rgba }, [f.rgba.buffer]);
  } catch (e) {
    fail(id, e);
  }
}

async function restoreRegions({ id, bytes, identity, trusted }) {
  try {
    const { image, info } = await restore(bytes, { identity, trustedSigners: trusted ?? [] });
    self.postMessage({ type: 'regions:restored', id, image, info }, [image.buffer]);
  } catch (e) {
    fail(id, e);
  } finally {
    bytes.fill(0);
  }
}

/** Handles a regions:* message; false for a message of another type. */
export function handleRegionsMessage(message) {
  switch (message?.type) {
    case 'regions:frame':
      frame(message);
      return true;
    case 'regions:restore':
      restoreRegions(message);
      return true;
    default:
      return false;
  }
}
