/**
 * protocol.js: the client side of the account routes of docs/API.md §13 as plain functions over
 * a Connection, step for step as the CLI does them (src/medcrypt/cmd_account.c):
 *
 *   login:    pre-login (salt, KDF, maybe a proof of work) -> checks on what the server asks
 *             -> Argon2id and HKDF on the client -> POST login with auth_key (solving a proof
 *             of work when asked, retrying a busy server) -> CSRF token kept -> the password
 *             copy of the key bundle unwrapped into non-extractable CryptoKeys
 *   register: keys generated -> salt, Argon2id -> bundle wrapped under the password and under a
 *             new recovery code -> POST register with the invitation
 *   reauth, me, logout, logout-all.
 *
 * The password never leaves these functions; only auth_key does (as base64 in a JSON body,
 * a string JavaScript cannot wipe). Every byte array that held a key is wiped on every path.
 * `onProgress` callbacks get `{phase, state, ...}` with phase 'prelogin', 'argon2id', 'pow',
 * 'login', 'unwrap', 'keygen', 'register' or 'reauth' and state 'start', 'end' (and 'progress'
 * for 'pow'), so a page can show that the ~1 s of Argon2id is running.
 */
import { Kind, McError } from '../container/errors.js';
import { toHex } from '../container/bytes.js';
import { AccountKind, refuse } from './errors.js';
import { b64decode, b64encode } from './base64.js';
import { DEFAULT_KDF, SALT_LEN, checkKdf, checkSalt, deriveAccountKeys, deriveRecoveryKey } from './kdf.js';
import { newRecoveryCode } from './recovery.js';
import { requireStrongPassword } from './password.js';
import { generateAccountKeys, importBundle, publicKeyPem, unwrapBundle, wrapBundle } from './bundle.js';
import { checkRemembered, remember } from './memory.js';
import { MAX_POW_BITS, solvePow } from './pow.js';

const AUTH_ATTEMPTS = 8; //  proofs of work and busy answers before giving up (the CLI's count)
const BUSY_RETRIES = 4;

/** Whether a user name is valid (§12): 1 to 64 of [a-z0-9._-], starting with a letter or digit. */
export function validUsername(name) {
  return typeof name === 'string' && /^[a-z0-9][a-z0-9._-]{0,63}$/.test(name);
}

function checkUsername(name) {
  if (!validUsername(name)) {
    throw new McError(Kind.MISUSE, 'not a user name (1 to 64 of a-z, 0-9, ".", "_", "-", starting with a letter or digit)');
  }
}

function malformed(what) {
  return refuse(AccountKind.SERVER, `${what}: malformed answer from the server`);
}

/** A pow object of the server ({challenge, bits}) checked: bytes and bits, or McError. */
function parsePow(pow, what) {
  const challenge = b64decode(pow?.challenge);
  if (!challenge || !Number.isSafeInteger(pow?.bits) || pow.bits < 0) malformed(what);
  if (pow.bits > MAX_POW_BITS) refuse(AccountKind.POW, `the server asks for an unreasonable proof of work (${pow.bits} bits)`);
  return { challengeB64: pow.challenge, challenge, bits: pow.bits };
}

/**
 * POST /api/v1/prelogin (§13): resolves to `{salt, kdf, pow}` (pow null or `{challenge, bits}`
 * as sent), after the checks the CLI makes and more: the KDF within the bounds of kdf.js, a
 * salt of 16 bytes that is not one byte repeated, and, with `memory` (memory.js), parameters no
 * weaker than those remembered for this user at this server and a salt not remembered for
 * another account. McError kdf or pow for what this client refuses; server for a malformed answer.
 */
export async function prelogin(conn, username, { memory } = {}) {
  checkUsername(username);
  const { body } = await conn.request('POST', '/api/v1/prelogin', { json: { username }, csrf: false, what: 'pre-login' });
  const salt = b64decode(body?.salt);
  if (!salt || salt.length !== SALT_LEN || !body.kdf || typeof body.kdf !== 'object') malformed('pre-login');
  const kdf = checkKdf(body.kdf);
  checkSalt(salt);
  await checkRemembered(memory, conn.origin, username, salt, kdf);
  let pow = null;
  if (body.pow !== null && body.pow !== undefined) {
    parsePow(body.pow, 'pre-login');
    pow = body.pow;
  }
  return { salt, kdf, pow };
}

/**
 * POSTs a body that carries an auth key until it is not refused for a missing proof of work or
 * a busy server, as the CLI's post_auth(): a `pow` from the pre-login or from a 403
 * pow_required is solved and added; a 503 is retried up to 4 times after its Retry-After (at
 * most 10 s). Resolves to the answer's body.
 */
