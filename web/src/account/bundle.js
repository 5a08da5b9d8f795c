/**
 * bundle.js: the user's private keys as the server keeps them (docs/API.md §13), in the bytes
 * the CLI writes and reads (src/medcrypt/account.c):
 *
 *   key_bundle = u32be(len) enc_pkcs8 u32be(len) sign_pkcs8     ; DER PKCS#8, unencrypted
 *   wrapped    = nonce(12) || AES-256-GCM(key, nonce, key_bundle, aad "medcrypt/v1 keys") || tag(16)
 *
 * and the keys themselves: generated in WebCrypto (RSA-OAEP 3072 for encryption, Ed25519 for
 * signing, as `medcrypt register` makes them), and unwrapped into NON-EXTRACTABLE CryptoKeys
 * through the container's importIdentity(), checked against the public keys and fingerprints of
 * the user's directory entry. Every buffer that held private key bytes is wiped (`.fill(0)`) on
 * every path; the only exportable private keys are the freshly generated ones inside
 * generateAccountKeys(), which hands back only their bytes (for the bundle) and their
 * non-extractable re-import.
 */
import { Kind, McError } from '../container/errors.js';
import { concat, equal, ld32, u32, toHex } from '../container/bytes.js';
import { fingerprint, importIdentity, pemBlocks } from '../container/keys.js';
import { randomBytes } from '../container/primitives.js';
import { AccountKind, refuse } from './errors.js';

const subtle = globalThis.crypto.subtle;
const AAD = new TextEncoder().encode('medcrypt/v1 keys');
const NONCE_LEN = 12;
const TAG_LEN = 16;
/** The CLI's limit on a bundle (account_wrap); the server takes wrapped copies up to 24 KiB. */
const MAX_BUNDLE = 1 << 20;

/** key_bundle of §13 from the two DER PKCS#8 keys (a new buffer: wipe it when done). */
export function encodeBundle(encPkcs8, signPkcs8) {
  return concat(u32(encPkcs8.length), encPkcs8, u32(signPkcs8.length), signPkcs8);
}

/**
 * The two PKCS#8 of a key_bundle as views into it, `{encPkcs8, signPkcs8}`: wiping the bundle
 * wipes them. McError(key) unless it is exactly two length-prefixed parts.
 */
export function decodeBundle(bundle) {
  if (bundle.length < 8) throw new McError(Kind.KEY, 'the key bundle is malformed');
  const l1 = ld32(bundle, 0);
  if (l1 > bundle.length - 8) throw new McError(Kind.KEY, 'the key bundle is malformed');
  const l2 = ld32(bundle, 4 + l1);
  if (l2 !== bundle.length - 8 - l1) throw new McError(Kind.KEY, 'the key bundle is malformed');
  return { encPkcs8: bundle.subarray(4, 4 + l1), signPkcs8: bundle.subarray(8 + l1) };
}

/** wrapped of §13: a fresh nonce, AES-256-GCM of bundle under an AES-GCM CryptoKey, the tag. */
export async function wrapBundle(key, bundle) {
  if (bundle.length > MAX_BUNDLE) throw new McError(Kind.MISUSE, 'key bundle too large');
  const nonce = randomBytes(NONCE_LEN);
  const sealed = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: AAD, tagLength: 128 }, key, bundle));
  return concat(nonce, sealed);
}

/**
 * The key_bundle in a wrapped copy (the caller wipes it). McError(key) when it is too short or
 * does not authenticate under key: a wrong password or recovery code, or an altered copy.
 */
export async function unwrapBundle(key, wrapped) {
  if (!(wrapped instanceof Uint8Array) || wrapped.length < NONCE_LEN + TAG_LEN || wrapped.length > MAX_BUNDLE + NONCE_LEN + TAG_LEN) {
    throw new McError(Kind.KEY, 'the wrapped keys from the server are malformed');
  }
  try {
    const iv = wrapped.subarray(0, NONCE_LEN);
    return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv, additionalData: AAD, tagLength: 128 }, key, wrapped.subarray(NONCE_LEN)));
  } catch (e) {
    if (e?.name !== 'OperationError') throw e;
    throw new McError(Kind.KEY, 'the wrapped keys do not decrypt with this password (or were altered)');
  }
}

