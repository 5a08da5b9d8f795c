/**
 * worker-client.js: starts the client's Web Worker (src/worker/main.js, built as
 * worker-HASH.js; web/build.mjs compiles its URL in as __MEDCRYPT_WORKER_URL__) and checks that
 * it answers. Work that must not block the page (parsing untrusted files, sealing large images)
 * moves there; for now it only answers a ping. When it is up, <html data-worker="ready">.
 */
/* global __MEDCRYPT_WORKER_URL__ */

let worker = null;

/** The worker, started on the first call. */
export function startWorker() {
  if (worker) return worker;
  worker = new Worker(__MEDCRYPT_WORKER_URL__, { type: 'module', name: 'medcrypt' });
  worker.addEventListener('message', (event) => {
    if (event.data?.type === 'pong') document.documentElement.dataset.worker = 'ready';
  });
  worker.addEventListener('error', () => {
    document.documentElement.dataset.worker = 'failed';
  });
  worker.postMessage({ type: 'ping' });
  return worker;
}
