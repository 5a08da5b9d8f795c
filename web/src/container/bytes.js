/**
 * bytes.js: byte helpers and the streaming I/O the container code is built on. Big-endian loads
 * and stores (FORMAT.md §1: every integer is unsigned big-endian), and a ByteReader that turns
 * any byte source (a ReadableStream, an async or sync iterable of Uint8Array, one Uint8Array, a
 * Blob) into exact reads without ever holding more than the caller asked for plus one piece of
 * the source. Nothing here knows the format.
 */
import { Kind, McError, fail } from './errors.js';

/** Concatenation of byte arrays into a new Uint8Array. */
export function concat(...parts) {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** u16 big-endian. */
export function u16(x) {
  return new Uint8Array([(x >>> 8) & 0xff, x & 0xff]);
}

/** u32 big-endian. */
export function u32(x) {
  return new Uint8Array([(x >>> 24) & 0xff, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff]);
}

/** u64 big-endian of a non-negative safe integer. */
export function u64(x) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(x));
  return out;
}

/** The u16 at b[off]. */
export function ld16(b, off = 0) {
  return (b[off] << 8) | b[off + 1];
}

/** The u32 at b[off]. */
export function ld32(b, off = 0) {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

/** Lowercase hexadecimal of bytes (FORMAT.md [MC-KEY-3] for fingerprints). */
export function toHex(b) {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** Bytes of a hexadecimal string; throws on anything else. */
export function fromHex(hex) {
  if (typeof hex !== 'string' || hex.length % 2 || /[^0-9a-fA-F]/.test(hex)) {
    fail(Kind.MISUSE, 'not a hexadecimal string');
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
}

/** Whether two byte arrays are equal. For public values only (fingerprints, encodings): not
 *  constant time. Secrets are compared by WebCrypto (HMAC verify). */
export function equal(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Overwrites a buffer that held a secret with zeros. JavaScript cannot promise that no copy
 *  is left (the engine may have moved it), but the buffer we own no longer holds it. */
export function wipe(b) {
  if (b) b.fill(0);
}

/** A Uint8Array view of a BufferSource, or a misuse error for anything else. */
export function asBytes(x, what = 'input') {
  if (x instanceof Uint8Array) return x;
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  throw new McError(Kind.MISUSE, `${what} must be bytes (Uint8Array, ArrayBuffer or a view)`);
}

/**
 * An async iterator of Uint8Array pieces from a byte source: a ReadableStream, an async or sync
 * iterable of byte arrays, one byte array, or a Blob. Its return() releases the source.
 */
export function byteSource(input) {
  if (input instanceof Uint8Array || input instanceof ArrayBuffer || ArrayBuffer.isView(input)) {
    const whole = asBytes(input);
    let done = false;
    return {
      async next() {
        if (done) return { done: true, value: undefined };
        done = true;
        return { done: false, value: whole };
      },
      async return() {
        done = true;
        return { done: true, value: undefined };
      },
    };
  }
  if (typeof Blob !== 'undefined' && input instanceof Blob) return byteSource(input.stream());
  if (input && typeof input.getReader === 'function') {
    const reader = input.getReader();
    return {
      async next() {
        const r = await reader.read();
        return r.done ? { done: true, value: undefined } : { done: false, value: asBytes(r.value) };
      },
      async return() {
        await reader.cancel().catch(() => {});
        reader.releaseLock();
        return { done: true, value: undefined };
      },
    };
  }
  const it = input?.[Symbol.asyncIterator]?.() ?? input?.[Symbol.iterator]?.();
  if (!it || typeof it.next !== 'function') {
    throw new McError(Kind.MISUSE, 'the input must be bytes, a ReadableStream, a Blob or an iterable of bytes');
  }
  return {
    async next() {
      const r = await it.next();
      return r.done ? { done: true, value: undefined } : { done: false, value: asBytes(r.value) };
    },
    async return() {
      if (typeof it.return === 'function') await it.return();
      return { done: true, value: undefined };
    },
  };
}

/**
 * Exact reads from a byte source. Holds what was read from the source and not yet taken: at most
 * the largest amount asked for plus one piece of the source.
 */
export class ByteReader {
  #source;
  #pieces = []; // queued pieces; the first one from #head on
  #head = 0;
  #buffered = 0;
  #eof = false;
  /** Total bytes taken so far. */
  position = 0;

  /** @param input anything {@link byteSource} accepts */
  constructor(input) {
    this.#source = byteSource(input);
  }

  /** Bytes read from the source and not yet taken. */
  get buffered() {
    return this.#buffered;
  }

  /** Whether the source has ended (what is buffered is all that is left). */
  get ended() {
    return this.#eof;
  }

  /** Reads from the source until at least n bytes are buffered or it ends; the number buffered. */
  async fill(n) {
    while (this.#buffered < n && !this.#eof) {
      let r;
      try {
        r = await this.#source.next();
      } catch (e) {
        if (e instanceof McError) throw e;
        throw new McError(Kind.IO, `reading the input failed: ${e?.message ?? e}`, { cause: e });
      }
      if (r.done) this.#eof = true;
      else if (r.value.length) {
        this.#pieces.push(r.value);
        this.#buffered += r.value.length;
      }
    }
    return this.#buffered;
  }

  /** Takes n buffered bytes (n <= buffered). A view into the source's piece when one holds them
   *  all, else a new array. */
  take(n) {
    if (n > this.#buffered) throw new McError(Kind.MISUSE, 'take past what is buffered');
    this.#buffered -= n;
    this.position += n;
    const first = this.#pieces[0];
    if (first && first.length - this.#head >= n) {
      const out = first.subarray(this.#head, this.#head + n);
      this.#head += n;
      if (this.#head === first.length) {
        this.#pieces.shift();
        this.#head = 0;
      }
      return out;
    }
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const p = this.#pieces[0];
      const k = Math.min(n - off, p.length - this.#head);
      out.set(p.subarray(this.#head, this.#head + k), off);
      off += k;
      this.#head += k;
      if (this.#head === p.length) {
        this.#pieces.shift();
        this.#head = 0;
      }
    }
    return out;
  }

  /** Exactly n bytes, or null when the source ends first (what was there stays buffered). */
  async readExact(n) {
    return (await this.fill(n)) >= n ? this.take(n) : null;
  }

  /** Stops reading and releases the source. */
  async close() {
    this.#pieces = [];
    this.#buffered = 0;
    if (!this.#eof) {
      this.#eof = true;
      await this.#source.return?.();
    }
  }
}

/**
 * A ReadableStream of Uint8Array fed by an async iterator, one item per pull, so the producer
 * runs only as fast as the consumer reads. Cancelling the stream returns the iterator and then
 * calls onCancel (for what a generator that never started cannot clean up itself).
 */
export function iteratorStream(it, onCancel) {
  return new ReadableStream(
    {
      async pull(controller) {
        try {
          const r = await it.next();
          if (r.done) controller.close();
          else controller.enqueue(r.value);
        } catch (e) {
          controller.error(e);
        }
      },
      async cancel() {
        try {
          await it.return?.();
        } finally {
          await onCancel?.();
        }
      },
    },
    { highWaterMark: 0 },
  );
}

/** Reads a whole byte stream (or any {@link byteSource} input) into one Uint8Array. For tests and
 *  small files: a large payload should be consumed as a stream. */
export async function readAll(input) {
  const src = byteSource(input);
  const parts = [];
  for (;;) {
    const r = await src.next();
    if (r.done) break;
    parts.push(r.value);
  }
  return parts.length === 1 ? parts[0] : concat(...parts);
}
