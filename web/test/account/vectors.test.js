/**
 * vectors.test.js: the account cryptography of src/account against the C client's vectors
 * (tests/unit/test_account.c, computed independently by tests/unit/account_vectors.py): key
 * derivation from an ASCII and from a non-NFC password, the recovery key, the key-bundle wrap;
 * then the same refusals as the C unit test (KDF bounds, recovery code syntax, proofs of work
 * over 32 bits, the password policy, non-canonical base64) and the key bundle of generated keys,
 * unwrapped into non-extractable CryptoKeys.
 */
import assert from 'node:assert/strict';
import { createHash, createPrivateKey } from 'node:crypto';
import { test } from 'node:test';
import {
  AccountKind, DEFAULT_KDF, b64decode, b64encode, canonicalRecoveryCode, checkKdf, checkSalt, decodeBundle,
  deriveAccountKeys, deriveRecoveryKey, encodeBundle, generateAccountKeys, importBundle, leadingZeroBits,
  newRecoveryCode, normalizePassword, passwordStrength, prepareRegistration, publicKeyPem, solvePow,
  unwrapBundle, unwrapWithRecoveryCode, wrapBundle,
} from '../../src/account/index.js';
import { Kind, pemBlocks, toHex } from '../../src/container/index.js';
import { oaepUnwrap, oaepWrap, sign, verify } from '../../src/container/primitives.js';
import { cVectors } from './helpers.js';

const V = cVectors();
const SALT = V.bytes.SALT;
const subtle = globalThis.crypto.subtle;
const FAST_KDF = { alg: 'argon2id', t: 2, m: 19456, p: 1 }; // the server's minimum, for speed

const rejectsKind = (promise, kind, what) => assert.rejects(promise, (e) => e.kind === kind, what);
const throwsKind = (fn, kind, what) => assert.throws(fn, (e) => e.kind === kind, what);

/** Whether a non-extractable AES-GCM CryptoKey is the key of these bytes: both encrypt alike. */
async function sameAesKey(cryptoKey, raw) {
  const other = await subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt']);
  const iv = new Uint8Array(12);
  const msg = new TextEncoder().encode('which key is this?');
  const a = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv }, cryptoKey, msg));
  const b = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv }, other, msg));
  return toHex(a) === toHex(b);
}

test('the C vectors are there', () => {
  for (const name of ['ascii_auth', 'ascii_wrap', 'nfc_auth', 'nfc_wrap', 'recovery_key', 'wrapped']) {
    assert.ok(V.bytes[name], `${name} in test_account.c`);
  }
  assert.equal(new TextDecoder().decode(SALT), 'medcrypt-salt-16');
});

test('auth and wrap keys of an ASCII password (§13 vector)', async () => {
  const events = [];
  const { authKey, wrapKey } = await deriveAccountKeys('correct horse battery staple', SALT, DEFAULT_KDF, { onProgress: (e) => events.push(e) });
  assert.equal(toHex(authKey), toHex(V.bytes.ascii_auth));
  assert.ok(await sameAesKey(wrapKey, V.bytes.ascii_wrap), 'wrap key');
  assert.equal(wrapKey.extractable, false, 'the wrap key never exists as bytes');
  await assert.rejects(subtle.exportKey('raw', wrapKey));
  assert.deepEqual(events.map((e) => `${e.phase}:${e.state}:${e.purpose}`), ['argon2id:start:password', 'argon2id:end:password']);
});

test('a password is hashed as NFC: composed and decomposed spellings give the vector', async () => {
  const composed = 'Cr\u00e8me br\u00fbl\u00e9e au caf\u00e9 noir';
  const decomposed = 'Cre\u0300me bru\u0302le\u0301e au cafe\u0301 noir';
  assert.notEqual(composed, decomposed);
  for (const pw of [composed, decomposed]) {
    const { authKey, wrapKey } = await deriveAccountKeys(pw, SALT, DEFAULT_KDF);
    assert.equal(toHex(authKey), toHex(V.bytes.nfc_auth));
    assert.ok(await sameAesKey(wrapKey, V.bytes.nfc_wrap));
  }
  assert.equal(toHex(normalizePassword(decomposed)), toHex(new TextEncoder().encode(composed)));
});

