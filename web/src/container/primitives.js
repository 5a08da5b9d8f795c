/**
 * primitives.js: the primitives of docs/FORMAT.md §2 on WebCrypto (globalThis.crypto.subtle, the
 * same in node 20 and in the browser), and ChaCha20-Poly1305 from @noble/ciphers, which WebCrypto
 * lacks. The JavaScript twin of lib/primitives.c. Symmetric keys that WebCrypto can hold stay in
 * non-extractable CryptoKeys (HKDF input, HMAC, AES-GCM); only ChaCha20-Poly1305 needs its key as
 * bytes, which its Aead wipes when told.
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { Kind, McError } from './errors.js';
import { CIPHER_AES_256_GCM, CIPHER_CHACHA20_POLY1305, KEY_LEN, OAEP_LABEL, TAG_LEN } from './format.js';
import { wipe } from './bytes.js';

const subtle = globalThis.crypto?.subtle;
if (!subtle) throw new Error('medcrypt needs WebCrypto (globalThis.crypto.subtle)');

/** n bytes from the CSPRNG. */
export function randomBytes(n) {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) globalThis.crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)));
  return out;
}

/** SHA-256 of data (FIPS 180-4), 32 bytes. */
export async function sha256(data) {
  return new Uint8Array(await subtle.digest('SHA-256', data));
}

/** A non-extractable HKDF key of ikm, for {@link hkdf} and {@link hkdfKey}. */
export function hkdfInput(ikm) {
  return subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits', 'deriveKey']);
}

/** HKDF-SHA-256 (RFC 5869) of an {@link hkdfInput}, 32 bytes. */
export async function hkdf(input, salt, info) {
  return new Uint8Array(await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info }, input, 8 * KEY_LEN));
}

/** HKDF-SHA-256 straight into a non-extractable CryptoKey: 'HMAC' (SHA-256) or 'AES-GCM'. */
export function hkdfKey(input, salt, info, algorithm) {
  const params = { name: 'HKDF', hash: 'SHA-256', salt, info };
  if (algorithm === 'HMAC') {
    return subtle.deriveKey(params, input, { name: 'HMAC', hash: 'SHA-256', length: 8 * KEY_LEN }, false, ['sign', 'verify']);
  }
  return subtle.deriveKey(params, input, { name: 'AES-GCM', length: 8 * KEY_LEN }, false, ['encrypt', 'decrypt']);
}

/** HMAC-SHA-256 (RFC 2104) of msg under an HMAC CryptoKey, 32 bytes. */
export async function hmac(key, msg) {
  return new Uint8Array(await subtle.sign('HMAC', key, msg));
}

/** Whether mac is HMAC-SHA-256 of msg: WebCrypto compares in constant time ([MC-CORE-8]). */
export function hmacVerify(key, mac, msg) {
  return subtle.verify('HMAC', key, mac, msg);
}

/**
 * The AEAD of one cipher under one key (§2: 12-byte nonce, 16-byte tag appended, empty
 * associated data). Make it with {@link makeAead}; call wipe() when done.
 */
export class Aead {
  #cipher;
  #key; // CryptoKey (AES-GCM) or Uint8Array (ChaCha20-Poly1305)
  #offload = null; // ChaCha20-Poly1305 on helper threads: a handle of seal()'s `offload`, or null
  #threads = 1;

  constructor(cipher, key) {
    this.#cipher = cipher;
    this.#key = key;
  }

  /** ciphertext || tag of plaintext under nonce. */
  async seal(nonce, plaintext) {
    if (this.#cipher === CIPHER_CHACHA20_POLY1305) return chacha20poly1305(this.#key, nonce).encrypt(plaintext);
    return new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nonce, tagLength: 128 }, this.#key, plaintext));
  }

