/**
 * keyschedule.js: docs/FORMAT.md §6. Every key of a file is HKDF-SHA-256 of the file key, salted
 * with the file id, with the info "medcrypt/v1 <label>" || cipher byte ([MC-KDF-2]), so a file
 * key is never used with two AEADs. The derived keys are made straight into CryptoKeys where
 * WebCrypto can hold them (K_header as an HMAC key, AES-GCM keys); ChaCha20 keys are bytes
 * inside their Aead.
 */
import { concat } from './bytes.js';
import { INFO_HEADER, INFO_META, INFO_PAYLOAD, INFO_PREVIEW } from './format.js';
import { hkdf, hkdfInput, hkdfKey, makeAead } from './primitives.js';

/** The info of §6 for one label ('header', 'payload', 'metadata', 'preview') and cipher. */
export function info(label, cipher) {
  const base = { header: INFO_HEADER, payload: INFO_PAYLOAD, metadata: INFO_META, preview: INFO_PREVIEW }[label];
  if (!base) throw new TypeError(`no key labelled ${label}`);
  return concat(base, Uint8Array.of(cipher));
}

/**
 * The keys of one file, derived on demand from a non-extractable HKDF key of the file key:
 * `headerKey()` (HMAC CryptoKey, K_header) and `aead(label)` (an Aead keyed by K_payload,
 * K_meta or K_preview).
 */
export class KeySchedule {
  #input;
  #fileId;
  #cipher;

  constructor(input, fileId, cipher) {
    this.#input = input;
    this.#fileId = fileId;
    this.#cipher = cipher;
  }

  /** The schedule of fileKey (32 bytes; the caller keeps and wipes its own copy). */
  static async create(fileKey, fileId, cipher) {
    return new KeySchedule(await hkdfInput(fileKey), fileId, cipher);
  }

  /** K_header as a non-extractable HMAC-SHA-256 CryptoKey. */
  headerKey() {
    return hkdfKey(this.#input, this.#fileId, info('header', this.#cipher), 'HMAC');
  }

  /** The Aead of K_<label> ('payload', 'metadata' or 'preview'). */
  aead(label) {
    return makeAead(this.#cipher, this.#input, this.#fileId, info(label, this.#cipher));
  }

  /** The raw bytes of K_<label>: only for checking the worked example of FORMAT.md §12.1. */
  raw(label) {
    return hkdf(this.#input, this.#fileId, info(label, this.#cipher));
  }
}
