/**
 * seal-page.js (bench only, built by bench/web.mjs into the bench's copy of the web root as
 * bench-seal-page.js; not part of web/dist). bench/web.mjs imports it into the signed-in app
 * page and calls globalThis.medcryptBench.seal(file, cipher): the file is sealed in a Web Worker
 * (bench-seal-worker.js) into a counting sink, and the promise resolves to {bytes, ms}.
 */
let worker = null;

function call(message) {
  return new Promise((resolve, reject) => {
    const onMessage = ({ data }) => {
      worker.removeEventListener('message', onMessage);
      if (data.type === 'failed') reject(new Error(data.message));
      else resolve(data);
    };
    worker.addEventListener('message', onMessage);
    worker.postMessage(message);
  });
}

globalThis.medcryptBench = {
  async setup() {
    if (worker) return;
    worker = new Worker('/bench-seal-worker.js', { type: 'module' });
    await call({ type: 'setup' });
  },
  async seal(file, cipher) {
    await this.setup();
    const { bytes, ms } = await call({ type: 'seal', file, cipher });
    return { bytes, ms };
  },
};
