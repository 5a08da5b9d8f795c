/**
 * chacha.js (worker): one helper thread of src/worker/chacha-pool.js, built as
 * chacha-worker-HASH.js and started by the app's worker (a nested module worker, CSP
 * worker-src 'self'). It seals ChaCha20-Poly1305 chunks with @noble/ciphers, which runs on the
 * calling thread (WebCrypto has no ChaCha20), so that several cores seal one file's payload.
 *
 *   {type: 'key', id, key}         holds key (32 bytes) under id until told to forget it
 *   {type: 'seal', id, seq, items: [{nonce, plaintext}]}
 *       → {type: 'sealed', seq, wires: [ciphertext || tag, …]} (the buffers transferred)
 *         or {type: 'failed', seq, message}
 *   {type: 'forget', id}           wipes the key and drops it
 *
 * Nothing here reads or writes anything but the messages: no network, no storage.
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';

const keys = new Map(); // id -> Uint8Array(32)

self.addEventListener('message', ({ data }) => {
  switch (data?.type) {
    case 'key':
      keys.set(data.id, data.key);
      return;
    case 'forget':
      keys.get(data.id)?.fill(0);
      keys.delete(data.id);
      return;
    case 'seal': {
      const key = keys.get(data.id);
      if (!key) {
        self.postMessage({ type: 'failed', seq: data.seq, message: 'no key for this payload' });
        return;
      }
      try {
        const wires = data.items.map(({ nonce, plaintext }) => chacha20poly1305(key, nonce).encrypt(plaintext));
        self.postMessage({ type: 'sealed', seq: data.seq, wires }, wires.map((w) => w.buffer));
      } catch (e) {
        self.postMessage({ type: 'failed', seq: data.seq, message: e?.message ?? String(e) });
      }
      return;
    }
    default:
      self.postMessage({ type: 'failed', seq: data?.seq ?? -1, message: `unknown message type ${JSON.stringify(data?.type ?? null)}` });
  }
});
