/**
 * client.js: the send page's side of the worker protocol of src/worker/send.js, over the one Web
 * Worker the app starts (src/app/worker-client.js). Each request has an id; the worker's
 * `send:*` answers carrying that id go to its handler, every other message is left alone.
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
    if (typeof m?.type === 'string' && m.type.startsWith('send:')) handlers.get(m.id)?.(m);
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