test('the salt changes the keys; bad passwords are misuse', async () => {
  const salt2 = SALT.slice();
  salt2[0] ^= 1;
  const { authKey } = await deriveAccountKeys('correct horse battery staple', salt2, DEFAULT_KDF);
  assert.notEqual(toHex(authKey), toHex(V.bytes.ascii_auth));
  throwsKind(() => normalizePassword('abc\ud800 def ghi jkl'), Kind.MISUSE, 'a lone surrogate has no UTF-8');
  throwsKind(() => normalizePassword(''), Kind.MISUSE, 'empty');
  throwsKind(() => normalizePassword('\u00e9'.repeat(2049)), Kind.MISUSE, 'non-ASCII over 4096 bytes, as the CLI');
  assert.equal(normalizePassword('a'.repeat(5000)).length, 5000, 'ASCII of any length, as the CLI');
});

test('KDF bounds: the C test\'s refusals, before any memory is spent', async () => {
  const bad = [[1, 65536, 1], [3, 19455, 1], [3, 1048577, 1], [3, 65536, 0], [3, 65536, 17], [65, 65536, 1]];
  for (const [t, m, p] of bad) {
    throwsKind(() => checkKdf({ alg: 'argon2id', t, m, p }), AccountKind.KDF, `t=${t} m=${m} p=${p}`);
    await rejectsKind(deriveAccountKeys('x', SALT, { alg: 'argon2id', t, m, p }), AccountKind.KDF);
  }
  throwsKind(() => checkKdf({ alg: 'argon2i', t: 3, m: 65536, p: 1 }), AccountKind.KDF, 'another algorithm');
  throwsKind(() => checkKdf({ alg: 'argon2id', t: 3.5, m: 65536, p: 1 }), AccountKind.KDF, 'not an integer');
  throwsKind(() => checkKdf({ alg: 'argon2id', t: '3', m: 65536, p: 1 }), AccountKind.KDF, 'a string');
  assert.deepEqual({ ...checkKdf({ alg: 'argon2id', t: 2, m: 19456, p: 1 }) }, FAST_KDF);
});

test('salts: 16 bytes, not one byte repeated', () => {
  throwsKind(() => checkSalt(new Uint8Array(16)), AccountKind.KDF, 'all zero');
  throwsKind(() => checkSalt(new Uint8Array(16).fill(0x41)), AccountKind.KDF, 'repeated byte');
  throwsKind(() => checkSalt(new Uint8Array(15).fill(7).map((x, i) => x + i)), AccountKind.KDF, '15 bytes');
  checkSalt(SALT);
});

