/**
 * client.js: the send page's side of the worker protocol of src/worker/send.js, over the one Web
 * Worker the app starts (src/app/worker-client.js). Each request has an id; the worker's
 * `send:*` and `regions:*` answers carrying that id go to its handler, every other message is
 * left alone. The view page uses restoreRegions from here too.
 */
import { startWorker } from '../app/worker-client.js';

const handlers = new Map();
let worker = null;
let next = 0;

function connect() {
  if (worker) return worker;
  worker = startWorker();
  worker.addEventListener('message', (event) => {
    const m = event.data;
    if (typeof m?.type === 'string' && (m.type.startsWith('send:') || m.type.startsWith('regions:'))) handlers.get(m.id)?.(m);
  });
  return worker;
}

/**
 * Inspects a File in the worker: resolves to {kind, metadata, preview (Uint8Array | null), note}
 * or rejects with {reason, message}.
 */
export function inspect(file, { preview = true } = {}) {
  const w = connect();
  const id = `i${++next}`;
  return new Promise((resolve, reject) => {
    handlers.set(id, (m) => {
      handlers.delete(id);
      if (m.type === 'send:inspected') resolve({ kind: m.kind, metadata: m.metadata, preview: m.preview, note: m.note });
      else reject({ reason: m.reason, message: m.message });
    });
    w.postMessage({ type: 'send:inspect', id, file, preview });
  });
}

/**
 * Seals and uploads one file in the worker. `params` as the worker's send:upload. onProgress
 * gets {phase, sent, total}. Returns {done: Promise<IMAGE>, cancel()}; done rejects with
 * {reason, message}.
 */
export function upload(params, onProgress) {
  const w = connect();
  const id = `u${++next}`;
  const done = new Promise((resolve, reject) => {
    handlers.set(id, (m) => {
      if (m.type === 'send:progress') {
        onProgress?.(m);
        return;
      }
      handlers.delete(id);
      if (m.type === 'send:done') resolve(m.image);
      else reject({ reason: m.reason, message: m.message });
    });
  });
  w.postMessage({ type: 'send:upload', id, ...params });
  return { done, cancel: () => w.postMessage({ type: 'send:cancel', id }) };
}

/** One regions:* request: resolves to the answer of type `ok`, rejects with {reason, message}. */
function request(message, ok, transfer = []) {
  const w = connect();
  const id = `r${++next}`;
  return new Promise((resolve, reject) => {
    handlers.set(id, (m) => {
      handlers.delete(id);
      if (m.type === ok) resolve(m);
      else reject({ reason: m.reason, message: m.message });
    });
    w.postMessage({ ...message, id }, transfer);
  });
}

/**
 * The first frame of a PNG or native DICOM File for the region editor, decoded in the worker:
 * resolves to {kind, width, height, frames, rgba (Uint8ClampedArray)}; rejects with {reason,
 * message} for an image redaction would refuse (JPEG, compressed DICOM, other PNG depths).
 */
export function regionFrame(file) {
  return request({ type: 'regions:frame', file }, 'regions:framed');
}

/**
 * Restores the hidden regions of a decrypted image in the worker (src/redact restore): bytes is
 * handed over (transferred: the caller's copy is emptied), identity the session's (its
 * non-extractable encryption key is cloned into the worker), trusted the SPKI DER keys one of
 * which must have signed the regions. Resolves to {image, info}; rejects with {reason (an McError
 * kind), message}.
 */
export function restoreRegions(bytes, identity, trusted) {
  return request({ type: 'regions:restore', bytes, identity: { encryption: identity.encryption }, trusted }, 'regions:restored', [bytes.buffer]);
}
