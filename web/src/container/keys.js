/**
 * keys.js: public keys, identities and fingerprints (docs/FORMAT.md §2 FP, §4, §11) — the
 * JavaScript twin of lib/key.c. A public key is given as DER SubjectPublicKeyInfo; its
 * fingerprint is SHA-256 of the SPKI as WebCrypto re-encodes it (the C code hashes OpenSSL's
 * i2d_PUBKEY: both are the canonical DER). A private key is given as PKCS#8 DER and imported as a
 * non-extractable CryptoKey; its public half is read from the PKCS#8 structure (RSA modulus and
 * exponent, an Ed25519 public key when present) or given beside it, never exported.
 */
import { Kind, McError, fail } from './errors.js';
import { asBytes, equal, toHex } from './bytes.js';
import { RSA_MAX_BITS, RSA_MIN_BITS, SIG_ED25519, SIG_RSA_PSS } from './format.js';
import { randomBytes, sha256, sign, verify } from './primitives.js';

const subtle = globalThis.crypto.subtle;

const OID_RSA = '2a864886f70d010101'; //      1.2.840.113549.1.1.1 rsaEncryption
const OID_ED25519 = '2b6570'; //              1.3.101.112

/** Reads one DER TLV at off: {tag, start (of the value), end}. Throws on a malformed length. */
function tlv(b, off, end = b.length) {
  if (off + 2 > end) throw new Error('truncated DER');
  const tag = b[off];
  let len = b[off + 1];
  let p = off + 2;
  if (len & 0x80) {
    const k = len & 0x7f;
    if (k < 1 || k > 3 || p + k > end) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < k; i++) len = (len << 8) | b[p++];
  }
  if (p + len > end) throw new Error('truncated DER');
  return { tag, start: p, end: p + len };
}

/** The children of a constructed DER value. */
function children(b, node) {
  const out = [];
  for (let off = node.start; off < node.end; ) {
    const c = tlv(b, off, node.end);
    out.push(c);
    off = c.end;
  }
  return out;
}

/** The algorithm OID (hex) of an AlgorithmIdentifier node. */
function algorithmOid(b, node) {
  const oid = children(b, node)[0];
  if (!oid || oid.tag !== 0x06) throw new Error('no algorithm OID');
  return toHex(b.subarray(oid.start, oid.end));
}

const b64url = (bytes) => {
  let s = '';
  for (const x of bytes) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
};

/** The INTEGER's magnitude without leading zero bytes. */
function unsignedInt(b, node) {
  let s = node.start;
  while (s < node.end - 1 && b[s] === 0) s++;
  return b.subarray(s, node.end);
}

/**
 * What a PKCS#8 DER holds, without importing it: `{type: 'rsa', n, e}` or
 * `{type: 'ed25519', publicKey | null}`. Throws McError(key) for anything else.
 */
function readPkcs8(der) {
  try {
    const top = tlv(der, 0);
    if (top.tag !== 0x30 || top.end !== der.length) throw new Error('not a SEQUENCE');
    const [version, alg, key, ...rest] = children(der, top);
    if (version?.tag !== 0x02 || alg?.tag !== 0x30 || key?.tag !== 0x04) throw new Error('not PKCS#8');
    const oid = algorithmOid(der, alg);
    if (oid === OID_RSA) {
      const rsa = tlv(der, key.start, key.end);
      const [, n, e] = children(der, rsa);
      if (n?.tag !== 0x02 || e?.tag !== 0x02) throw new Error('not an RSAPrivateKey');
      return { type: 'rsa', n: unsignedInt(der, n), e: unsignedInt(der, e) };
    }
    if (oid === OID_ED25519) {
      const pub = rest.find((c) => c.tag === 0x81); // OneAsymmetricKey [1] publicKey (RFC 5958)
      const publicKey = pub && pub.end - pub.start === 33 && der[pub.start] === 0 ? der.slice(pub.start + 1, pub.end) : null;
      return { type: 'ed25519', publicKey };
    }
  } catch (e) {
    throw new McError(Kind.KEY, 'not a PKCS#8 private key', { cause: e });
  }
  throw new McError(Kind.KEY, 'the private key is neither RSA nor Ed25519');
}

/** The algorithm of a DER SubjectPublicKeyInfo: 'rsa', 'ed25519', or null. */
export function spkiAlgorithm(spki) {
  try {
    const top = tlv(spki, 0);
    const alg = children(spki, top)[0];
    const oid = algorithmOid(spki, alg);
    return oid === OID_RSA ? 'rsa' : oid === OID_ED25519 ? 'ed25519' : null;
  } catch {
    return null;
  }
}

