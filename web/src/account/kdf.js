/**
 * kdf.js: the keys of docs/API.md §13, derived on the client from the password (or the recovery
 * code) with Argon2id (hash-wasm: WebCrypto has no Argon2) and HKDF-SHA-256 (WebCrypto):
 *
 *   master       = Argon2id(NFC password, salt, t, m, p, 32 bytes), version 0x13
 *   auth_key     = HKDF-SHA-256(master, salt "", info "medcrypt/v1 account auth", 32)  -> sent
 *   wrap_key     = HKDF-SHA-256(master, salt "", info "medcrypt/v1 account wrap", 32)  -> never sent
 *   recovery_key = HKDF-SHA-256(Argon2id(code, ...), "", "medcrypt/v1 recovery wrap", 32)
 *
 * The wrapping keys never exist as bytes: HKDF derives them straight into non-extractable
 * AES-GCM CryptoKeys. The master key and the password bytes are wiped as soon as HKDF holds
 * them; the authentication key is returned as bytes (it goes on the wire) for the caller to wipe.
 * Parameters are checked against the CLI's bounds before any memory is spent, so a hostile
 * server cannot make the browser allocate gigabytes or spin for hours.
 *
 * hash-wasm compiles WebAssembly, so a page using this needs 'wasm-unsafe-eval' in its CSP
 * script-src. Its WebAssembly memories (the Argon2 blocks) are dropped after each call, not zeroed:
 * JavaScript gives no way to wipe them.
 */
import { argon2id as argon2idWasm } from 'hash-wasm';
import { hkdf, hkdfInput, hkdfKey } from '../container/primitives.js';
import { AccountKind, refuse } from './errors.js';
import { normalizePassword } from './password.js';
import { canonicalRecoveryCode } from './recovery.js';

/** The salt length of §13. */
export const SALT_LEN = 16;
/** The KDF parameters of new accounts (§13; m in KiB). */
export const DEFAULT_KDF = Object.freeze({ alg: 'argon2id', t: 3, m: 65536, p: 1 });
/** The bounds the CLI and the server accept (API.md §13, §19). */
export const KDF_BOUNDS = Object.freeze({ t: [2, 64], m: [19456, 1048576], p: [1, 16] });

const INFO_AUTH = new TextEncoder().encode('medcrypt/v1 account auth');
const INFO_WRAP = new TextEncoder().encode('medcrypt/v1 account wrap');
const INFO_RECOVERY = new TextEncoder().encode('medcrypt/v1 recovery wrap');
const NO_SALT = new Uint8Array(0);

/**
 * `{alg, t, m, p}` checked against {@link KDF_BOUNDS}: a fresh frozen copy, or McError('kdf')
 * for another algorithm, a non-integer or a value out of bounds.
 */
export function checkKdf(kdf) {
  if (!kdf || typeof kdf !== 'object' || kdf.alg !== 'argon2id') refuse(AccountKind.KDF, 'the KDF is not argon2id');
  for (const k of ['t', 'm', 'p']) {
    const v = kdf[k];
    const [lo, hi] = KDF_BOUNDS[k];
    if (!Number.isSafeInteger(v) || v < lo || v > hi) {
      refuse(AccountKind.KDF, `Argon2id parameters out of bounds (t=${kdf.t}, m=${kdf.m} KiB, p=${kdf.p}): refusing them`);
    }
  }
  return Object.freeze({ alg: 'argon2id', t: kdf.t, m: kdf.m, p: kdf.p });
}

/**
 * Checks a salt: 16 bytes, and not one byte repeated 16 times (all zeros included), which no
 * random salt is but a server that gives every account the same salt might send.
 * McError('kdf') otherwise.
 */
export function checkSalt(salt) {
  if (!(salt instanceof Uint8Array) || salt.length !== SALT_LEN) refuse(AccountKind.KDF, `the salt is not ${SALT_LEN} bytes`);
  if (salt.every((b) => b === salt[0])) refuse(AccountKind.KDF, 'the server sent a degenerate salt (one byte repeated): refusing it');
}

/** Argon2id (v0x13) of secret bytes, 32 bytes out. Checks kdf and salt first. */
export async function argon2id(secret, salt, kdf) {
  const k = checkKdf(kdf);
  checkSalt(salt);
  return argon2idWasm({
    password: secret,
    salt,
    iterations: k.t,
    memorySize: k.m,
    parallelism: k.p,
    hashLength: 32,
    outputType: 'binary',
  });
}

/** HKDF of master into the auth key (bytes) and/or a non-extractable AES-GCM key; wipes master. */
async function split(master, infos) {
  try {
    const input = await hkdfInput(master);
    return await Promise.all(infos.map(([info, asKey]) => (asKey ? hkdfKey(input, NO_SALT, info, 'AES-GCM') : hkdf(input, NO_SALT, info))));
  } finally {
    master.fill(0);
  }
}

/**
 * The account keys of a password (§13): resolves to `{authKey, wrapKey}`, authKey 32 bytes
 * (the caller sends it as base64 and wipes it), wrapKey a non-extractable AES-256-GCM CryptoKey.
 * `onProgress` (optional) is called with `{phase: 'argon2id', state: 'start' | 'end', purpose:
 * 'password'}` around the Argon2id run, which takes about a second at the defaults.
 * Failures: McError misuse (the password), kdf (parameters or salt).
 */
export async function deriveAccountKeys(password, salt, kdf, { onProgress } = {}) {
  const k = checkKdf(kdf);
  checkSalt(salt);
  const secret = normalizePassword(password);
  let master;
  onProgress?.({ phase: 'argon2id', state: 'start', purpose: 'password', kdf: k });
  try {
    master = await argon2id(secret, salt, k);
  } finally {
    secret.fill(0);
  }
  onProgress?.({ phase: 'argon2id', state: 'end', purpose: 'password', kdf: k });
  const [authKey, wrapKey] = await split(master, [[INFO_AUTH, false], [INFO_WRAP, true]]);
  return { authKey, wrapKey };
}

/** The recovery wrapping key of a code (§13): a non-extractable AES-256-GCM CryptoKey. */
export async function deriveRecoveryKey(code, salt, kdf, { onProgress } = {}) {
  const secret = new TextEncoder().encode(canonicalRecoveryCode(code));
  let master;
  onProgress?.({ phase: 'argon2id', state: 'start', purpose: 'recovery', kdf });
  try {
    master = await argon2id(secret, salt, kdf);
  } finally {
    secret.fill(0);
  }
  onProgress?.({ phase: 'argon2id', state: 'end', purpose: 'recovery', kdf });
  const [key] = await split(master, [[INFO_RECOVERY, true]]);
  return key;
}