async function postAuth(conn, path, body, pow, { expect, what, onProgress, signal }) {
  let pending = pow;
  let busy = 0;
  for (let attempt = 0; attempt < AUTH_ATTEMPTS; attempt++) {
    delete body.pow;
    if (pending) {
      const p = parsePow(pending, what);
      const nonce = await solvePow(p.challenge, p.bits, { onProgress, signal });
      body.pow = { challenge: p.challengeB64, nonce: b64encode(nonce) };
      pending = null;
    }
    try {
      return (await conn.request('POST', path, { json: body, expect: [expect], csrf: path === '/api/v1/reauth', what })).body;
    } catch (e) {
      if (e.status === 403 && e.code === 'pow_required' && e.body?.pow && typeof e.body.pow === 'object') {
        pending = e.body.pow;
        continue;
      }
      if (e.status === 503 && busy++ < BUSY_RETRIES) {
        const wait = e.retryAfter > 0 && e.retryAfter <= 10 ? e.retryAfter : 2;
        await conn.sleep(wait * 1000);
        continue;
      }
      throw e;
    }
  }
  return refuse(AccountKind.BUSY, `${what}: the server kept refusing (proof of work or busy)`);
}

/**
 * Logs in (§13). Resolves to `{user, identity, csrfToken}`: user is USER of §13, identity the
 * user's keys unwrapped from the password copy as the container's importIdentity() gives them
 * (non-extractable CryptoKeys, checked against the user's directory entry). The Connection
 * keeps the CSRF token; the fetch function keeps the session cookie.
 *
 * Options: `memory` (memory.js storage, strongly advised), `onProgress`, `signal` (aborts a
 * proof of work). Failures: McError 'bad credentials' (wrong password or unknown user: the
 * server does not say which), 'locked' (with retryAfter), 'busy', 'kdf' and 'pow' (refused
 * before the password is used), 'server', 'network', key (the keys do not unwrap or match).
 */
export async function login(conn, { username, password, memory, onProgress, signal } = {}) {
  checkUsername(username);
  onProgress?.({ phase: 'prelogin', state: 'start' });
  const pl = await prelogin(conn, username, { memory });
  onProgress?.({ phase: 'prelogin', state: 'end' });
  const { authKey, wrapKey } = await deriveAccountKeys(password, pl.salt, pl.kdf, { onProgress });
  let answer;
  try {
    const body = { username, auth_key: b64encode(authKey) };
    onProgress?.({ phase: 'login', state: 'start' });
    answer = await postAuth(conn, '/api/v1/login', body, pl.pow, { expect: 200, what: 'login', onProgress, signal });
    onProgress?.({ phase: 'login', state: 'end' });
  } finally {
    authKey.fill(0);
  }
  const user = answer?.user;
  const wrapped = b64decode(answer?.wrapped_keys?.password);
  if (typeof answer?.csrf_token !== 'string' || !user || user.username !== username || !wrapped) malformed('login');
  conn.csrfToken = answer.csrf_token;
  await remember(memory, conn.origin, username, pl.salt, pl.kdf);
  onProgress?.({ phase: 'unwrap', state: 'start' });
  const identity = await importBundle(await unwrapBundle(wrapKey, wrapped), user);
  onProgress?.({ phase: 'unwrap', state: 'end' });
  return { user, identity, csrfToken: conn.csrfToken };
}

/**
 * POST /api/v1/reauth (§13): opens the 5-minute window that sharing, revoking and key changes
 * need. Pre-login and Argon2id as for login; counts toward the lockout like a login.
 */
export async function reauth(conn, { username, password, memory, onProgress, signal } = {}) {
  checkUsername(username);
  onProgress?.({ phase: 'prelogin', state: 'start' });
  const pl = await prelogin(conn, username, { memory });
  onProgress?.({ phase: 'prelogin', state: 'end' });
  const { authKey } = await deriveAccountKeys(password, pl.salt, pl.kdf, { onProgress });
  try {
    onProgress?.({ phase: 'reauth', state: 'start' });
    await postAuth(conn, '/api/v1/reauth', { auth_key: b64encode(authKey) }, pl.pow, { expect: 204, what: 're-authentication', onProgress, signal });
    onProgress?.({ phase: 'reauth', state: 'end' });
  } finally {
    authKey.fill(0);
  }
}

/**
 * Everything a registration sends, made on the client (§13): keys (generateAccountKeys), a
 * random salt, auth_key and wrap_key from the password, a recovery code and its key, and the
 * bundle wrapped under both. Resolves to `{request, identity, recoveryCode}`: request is the
 * register body without `invitation` (it holds auth_key: send it, then drop it), identity the new
 * keys as non-extractable CryptoKeys, recoveryCode the code to show the user once. Checks the
 * password policy first (McError 'weak password'). `kdf` defaults to §13's t=3, m=64 MiB, p=1.
 */