/** FP(pub) of §2: SHA-256 of the DER SubjectPublicKeyInfo, 32 bytes. */
export function fingerprint(spki) {
  return sha256(spki);
}

/** A fingerprint as shown to people: 64 lowercase hex digits ([MC-KEY-3]). */
export function fingerprintHex(fp) {
  return toHex(fp);
}

/**
 * The DER blocks of a PEM text: [{label, der}], e.g. label 'PUBLIC KEY' or 'PRIVATE KEY'.
 * Encrypted PEM ('ENCRYPTED PRIVATE KEY') is returned as is; WebCrypto cannot decrypt it.
 */
export function pemBlocks(text) {
  const out = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let m; (m = re.exec(text)); ) {
    const bin = atob(m[2].replace(/\s+/g, ''));
    const der = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) der[i] = bin.charCodeAt(i);
    out.push({ label: m[1], der });
  }
  return out;
}

function rsaBits(key) {
  return key.algorithm.modulusLength;
}

function checkRsaBits(bits, what) {
  if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
    fail(Kind.KEY, `${what} is an RSA key of ${bits} bits: medcrypt needs ${RSA_MIN_BITS} to ${RSA_MAX_BITS} ([MC-WRAP-3])`);
  }
}

/**
 * A recipient's public key from its DER SubjectPublicKeyInfo: `{spki, fingerprint, bits, key}`
 * where key is an RSA-OAEP-SHA-256 public CryptoKey. RSA of 3072 to 8192 bits only ([MC-WRAP-3]):
 * anything else is McError(key).
 */
export async function importRecipient(spkiDer) {
  const der = asBytes(spkiDer, 'the recipient key');
  let key;
  try {
    key = await subtle.importKey('spki', der, { name: 'RSA-OAEP', hash: 'SHA-256' }, true, ['encrypt']);
  } catch (e) {
    throw new McError(Kind.KEY, 'the recipient key is not an RSA SubjectPublicKeyInfo', { cause: e });
  }
  checkRsaBits(rsaBits(key), 'the recipient key');
  const spki = new Uint8Array(await subtle.exportKey('spki', key));
  return Object.freeze({ spki, fingerprint: await fingerprint(spki), bits: rsaBits(key), key });
}

/**
 * A signer's public key from its DER SubjectPublicKeyInfo: `{sigAlg, spki, fingerprint, bits, key}`.
 * sigAlg is 1 for Ed25519 and 2 for RSA (RSA-PSS, 3072 to 8192 bits). With `sigAlg` given, the key
 * must be of that type. Throws McError(key) for anything else; header.js turns that into a header
 * failure for the signer of a file ([MC-CORE-4]).
 */
export async function importSigner(spkiDer, sigAlg) {
  const der = asBytes(spkiDer, 'the signer key');
  const alg = spkiAlgorithm(der);
  const want = alg === 'ed25519' ? SIG_ED25519 : alg === 'rsa' ? SIG_RSA_PSS : 0;
  if (!want || (sigAlg !== undefined && want !== sigAlg)) {
    fail(Kind.KEY, sigAlg === SIG_ED25519 ? 'the signer is not an Ed25519 key' : sigAlg === SIG_RSA_PSS
      ? 'the signer is not an RSA key' : 'the signer is neither an Ed25519 nor an RSA key');
  }
  let key;
  try {
    key = await subtle.importKey('spki', der, want === SIG_ED25519 ? { name: 'Ed25519' } : { name: 'RSA-PSS', hash: 'SHA-256' },
      true, ['verify']);
  } catch (e) {
    throw new McError(Kind.KEY, 'the signer is not a valid SubjectPublicKeyInfo', { cause: e });
  }
  let bits = 256;
  if (want === SIG_RSA_PSS) checkRsaBits((bits = rsaBits(key)), 'the signer');
  const spki = new Uint8Array(await subtle.exportKey('spki', key));
  if (!equal(spki, der)) fail(Kind.KEY, 'the signer key is not canonical DER');
  return Object.freeze({ sigAlg: want, spki, fingerprint: await fingerprint(spki), bits, key });
}

/** The SPKI of an RSA public key from its modulus and exponent (via WebCrypto's own encoder). */
async function rsaSpki(n, e) {
  const jwk = { kty: 'RSA', n: b64url(n), e: b64url(e), ext: true };
  const pub = await subtle.importKey('jwk', jwk, { name: 'RSA-OAEP', hash: 'SHA-256' }, true, ['encrypt']);
  return new Uint8Array(await subtle.exportKey('spki', pub));
}

