/**
 * signature.js: docs/FORMAT.md §8. The signature covers the header (prefix || core, header_mac
 * included, the wraps not) and a digest of every ciphertext chunk as it is on the wire:
 *
 *   M = "medcrypt/v1 signature" || 00 || SHA256(prefix || core) || n (u64) || SHA256(H_0 || … || H_{n-1})
 *
 * WebCrypto has no incremental SHA-256, so PayloadDigest keeps the 32-byte H_i until the end:
 * 1/2048 of the payload (512 KiB for 1 GiB), the one part of a streaming open or seal that grows
 * with the file.
 */
import { Kind, fail } from './errors.js';
import { concat, u64 } from './bytes.js';
import { ED25519_SIG_LEN, SIG_CONTEXT, SIG_ED25519, SIG_NONE, SIG_RSA_PSS } from './format.js';
import { sha256, sign, verify } from './primitives.js';

/** The number of signature bytes at the end of a file ([MC-PAY-3]): 0 unsigned, 64 Ed25519,
 *  the modulus length for RSA-PSS. `bits` is the signer's modulus size. */
export function signatureLength(sigAlg, bits) {
  if (sigAlg === SIG_NONE) return 0;
  if (sigAlg === SIG_ED25519) return ED25519_SIG_LEN;
  if (sigAlg === SIG_RSA_PSS) return Math.ceil(bits / 8);
  return fail(Kind.UNSUPPORTED, `signature algorithm ${sigAlg} is not supported`);
}

/** How many chunk hashes may run at once ([MC-SIG-2]: they are independent). */
const IN_FLIGHT = 4;

/**
 * payload_digest of §8, fed one wire chunk at a time in order. add() starts the chunk's hash and
 * returns once few enough are running; digest() waits for all and gives SHA256(H_0 || …).
 */
export class PayloadDigest {
  #hashes = new Uint8Array(32 * 64);
  #n = 0;
  #running = [];

  /** Number of chunks added. */
  get count() {
    return this.#n;
  }

  /** Adds chunk i (the next one) as it is on the wire. */
  async add(wire) {
    const i = this.#n++;
    if (this.#hashes.length < 32 * this.#n) {
      const grown = new Uint8Array(this.#hashes.length * 2);
      grown.set(this.#hashes);
      this.#hashes = grown;
    }
    this.#running.push(sha256(wire).then((h) => this.#hashes.set(h, 32 * i)));
    if (this.#running.length >= IN_FLIGHT) await this.#running.shift();
  }

  /** SHA256(H_0 || … || H_{n-1}). */
  async digest() {
    await Promise.all(this.#running);
    this.#running = [];
    return sha256(this.#hashes.subarray(0, 32 * this.#n));
  }
}

/** M of §8 from header_digest, the number of chunks n and payload_digest. */
export function signatureMessage(headerDigest, n, payloadDigest) {
  return concat(SIG_CONTEXT, headerDigest, u64(n), payloadDigest);
}

/** header_digest = SHA256(prefix || core), core including header_mac. */
export function headerDigest(prefix, core) {
  return sha256(concat(prefix, core));
}

/** The signature of M by a signing identity ({@link importIdentity}'s `signing`). */
export function signMessage(signing, message) {
  return sign(signing.sigAlg, signing.privateKey, message);
}

/** Whether sig is the signer's signature of M ([MC-SIG-4]); `signer` from importSigner. */
export function verifyMessage(signer, sig, message) {
  return verify(signer.sigAlg, signer.key, sig, message);
}
