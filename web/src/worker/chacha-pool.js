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
 */

/** The helpers' script: its hashed name, compiled in by web/build.mjs. */
const SCRIPT = typeof __MEDCRYPT_CHACHA_WORKER_URL__ === 'string' ? __MEDCRYPT_CHACHA_WORKER_URL__ : null;

export class ChaChaPool {
  #workers = [];
  #pending = new Map(); // seq -> {resolve, reject}
  #seq = 0;
  #ids = 0;
  #next = 0;

  /** A pool of `size` helpers of `script`, started on first use. */
  constructor(size, script = SCRIPT) {
    this.size = size;
    this.script = script;
  }

  /** A pool for this machine: one helper a core, 2 to 4; null where workers cannot be made. */
  static forThisMachine() {
    if (!SCRIPT || typeof Worker === 'undefined') return null;
    const cores = Number(globalThis.navigator?.hardwareConcurrency) || 2;
    return new ChaChaPool(Math.min(4, Math.max(2, cores)));
  }

  #start() {
    if (this.#workers.length) return;
    for (let i = 0; i < this.size; i++) {
      const w = new Worker(this.script, { type: 'module', name: `medcrypt-chacha-${i}` });
      w.addEventListener('message', ({ data }) => {
        const p = this.#pending.get(data?.seq);
        if (!p) return;
        this.#pending.delete(data.seq);
        if (data.type === 'sealed') p.resolve(data.wires);
        else p.reject(new Error(`a sealing thread failed: ${data?.message ?? 'no answer'}`));
      });
      w.addEventListener('error', (e) => this.#failAll(`a sealing thread stopped: ${e?.message ?? 'error'}`));
      this.#workers.push(w);
    }
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
    for (const w of this.#workers) w.postMessage({ type: 'key', id, key });
    let closed = false;
    return {
      sealBatch: (items) => {
        if (closed) return Promise.reject(new Error('the payload key is closed'));
        const seq = ++this.#seq;
        const w = this.#workers[this.#next++ % this.#workers.length];
        return new Promise((resolve, reject) => {
          this.#pending.set(seq, { resolve, reject });
          // Each plaintext is its own copy, so moving its buffer leaves the input's untouched.
          w.postMessage({ type: 'seal', id, seq, items }, items.map((it) => it.plaintext.buffer));
        });
      },
      close: () => {
        if (closed) return;
        closed = true;
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
