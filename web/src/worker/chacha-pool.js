/**
 * chacha-pool.js (worker): ChaCha20-Poly1305 sealing spread over helper threads
 * (src/worker/chacha.js), the `offload` of src/container seal(). @noble/ciphers seals on the
 * thread that calls it, about 100–150 MB/s a core; a payload's chunks are independent (each has
 * its own nonce, FORMAT.md §7), so batches of them can be sealed on several cores at once and put
 * back in order by the container's sealPayload. AES-256-GCM needs none of this: WebCrypto already
 * runs it off the calling thread.
 *
 * The payload key is copied to each helper (postMessage copies; the helpers are threads of this
 * tab, same origin, nothing else can address them) and wiped there by close(), as the container
 * wipes its own copy.
 *
 * A helper that stops (its script did not load, or it died: the Worker's `error` event) must not
 * stall a send: the pool then gives up its helpers, seals the batches they held on the calling
 * thread, and seals every later batch there too (slower, never stuck). That is why a batch's
 * plaintext is copied to the helper rather than moved: the copy here is what the fallback seals.
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';

/** The helpers' script: its hashed name, compiled in by web/build.mjs. */
const SCRIPT = typeof __MEDCRYPT_CHACHA_WORKER_URL__ === 'string' ? __MEDCRYPT_CHACHA_WORKER_URL__ : null;

export class ChaChaPool {
  #workers = [];
  #pending = new Map(); // seq -> {resolve, reject, here: seal this batch on this thread instead}
  #seq = 0;
  #ids = 0;
  #next = 0;
  #broken = null; // why the helpers were given up, or null while they work

  /**
   * A pool of `size` helpers of `script`, started on first use. `makeWorker(script, options)`
   * makes one (tests pass a stand-in).
   */
  constructor(size, script = SCRIPT, makeWorker = (url, options) => new Worker(url, options)) {
    this.size = size;
    this.script = script;
    this.makeWorker = makeWorker;
  }

  /** Why the pool seals on the calling thread (a helper stopped), or null. */
  get fallback() {
    return this.#broken;
  }

  /** A pool for this machine: one helper a core, 2 to 4; null where workers cannot be made. */
  static forThisMachine() {
    if (!SCRIPT || typeof Worker === 'undefined') return null;
    const cores = Number(globalThis.navigator?.hardwareConcurrency) || 2;
    return new ChaChaPool(Math.min(4, Math.max(2, cores)));
  }

  #start() {
    if (this.#workers.length || this.#broken) return;
    for (let i = 0; i < this.size; i++) {
      const w = this.makeWorker(this.script, { type: 'module', name: `medcrypt-chacha-${i}` });
      w.addEventListener('message', ({ data }) => {
        const p = this.#pending.get(data?.seq);
        if (!p) return;
        this.#pending.delete(data.seq);
        if (data.type === 'sealed') p.resolve(data.wires);
        else p.reject(new Error(`a sealing thread failed: ${data?.message ?? 'no answer'}`));
      });
      w.addEventListener('error', (e) => this.#giveUp(`a sealing thread stopped: ${e?.message || 'it did not load or died'}`));
      this.#workers.push(w);
    }
  }

  /** Stops every helper and seals what they held, and all later batches, on this thread. */
  #giveUp(reason) {
    if (this.#broken) return;
    this.#broken = reason;
    globalThis.console?.warn?.(`medcrypt: ${reason}; sealing on this thread instead`);
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
    const held = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of held) p.here();
  }

  #failAll(message) {
    for (const p of this.#pending.values()) p.reject(new Error(message));
    this.#pending.clear();
  }

  /**
   * Gives every helper `key` (32 bytes, copied) and resolves to a handle:
   * sealBatch([{nonce, plaintext}]) → Promise of the sealed chunks in the same order, each
   * batch on the next helper in turn; close() makes every helper wipe its copy.
   */
  async open(key) {
    this.#start();
    const id = ++this.#ids;
    const own = key.slice(); // for sealing here when the helpers fail; wiped by close()
    for (const w of this.#workers) w.postMessage({ type: 'key', id, key });
    const sealHere = (items) => items.map(({ nonce, plaintext }) => chacha20poly1305(own, nonce).encrypt(plaintext));
    let closed = false;
    return {
      sealBatch: (items) => {
        if (closed) return Promise.reject(new Error('the payload key is closed'));
        if (this.#broken) {
          try {
            return Promise.resolve(sealHere(items));
          } catch (e) {
            return Promise.reject(e);
          }
        }
        const seq = ++this.#seq;
        const w = this.#workers[this.#next++ % this.#workers.length];
        return new Promise((resolve, reject) => {
          const here = () => {
            try {
              resolve(sealHere(items));
            } catch (e) {
              reject(e);
            }
          };
          this.#pending.set(seq, { resolve, reject, here });
          // Copied, not moved (no transfer list): these plaintexts are what the fallback seals.
          w.postMessage({ type: 'seal', id, seq, items });
        });
      },
      close: () => {
        if (closed) return;
        closed = true;
        own.fill(0);
        for (const w of this.#workers) w.postMessage({ type: 'forget', id });
      },
    };
  }

  /** Stops the helpers. */
  terminate() {
    this.#failAll('the sealing threads were stopped');
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
  }
}