test('recovery key (§13 vector); codes read ignoring case and dashes; bad codes are misuse', async () => {
  const events = [];
  const key = await deriveRecoveryKey('ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567', SALT, DEFAULT_KDF, { onProgress: (e) => events.push(e.purpose) });
  assert.ok(await sameAesKey(key, V.bytes.recovery_key));
  assert.equal(key.extractable, false);
  assert.deepEqual(events, ['recovery', 'recovery']);
  assert.equal(canonicalRecoveryCode('abcdefghijklmnopqrstuvwxyz234567'), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567');
  assert.equal(canonicalRecoveryCode('abcd efgh-ijkl mnop-qrst uvwx-yz23 4567'), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567');
  assert.ok(await sameAesKey(await deriveRecoveryKey('abcdefghijklmnopqrstuvwxyz234567', SALT, DEFAULT_KDF), V.bytes.recovery_key));
  throwsKind(() => canonicalRecoveryCode('ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-456'), Kind.MISUSE, 'short');
  throwsKind(() => canonicalRecoveryCode('ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4561'), Kind.MISUSE, "'1' is not base32");
});

test('new recovery codes: 32 base32 characters in groups of four, 160 random bits', () => {
  const a = newRecoveryCode();
  const b = newRecoveryCode();
  assert.match(a, /^[A-Z2-7]{4}(-[A-Z2-7]{4}){7}$/);
  assert.notEqual(a, b);
  // base32 back to 20 bytes: every one of the 160 bits is used (no fixed padding bits)
  const seen = new Set();
  for (let i = 0; i < 64; i++) seen.add(newRecoveryCode()[38]);
  assert.ok(seen.size > 8, 'the last character varies over the whole alphabet');
});

test('the key-bundle wrap: python\'s vector unwraps; flips, truncation refused; fresh nonces', async () => {
  const raw = Uint8Array.from({ length: 32 }, (_, i) => i);
  const key = await subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
  const expect = Uint8Array.from([0, 0, 0, 3, ...new TextEncoder().encode('abc'), 0, 0, 0, 2, ...new TextEncoder().encode('de')]);
  const wrapped = V.bytes.wrapped;
  assert.equal(toHex(await unwrapBundle(key, wrapped)), toHex(expect));
  const parts = decodeBundle(expect);
  assert.equal(new TextDecoder().decode(parts.encPkcs8), 'abc');
  assert.equal(new TextDecoder().decode(parts.signPkcs8), 'de');
  for (let i = 0; i < wrapped.length; i += 7) {
    const bad = wrapped.slice();
    bad[i] ^= 1;
    await rejectsKind(unwrapBundle(key, bad), Kind.KEY, `flip ${i}`);
  }
  await rejectsKind(unwrapBundle(key, wrapped.subarray(0, 27)), Kind.KEY, 'short wrap');
  const w = await wrapBundle(key, expect);
  assert.equal(w.length, wrapped.length);
  assert.notEqual(toHex(w.subarray(0, 12)), toHex(wrapped.subarray(0, 12)), 'fresh nonce');
  assert.equal(toHex(await unwrapBundle(key, w)), toHex(expect));
  throwsKind(() => decodeBundle(expect.subarray(0, expect.length - 1)), Kind.KEY, 'truncated bundle');
  throwsKind(() => decodeBundle(Uint8Array.from([0, 0, 0, 9, 1, 2, 3, 4])), Kind.KEY, 'first length too long');
  assert.equal(toHex(encodeBundle(parts.encPkcs8, parts.signPkcs8)), toHex(expect));
});

test('proof of work: the nonce meets the bits (checked with node:crypto); over 32 bits refused', async () => {
  const challenge = new Uint8Array(32).fill(0x5a);
  const events = [];
  const nonce = await solvePow(challenge, 14, { onProgress: (e) => events.push(e.state) });
  assert.equal(nonce.length, 8);
  const md = createHash('sha256').update(challenge).update(nonce).digest();
  assert.ok(md[0] === 0 && (md[1] & 0xfc) === 0, `14 leading zero bits: ${md.subarray(0, 2).toString('hex')}`);
  assert.equal(events[0], 'start');
  assert.equal(events.at(-1), 'end');
  await rejectsKind(solvePow(challenge, 33), AccountKind.POW, '33 bits');
  assert.equal(leadingZeroBits(Uint8Array.from([0, 0, 0x10])), 19);
  assert.equal(leadingZeroBits(Uint8Array.from([0x80])), 0);
  assert.equal(leadingZeroBits(Uint8Array.from([0, 0, 0, 0]), 20), 24);
});

test('password policy: the C test\'s lists (12 characters, zxcvbn score 3, user name known)', async () => {
  // zxcvbn-c (the CLI) and zxcvbn in JavaScript are different estimators: this one finds
  // "alice-medcrypt1" worth 3.4e9 guesses (score 3) where zxcvbn-c finds fewer. Pinned here so
  // that a change of either shows.
  const KNOWN_DIFFERENCES = new Set(['alice-medcrypt1']);
  assert.ok(V.weak.length >= 5);
  for (const pw of V.weak) {
    const s = await passwordStrength(pw, { username: 'alice' });
    if (KNOWN_DIFFERENCES.has(pw)) assert.ok(s.ok && s.score === 3, `${pw}: score ${s.score}`);
    else assert.equal(s.ok, false, `weak accepted: ${pw}`);
  }
  assert.equal((await passwordStrength(V.strong, { username: 'alice' })).ok, true);
  const short = await passwordStrength('Zq8#vT1!pW', { username: 'alice' });
  assert.ok(!short.ok && short.chars === 10, 'too short, however random');
  assert.equal((await passwordStrength('\u00e9'.repeat(11) + 'x', {})).chars, 12, 'characters, not bytes');
  const long = await passwordStrength('violet harbour copper lantern '.repeat(20), { username: 'alice' });
  assert.ok(long.ok, 'a long password is judged by its first 100 characters, quickly');
  assert.equal((await passwordStrength('alicealicealice', { username: 'alice' })).ok, false, 'the user name is a known word');
});

test('base64: canonical only, as the CLI', () => {
  const data = Uint8Array.from([0, 1, 2, 250, 251, 252, 253]);
  for (let n = 0; n <= data.length; n++) {
    const s = b64encode(data.subarray(0, n));
    assert.equal(toHex(b64decode(s)), toHex(data.subarray(0, n)));
  }
  for (const bad of ['abc', 'AB==', ' AA=', 'A===', 'AA=A', 'AA\nA', 42]) assert.equal(b64decode(bad), null, String(bad));
});

/** A directory entry (USER of §13) for keys, as the server shows it. */
async function userEntry(encSpki, signSpki) {
  const fp = async (d) => toHex(new Uint8Array(await subtle.digest('SHA-256', d)));
  return {
    username: 'alice',
    enc_public_key: publicKeyPem(encSpki),
    sign_public_key: publicKeyPem(signSpki),
    enc_fingerprint: await fp(encSpki),
    sign_fingerprint: await fp(signSpki),
  };
}

test('generated keys: RSA-OAEP 3072 + Ed25519, bundle of plain PKCS#8, unwrapped non-extractable', async () => {
  const keys = await generateAccountKeys();
  const { encPkcs8, signPkcs8 } = decodeBundle(keys.bundle);
  const enc = createPrivateKey({ key: Buffer.from(encPkcs8), format: 'der', type: 'pkcs8' });
  const sig = createPrivateKey({ key: Buffer.from(signPkcs8), format: 'der', type: 'pkcs8' });
  assert.equal(enc.asymmetricKeyType, 'rsa');
  assert.equal(enc.asymmetricKeyDetails.modulusLength, 3072);
  assert.equal(sig.asymmetricKeyType, 'ed25519');
  for (const k of [keys.identity.encryption.privateKey, keys.identity.signing.privateKey]) {
    assert.equal(k.extractable, false);
    await assert.rejects(subtle.exportKey('pkcs8', k));
  }
  const user = await userEntry(keys.encSpki, keys.signSpki);
  const copy = keys.bundle.slice();
  const identity = await importBundle(copy, user);
  assert.ok(copy.every((b) => b === 0), 'the bundle is wiped after import');
  assert.equal(identity.encryption.privateKey.extractable, false);
  assert.equal(identity.signing.privateKey.extractable, false);
  assert.equal(toHex(identity.encryption.fingerprint), user.enc_fingerprint);
  // the unwrapped keys work: an OAEP wrap to the public key opens, a signature verifies
  const pub = await subtle.importKey('spki', keys.encSpki, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['encrypt']);
  const fileKey = globalThis.crypto.getRandomValues(new Uint8Array(32));
  assert.equal(toHex(await oaepUnwrap(identity.encryption.privateKey, await oaepWrap(pub, fileKey))), toHex(fileKey));
  const msg = new TextEncoder().encode('signed');
  const signPub = await subtle.importKey('spki', keys.signSpki, 'Ed25519', false, ['verify']);
  assert.ok(await verify(1, signPub, await sign(1, identity.signing.privateKey, msg), msg));

  // another user's public keys: refused as key; a fingerprint that is not the key's: server
  const other = await generateAccountKeys();
  await rejectsKind(importBundle(keys.bundle.slice(), await userEntry(other.encSpki, keys.signSpki)), Kind.KEY, 'other encryption key');
  await rejectsKind(importBundle(keys.bundle.slice(), await userEntry(keys.encSpki, other.signSpki)), Kind.KEY, 'other signing key');
  await rejectsKind(importBundle(keys.bundle.slice(), { ...user, enc_fingerprint: '00'.repeat(32) }), AccountKind.SERVER, 'bad fingerprint');
  const bad = keys.bundle.slice(0, keys.bundle.length - 1);
  await rejectsKind(importBundle(bad, user), Kind.KEY, 'truncated');
  assert.ok(bad.every((b) => b === 0), 'wiped on the error path too');
});

test('a registration: both wrapped copies open, with the password and with the recovery code', async () => {
  const password = 'violet harbour copper lantern 47 web';
  const events = [];
  const reg = await prepareRegistration({ username: 'alice', password, kdf: FAST_KDF, onProgress: (e) => events.push(`${e.phase}:${e.state}`) });
  assert.deepEqual(events, ['keygen:start', 'keygen:end', 'argon2id:start', 'argon2id:end', 'argon2id:start', 'argon2id:end']);
  const r = reg.request;
  assert.deepEqual(r.kdf, FAST_KDF);
  assert.equal(b64decode(r.salt).length, 16);
  assert.equal(b64decode(r.auth_key).length, 32);
  assert.match(r.enc_public_key, /^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+\n-----END PUBLIC KEY-----\n$/);
  assert.match(reg.recoveryCode, /^[A-Z2-7]{4}(-[A-Z2-7]{4}){7}$/);
  const salt = b64decode(r.salt);
  const fp = async (pem) => toHex(new Uint8Array(await subtle.digest('SHA-256', pemBlocks(pem)[0].der)));
  const user = { username: 'alice', enc_public_key: r.enc_public_key, sign_public_key: r.sign_public_key, enc_fingerprint: await fp(r.enc_public_key), sign_fingerprint: await fp(r.sign_public_key) };
  const { authKey, wrapKey } = await deriveAccountKeys(password, salt, FAST_KDF);
  assert.equal(b64encode(authKey), r.auth_key, 'the auth key sent is the password\'s');
  const id1 = await importBundle(await unwrapBundle(wrapKey, b64decode(r.wrapped_keys.password)), user);
  const id2 = await unwrapWithRecoveryCode(reg.recoveryCode.toLowerCase(), { salt, kdf: FAST_KDF, wrapped: b64decode(r.wrapped_keys.recovery), user });
  assert.equal(toHex(id1.encryption.fingerprint), toHex(reg.identity.encryption.fingerprint));
  assert.equal(toHex(id2.signing.fingerprint), toHex(reg.identity.signing.fingerprint));
  const other = newRecoveryCode();
  await rejectsKind(unwrapWithRecoveryCode(other, { salt, kdf: FAST_KDF, wrapped: b64decode(r.wrapped_keys.recovery), user }), Kind.KEY, 'wrong recovery code');
  await rejectsKind(prepareRegistration({ username: 'alice', password: 'password1234', kdf: FAST_KDF }), AccountKind.WEAK_PASSWORD);
  await rejectsKind(prepareRegistration({ username: 'Alice', password, kdf: FAST_KDF }), Kind.MISUSE, 'user names are lower case');
});
