/**
 * pow.js: the login proof of work of docs/API.md §13: an 8-byte nonce such that
 * SHA-256(challenge || nonce) starts with `bits` zero bits, the nonce counting up from 0 as a
 * u64be, as the CLI's account_pow_solve() does. SHA-256 runs in hash-wasm (about a microsecond
 * a try; WebCrypto's digest() costs far more per call), from the state after the challenge. A
 * server asking for more than 32 bits is refused (§19), since the expected work doubles per bit.
 * The loop yields to the event loop now and then, so a page stays responsive and can show
 * progress or abort.
 */
import { createSHA256 } from 'hash-wasm';
import { Kind, McError } from '../container/errors.js';
import { AccountKind, refuse } from './errors.js';

/** The most bits this client will work for (the CLI's bound). */
export const MAX_POW_BITS = 32;
/** The nonce length (the server takes 1 to 64 bytes; the CLI sends 8). */
export const POW_NONCE_LEN = 8;
const TRIES_PER_SLICE = 1 << 15;

/** The number of leading zero bits of a digest, counted up to `limit`. */
export function leadingZeroBits(digest, limit = 256) {
  let zero = 0;
  for (const byte of digest) {
    if (zero >= limit) break;
    if (byte === 0) {
      zero += 8;
      continue;
    }
    zero += Math.clz32(byte) - 24;
    break;
  }
  return zero;
}

/**
 * Solves a challenge (bytes, at most 1024) for `bits` (0–32): resolves to the 8-byte nonce.
 * `onProgress` (optional) gets `{phase: 'pow', state: 'start' | 'progress' | 'end', bits, tries}`;
 * `signal` (an AbortSignal, optional) stops the search with the signal's reason.
 * McError('pow') for more than 32 bits; McError(misuse) for bad arguments.
 */
export async function solvePow(challenge, bits, { onProgress, signal } = {}) {
  if (!(challenge instanceof Uint8Array) || challenge.length > 1024) throw new McError(Kind.MISUSE, 'the challenge must be at most 1024 bytes');
  if (!Number.isSafeInteger(bits) || bits < 0) throw new McError(Kind.MISUSE, 'bits must be a non-negative integer');
  if (bits > MAX_POW_BITS) refuse(AccountKind.POW, `the server asks for an unreasonable proof of work (${bits} bits)`);
  const sha = await createSHA256();
  sha.init();
  sha.update(challenge);
  const base = sha.save();
  const nonce = new Uint8Array(POW_NONCE_LEN);
  const view = new DataView(nonce.buffer);
  onProgress?.({ phase: 'pow', state: 'start', bits, tries: 0 });
  for (let i = 0; i < 2 ** 40; i++) {
    view.setUint32(0, Math.floor(i / 2 ** 32));
    view.setUint32(4, i >>> 0);
    sha.load(base);
    sha.update(nonce);
    if (leadingZeroBits(sha.digest('binary'), bits) >= bits) {
      onProgress?.({ phase: 'pow', state: 'end', bits, tries: i + 1 });
      return nonce;
    }
    if ((i + 1) % TRIES_PER_SLICE === 0) {
      onProgress?.({ phase: 'pow', state: 'progress', bits, tries: i + 1 });
      await new Promise((resolve) => setTimeout(resolve, 0));
      signal?.throwIfAborted();
    }
  }
  throw new McError(Kind.MISUSE, 'no proof of work found');
}