/** The SPKI of an Ed25519 public key of 32 bytes. */
async function ed25519Spki(raw) {
  const pub = await subtle.importKey('raw', raw, { name: 'Ed25519' }, true, ['verify']);
  return new Uint8Array(await subtle.exportKey('spki', pub));
}

/**
 * A user's identity (§11): the RSA encryption key that receives wraps and, optionally, the signing
 * key (Ed25519 or RSA-PSS).
 *
 *   importIdentity({encryptionKey, encryptionPublicKey?, signingKey?, signingPublicKey?})
 *
 * `*Key` are PKCS#8 DER (unencrypted: decrypt a passphrase-protected file first), imported as
 * non-extractable CryptoKeys; the caller should wipe its copies afterwards. `*PublicKey` are the
 * SPKI DER the key file or the user directory shows; when given they MUST match the private key
 * ([MC-KEY-2]: McError(key) otherwise). An Ed25519 PKCS#8 without its public key needs
 * `signingPublicKey`. RSA keys must be 3072 to 8192 bits ([MC-WRAP-3]).
 *
 * Returns a frozen `{encryption: {spki, fingerprint, bits, privateKey},
 * signing: {sigAlg, spki, fingerprint, bits, privateKey} | null}`.
 */
export async function importIdentity({ encryptionKey, encryptionPublicKey, signingKey, signingPublicKey } = {}) {
  let encryption = null;
  let signing = null;
  if (encryptionKey) {
    const der = asBytes(encryptionKey, 'the encryption key');
    const info = readPkcs8(der);
    if (info.type !== 'rsa') fail(Kind.KEY, 'the encryption key is not an RSA key');
    const spki = await rsaSpki(info.n, info.e);
    if (encryptionPublicKey && !equal(spki, asBytes(encryptionPublicKey))) {
      fail(Kind.KEY, 'the encryption key and its public half differ (the key file was altered)');
    }
    const privateKey = await subtle.importKey('pkcs8', der, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['decrypt']);
    checkRsaBits(rsaBits(privateKey), 'the encryption key');
    encryption = Object.freeze({ spki, fingerprint: await fingerprint(spki), bits: rsaBits(privateKey), privateKey });
  }
  if (signingKey) {
    const der = asBytes(signingKey, 'the signing key');
    const info = readPkcs8(der);
    const given = signingPublicKey ? asBytes(signingPublicKey) : null;
    let spki;
    let privateKey;
    let sigAlg;
    let bits = 256;
    if (info.type === 'rsa') {
      sigAlg = SIG_RSA_PSS;
      spki = await rsaSpki(info.n, info.e);
      privateKey = await subtle.importKey('pkcs8', der, { name: 'RSA-PSS', hash: 'SHA-256' }, false, ['sign']);
      checkRsaBits((bits = rsaBits(privateKey)), 'the signing key');
      if (given && !equal(spki, given)) fail(Kind.KEY, 'the signing key and its public half differ (the key file was altered)');
    } else {
      sigAlg = SIG_ED25519;
      privateKey = await subtle.importKey('pkcs8', der, { name: 'Ed25519' }, false, ['sign']);
      if (info.publicKey) {
        spki = await ed25519Spki(info.publicKey);
        if (given && !equal(spki, given)) fail(Kind.KEY, 'the signing key and its public half differ (the key file was altered)');
      } else {
        if (!given) fail(Kind.MISUSE, 'an Ed25519 PKCS#8 key without its public key needs signingPublicKey');
        const pub = await importSigner(given, SIG_ED25519).catch(() => fail(Kind.KEY, 'signingPublicKey is not an Ed25519 key'));
        // No public key to compare: prove the halves match by a signature over a random message.
        const probe = randomBytes(32);
        if (!(await verify(SIG_ED25519, pub.key, await sign(SIG_ED25519, privateKey, probe), probe))) {
          fail(Kind.KEY, 'the signing key and its public half differ (the key file was altered)');
        }
        spki = pub.spki;
      }
    }
    signing = Object.freeze({ sigAlg, spki, fingerprint: await fingerprint(spki), bits, privateKey });
  }
  if (!encryption && !signing) fail(Kind.MISUSE, 'an identity needs an encryption key, a signing key or both');
  return Object.freeze({ encryption, signing });
}