/** The DER of a PEM "PUBLIC KEY" (one block), or McError(server). */
export function publicKeyFromPem(pem, what) {
  const blocks = typeof pem === 'string' ? pemBlocks(pem).filter((b) => b.label === 'PUBLIC KEY') : [];
  if (blocks.length !== 1) refuse(AccountKind.SERVER, `${what} is not one PEM public key`);
  return blocks[0].der;
}

/** PEM "PUBLIC KEY" text of a DER SubjectPublicKeyInfo, as OpenSSL writes it (64-column lines). */
export function publicKeyPem(spki) {
  let s = '';
  for (const x of spki) s += String.fromCharCode(x);
  const b64 = btoa(s);
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN PUBLIC KEY-----\n${lines.join('\n')}\n-----END PUBLIC KEY-----\n`;
}

/**
 * A new identity as `medcrypt register` makes one: RSA-OAEP-SHA-256 of `rsaBits` (3072 or 4096)
 * and Ed25519. Resolves to `{bundle, encSpki, signSpki, identity}`: bundle is key_bundle (the
 * caller wraps it and wipes it), identity is importIdentity()'s non-extractable re-import of the
 * same keys. The extractable generated keys are dropped here.
 */
export async function generateAccountKeys({ rsaBits = 3072 } = {}) {
  if (rsaBits !== 3072 && rsaBits !== 4096) throw new McError(Kind.MISUSE, 'rsaBits is 3072 or 4096');
  const [enc, sign] = await Promise.all([
    subtle.generateKey({ name: 'RSA-OAEP', modulusLength: rsaBits, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['encrypt', 'decrypt']),
    subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']),
  ]);
  const encPkcs8 = new Uint8Array(await subtle.exportKey('pkcs8', enc.privateKey));
  const signPkcs8 = new Uint8Array(await subtle.exportKey('pkcs8', sign.privateKey));
  try {
    const encSpki = new Uint8Array(await subtle.exportKey('spki', enc.publicKey));
    const signSpki = new Uint8Array(await subtle.exportKey('spki', sign.publicKey));
    const identity = await importIdentity({ encryptionKey: encPkcs8, encryptionPublicKey: encSpki, signingKey: signPkcs8, signingPublicKey: signSpki });
    return { bundle: encodeBundle(encPkcs8, signPkcs8), encSpki, signSpki, identity };
  } finally {
    encPkcs8.fill(0);
    signPkcs8.fill(0);
  }
}

/**
 * The identity in a key_bundle, as non-extractable CryptoKeys, checked against the user's
 * directory entry (USER of §13: `enc_public_key`, `sign_public_key` PEM and their
 * `enc_fingerprint`, `sign_fingerprint`), as the CLI checks a restored key file. Wipes the bundle
 * whatever happens. McError(key) when the keys are not the user's; McError(server) when the
 * entry is malformed.
 */
export async function importBundle(bundle, user) {
  try {
    const encSpki = publicKeyFromPem(user?.enc_public_key, 'enc_public_key');
    const signSpki = publicKeyFromPem(user?.sign_public_key, 'sign_public_key');
    for (const [spki, hex, what] of [[encSpki, user.enc_fingerprint, 'encryption'], [signSpki, user.sign_fingerprint, 'signing']]) {
      if (typeof hex !== 'string' || toHex(await fingerprint(spki)) !== hex.toLowerCase()) {
        refuse(AccountKind.SERVER, `the directory's ${what} key does not match its fingerprint`);
      }
    }
    const { encPkcs8, signPkcs8 } = decodeBundle(bundle);
    let identity;
    try {
      identity = await importIdentity({ encryptionKey: encPkcs8, encryptionPublicKey: encSpki, signingKey: signPkcs8, signingPublicKey: signSpki });
    } catch (e) {
      throw new McError(Kind.KEY, 'the keys stored on the server do not match your public keys in the directory', { cause: e });
    }
    if (!identity.signing || !equal(identity.encryption.spki, encSpki) || !equal(identity.signing.spki, signSpki)) {
      throw new McError(Kind.KEY, 'the keys stored on the server do not match your public keys in the directory');
    }
    return identity;
  } finally {
    bundle.fill(0);
  }
}
