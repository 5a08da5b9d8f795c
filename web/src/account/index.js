/**
 * index.js: medcrypt accounts in JavaScript (docs/API.md §13), interoperable with the CLI
 * (src/medcrypt/account.c, cmd_account.c): an account made here logs in from `medcrypt login`
 * and the other way round. One module per concept: errors (account failure kinds), base64,
 * password (NFC, strength policy), kdf (Argon2id + HKDF), recovery (the recovery code), bundle
 * (key bundle, its AES-GCM wrap, key generation and non-extractable unwrap), pow (proof of work),
 * memory (remembered KDF parameters), connection (fetch, CSRF, errors), protocol (pre-login,
 * login, register, reauth, me, logout).
 */
export { AccountKind, httpError } from './errors.js';
export { b64encode, b64decode } from './base64.js';
export { MIN_PASSWORD_CHARS, MIN_PASSWORD_SCORE, normalizePassword, passwordStrength, requireStrongPassword } from './password.js';
export { DEFAULT_KDF, KDF_BOUNDS, SALT_LEN, checkKdf, checkSalt, argon2id, deriveAccountKeys, deriveRecoveryKey } from './kdf.js';
export { newRecoveryCode, canonicalRecoveryCode } from './recovery.js';
export { encodeBundle, decodeBundle, wrapBundle, unwrapBundle, generateAccountKeys, importBundle, publicKeyPem, publicKeyFromPem } from './bundle.js';
export { MAX_POW_BITS, solvePow, leadingZeroBits } from './pow.js';
export { checkRemembered, remember } from './memory.js';
export { Connection } from './connection.js';
export { validUsername, prelogin, login, reauth, prepareRegistration, register, unwrapWithRecoveryCode, me, logout } from './protocol.js';
