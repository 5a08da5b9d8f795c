/**
 * seal-worker.js (bench only, built by bench/web.mjs; not part of web/dist): seals a File with
 * web/src/container seal() exactly as src/worker/send.js does (File.stream(), two RSA-3072
 * recipients, an Ed25519 signer, the chosen cipher, ChaCha20 on src/worker/chacha-pool.js), into a sink that only counts the bytes.
 * That is the browser's sealing alone, without the upload.
 *
 *   {type: 'setup'}                  → {type: 'ready'}    (keys made here, outside the timing)
 *   {type: 'seal', file, cipher}     → {type: 'sealed', bytes, ms} or {type: 'failed', message}
 */
import { importSigner, seal } from '../../web/src/container/index.js';
import { ChaChaPool } from '../../web/src/worker/chacha-pool.js';

const subtle = globalThis.crypto.subtle;
let recipients = null;
let signing = null;
const pool = ChaChaPool.forThisMachine(); // as src/worker/send.js: ChaCha20 on helper threads

async function rsaSpki() {
  const pair = await subtle.generateKey({ name: 'RSA-OAEP', modulusLength: 3072, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    true, ['encrypt', 'decrypt']);
  return new Uint8Array(await subtle.exportKey('spki', pair.publicKey));
}

async function setup() {
  recipients = [await rsaSpki(), await rsaSpki()]; // a doctor and the sender, as the send page
  const pair = await subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
  const pub = await importSigner(new Uint8Array(await subtle.exportKey('spki', pair.publicKey)));
  signing = { sigAlg: pub.sigAlg, spki: pub.spki, fingerprint: pub.fingerprint, bits: pub.bits, privateKey: pair.privateKey };
}

self.addEventListener('message', async ({ data }) => {
  try {
    if (data.type === 'setup') {
      await setup();
      self.postMessage({ type: 'ready' });
    } else if (data.type === 'seal') {
      const t0 = performance.now();
      const metadata = { file: data.file.name, format: 'dicom' };
      const stream = await seal(data.file.stream(), { recipients, signer: { signing }, cipher: data.cipher, metadata, offload: pool });
      const reader = stream.getReader();
      let bytes = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.length;
      }
      self.postMessage({ type: 'sealed', bytes, ms: performance.now() - t0 });
    }
  } catch (e) {
    self.postMessage({ type: 'failed', message: `${e?.kind ?? ''} ${e?.message ?? e}` });
  }
});