  /**
   * From now on, seals ChaCha20-Poly1305 batches on the threads of `pool` (seal()'s `offload`:
   * {size, open(key) → handle {sealBatch(items), close()}}). AES-256-GCM has nothing to move:
   * WebCrypto already runs it off the calling thread.
   */
  async offloadTo(pool) {
    if (!pool || this.#cipher !== CIPHER_CHACHA20_POLY1305) return;
    this.#offload = await pool.open(this.#key);
    this.#threads = Math.max(1, pool.size | 0);
  }

  /** How many batches can be sealed at once (the helper threads; 1 without). */
  get threads() {
    return this.#threads;
  }

  /** Whether sealBatch() moves its plaintexts' buffers to another thread (they must own them). */
  get movesInput() {
    return this.#offload !== null;
  }

  /** The sealed chunks (ciphertext || tag) of items [{nonce, plaintext}], in their order. */
  sealBatch(items) {
    if (this.#offload) return this.#offload.sealBatch(items);
    return Promise.all(items.map(({ nonce, plaintext }) => this.seal(nonce, plaintext)));
  }

  /** The plaintext of ciphertext || tag, or null when it does not authenticate. */
  async open(nonce, sealed) {
    if (sealed.length < TAG_LEN) return null;
    if (this.#cipher === CIPHER_CHACHA20_POLY1305) {
      try {
        return chacha20poly1305(this.#key, nonce).decrypt(sealed);
      } catch {
        return null; // noble throws on a tag mismatch
      }
    }
    try {
      return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: nonce, tagLength: 128 }, this.#key, sealed));
    } catch (e) {
      if (e?.name === 'OperationError') return null;
      throw e;
    }
  }

  /** Forgets the key (wipes ChaCha20's key bytes, and the helper threads' copies). */
  wipe() {
    this.#offload?.close();
    this.#offload = null;
    if (this.#key instanceof Uint8Array) wipe(this.#key);
    this.#key = null;
  }
}

/** The Aead of `cipher` keyed by HKDF(input, salt, info) ([MC-KDF-2]). */
export async function makeAead(cipher, input, salt, info) {
  if (cipher === CIPHER_AES_256_GCM) return new Aead(cipher, await hkdfKey(input, salt, info, 'AES-GCM'));
  if (cipher === CIPHER_CHACHA20_POLY1305) return new Aead(cipher, await hkdf(input, salt, info));
  throw new McError(Kind.UNSUPPORTED, `cipher ${cipher} is not supported`);
}

const OAEP = { name: 'RSA-OAEP', label: OAEP_LABEL };

/** RSA-OAEP-SHA-256 with the label "medcrypt/v1 wrap" of fileKey to an RSA-OAEP public CryptoKey. */
export async function oaepWrap(publicKey, fileKey) {
  return new Uint8Array(await subtle.encrypt(OAEP, publicKey, fileKey));
}

/** The OAEP decryption of body under a private CryptoKey, or null when it does not decrypt. */
export async function oaepUnwrap(privateKey, body) {
  try {
    return new Uint8Array(await subtle.decrypt(OAEP, privateKey, body));
  } catch {
    return null;
  }
}

/** The params of sign/verify for a signature algorithm of §5 (1 Ed25519, 2 RSA-PSS salt 32). */
export function signParams(sigAlg) {
  return sigAlg === 1 ? { name: 'Ed25519' } : { name: 'RSA-PSS', saltLength: 32 };
}

/** A signature of msg by a private CryptoKey (Ed25519 or RSA-PSS-SHA-256, salt length 32). */
export async function sign(sigAlg, privateKey, msg) {
  return new Uint8Array(await subtle.sign(signParams(sigAlg), privateKey, msg));
}

/** Whether sig is a valid signature of msg by a public CryptoKey. PSS is verified with salt
 *  length 32 exactly, so other salt lengths are rejected (§2). */
export async function verify(sigAlg, publicKey, sig, msg) {
  try {
    return await subtle.verify(signParams(sigAlg), publicKey, sig, msg);
  } catch {
    return false;
  }
}