export async function prepareRegistration({ username, displayName = username, password, kdf = DEFAULT_KDF, rsaBits = 3072, onProgress } = {}) {
  checkUsername(username);
  const k = checkKdf(kdf);
  await requireStrongPassword(password, { username });
  onProgress?.({ phase: 'keygen', state: 'start' });
  const keys = await generateAccountKeys({ rsaBits });
  onProgress?.({ phase: 'keygen', state: 'end' });
  const { bundle } = keys;
  let authKey;
  try {
    let salt;
    do salt = globalThis.crypto.getRandomValues(new Uint8Array(SALT_LEN));
    while (salt.every((b) => b === salt[0]));
    const derived = await deriveAccountKeys(password, salt, k, { onProgress });
    authKey = derived.authKey;
    const recoveryCode = newRecoveryCode();
    const recoveryKey = await deriveRecoveryKey(recoveryCode, salt, k, { onProgress });
    const wrappedPassword = await wrapBundle(derived.wrapKey, bundle);
    const wrappedRecovery = await wrapBundle(recoveryKey, bundle);
    const request = {
      username,
      display_name: displayName,
      salt: b64encode(salt),
      kdf: { alg: 'argon2id', t: k.t, m: k.m, p: k.p },
      auth_key: b64encode(authKey),
      enc_public_key: publicKeyPem(keys.encSpki),
      sign_public_key: publicKeyPem(keys.signSpki),
      wrapped_keys: { password: b64encode(wrappedPassword), recovery: b64encode(wrappedRecovery) },
    };
    return { request, identity: keys.identity, recoveryCode };
  } finally {
    bundle.fill(0);
    authKey?.fill(0);
  }
}

/**
 * Registers (§13) with an invitation code (null or undefined: a patient's self-registration,
 * when the server allows it). Resolves to `{user, identity, recoveryCode, csrfToken}`; the
 * Connection keeps the CSRF token and the fetch function the session cookie. The recovery code is
 * shown to the user once and kept nowhere. Also checks that the server recorded the keys made
 * here (fingerprints). Failures: McError 'weak password', 'conflict' (invitation unknown, used or
 * expired, name taken), 'forbidden' (no invitation and no self-registration), 'bad request',
 * 'busy', 'server', 'network'.
 */
export async function register(conn, { invitation, username, displayName, password, memory, kdf, rsaBits, onProgress } = {}) {
  const { request, identity, recoveryCode } = await prepareRegistration({ username, displayName, password, kdf, rsaBits, onProgress });
  const body = invitation == null ? request : { invitation, ...request };
  onProgress?.({ phase: 'register', state: 'start' });
  const answer = await postAuth(conn, '/api/v1/register', body, null, { expect: 201, what: 'registration', onProgress });
  onProgress?.({ phase: 'register', state: 'end' });
  const user = answer?.user;
  if (typeof answer?.csrf_token !== 'string' || !user || user.username !== username) malformed('registration');
  conn.csrfToken = answer.csrf_token;
  if (user.enc_fingerprint !== toHex(identity.encryption.fingerprint) || user.sign_fingerprint !== toHex(identity.signing.fingerprint)) {
    refuse(AccountKind.SERVER, 'the server recorded other keys than the ones made here');
  }
  await remember(memory, conn.origin, username, b64decode(request.salt), request.kdf);
  return { user, identity, recoveryCode, csrfToken: conn.csrfToken };
}

/**
 * The identity in the recovery copy of the key bundle (§13), unwrapped with the recovery code
 * under the account's salt and KDF parameters, checked against the user's directory entry.
 * (The server keeps the recovery copy; the route that hands it out is not built yet.)
 */
export async function unwrapWithRecoveryCode(code, { salt, kdf, wrapped, user, onProgress }) {
  const key = await deriveRecoveryKey(code, salt, kdf, { onProgress });
  return importBundle(await unwrapBundle(key, wrapped), user);
}

/** GET /api/v1/me (§13): resolves to `{user, session}` and keeps the answer's CSRF token. */
export async function me(conn) {
  const { body } = await conn.request('GET', '/api/v1/me', { what: 'me' });
  if (typeof body?.csrf_token !== 'string' || !body.user) malformed('me');
  conn.csrfToken = body.csrf_token;
  return { user: body.user, session: body.session };
}

/**
 * POST /api/v1/logout, or /logout-all with `everywhere` (§13): ends the session (every session
 * of the user) and forgets the CSRF token. A session the server had already ended is not an
 * error for a plain logout, as in the CLI.
 */
export async function logout(conn, { everywhere = false } = {}) {
  try {
    await conn.request('POST', everywhere ? '/api/v1/logout-all' : '/api/v1/logout', { expect: [204], what: 'logout' });
  } catch (e) {
    if (everywhere || e.kind !== AccountKind.UNAUTHENTICATED) throw e;
  } finally {
    conn.csrfToken = null;
  }
}
