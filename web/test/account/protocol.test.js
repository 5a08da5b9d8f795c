/**
 * protocol.test.js: the client side of docs/API.md §13 (src/account/protocol.js) against a fake
 * server in this process (a fetch function), for what a real medcryptd does not do on demand:
 * a server that lowers the KDF parameters it gave before, sends an all-zero, repeated or another
 * account's salt, asks for parameters or a proof of work out of bounds, answers busy, locks, or
 * returns keys that are not the user's. Also the order of the progress reports, where the CSRF
 * token is sent and where it is not, and that nothing is sent to /login after a refusal.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { beforeEach, test } from 'node:test';
import { AccountKind, Connection, b64decode, b64encode, login, logout, me, register, reauth } from '../../src/account/index.js';
import { Kind, pemBlocks, toHex } from '../../src/container/index.js';
import { mapStorage } from './helpers.js';

const PASSWORD = 'violet harbour copper lantern 47 web';
const KDF = { alg: 'argon2id', t: 3, m: 32768, p: 1 }; // above the minimum, so a server can lower it

const sha256 = (b) => createHash('sha256').update(b).digest();

/** A medcryptd in miniature: accounts in a Map, every request recorded, hooks to misbehave. */
class FakeServer {
  users = new Map();
  requests = [];
  csrf = null;
  powBits = 0; //       > 0: prelogin asks for a proof of work of that many bits
  challenges = new Set();
  hooks = {}; //        name -> function(answer, request) returning the answer to send

  fetch = async (url, init) => {
    const u = new URL(url);
    const body = init.body ? JSON.parse(init.body) : null;
    const headers = Object.fromEntries(Object.entries(init.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    const req = { method: init.method, path: u.pathname, body, headers };
    this.requests.push(req);
    let [status, answer, extra] = this.route(req);
    const hook = this.hooks[u.pathname.split('/').pop()];
    if (hook) [status, answer, extra] = hook([status, answer, extra], req) ?? [status, answer, extra];
    return new Response(status === 204 ? null : JSON.stringify(answer), { status, headers: { 'Content-Type': 'application/json', ...extra } });
  };

  newChallenge() {
    const c = b64encode(globalThis.crypto.getRandomValues(new Uint8Array(32)));
    this.challenges.add(c);
    return { challenge: c, bits: this.powBits };
  }

  route({ method, path, body, headers }) {
    const session = () => this.csrf && headers['x-csrf-token'] === this.csrf;
    if (method === 'POST' && path === '/api/v1/register') {
      const fp = (pem) => toHex(sha256(pemBlocks(pem)[0].der));
      const user = {
        username: body.username, display_name: body.display_name, role: 'doctor',
        enc_public_key: body.enc_public_key, sign_public_key: body.sign_public_key,
        enc_fingerprint: fp(body.enc_public_key), sign_fingerprint: fp(body.sign_public_key), created: 1,
      };
      this.users.set(body.username, { user, salt: body.salt, kdf: body.kdf, auth: body.auth_key, wrapped: body.wrapped_keys.password });
      this.csrf = `csrf-${Math.random()}`;
      return [201, { user, csrf_token: this.csrf }];
    }
    if (method === 'POST' && path === '/api/v1/prelogin') {
      const a = this.users.get(body.username);
      const salt = a ? a.salt : b64encode(sha256(`decoy ${body.username}`).subarray(0, 16));
      return [200, { salt, kdf: a ? a.kdf : { alg: 'argon2id', t: 3, m: 65536, p: 1 }, pow: this.powBits ? this.newChallenge() : null }];
    }
    if (method === 'POST' && path === '/api/v1/login') {
      if (this.powBits) {
        const ok = body.pow && this.challenges.delete(body.pow.challenge) &&
          sha256(Buffer.concat([b64decode(body.pow.challenge), b64decode(body.pow.nonce)])).readUInt32BE(0) >>> (32 - this.powBits) === 0;
        if (!ok) return [403, { error: 'pow_required', message: 'x', pow: this.newChallenge() }];
      }
      const a = this.users.get(body.username);
      if (!a || a.auth !== body.auth_key) return [401, { error: 'bad_credentials', message: 'x' }];
      this.csrf = `csrf-${Math.random()}`;
      return [200, { user: a.user, csrf_token: this.csrf, wrapped_keys: { password: a.wrapped } }];
    }
    if (method === 'POST' && path === '/api/v1/reauth') {
      if (!session()) return [403, { error: 'csrf', message: 'x' }];
      return [204, null];
    }
    if (method === 'GET' && path === '/api/v1/me') {
      if (!this.csrf) return [401, { error: 'unauthenticated', message: 'x' }];
      return [200, { user: [...this.users.values()][0].user, csrf_token: this.csrf, session: {} }];
    }
    if (method === 'POST' && path === '/api/v1/logout') {
      if (!this.csrf) return [401, { error: 'unauthenticated', message: 'x' }];
      if (!session()) return [403, { error: 'csrf', message: 'x' }];
      this.csrf = null;
      return [204, null];
    }
    return [404, { error: 'not_found', message: 'x' }];
  }

  count(path) {
    return this.requests.filter((r) => r.path === path).length;
  }
}

let server;
let memory;
const conn = () => new Connection({ fetch: server.fetch, baseUrl: 'https://medcryptd.test:8443', sleep: async () => {} });
const registerAs = (username, c = conn()) => register(c, { invitation: 'INVITE', username, password: PASSWORD, memory, kdf: KDF });

beforeEach(() => {
  server = new FakeServer();
  memory = mapStorage();
});

test('register, login, me, logout: CSRF token only where a session is; progress in order', async () => {
  const c = conn();
  const reg = await registerAs('alice', c);
  assert.equal(c.csrfToken, server.csrf);
  assert.equal(reg.user.username, 'alice');
  const regReq = server.requests.find((r) => r.path === '/api/v1/register');
  assert.equal(regReq.body.invitation, 'INVITE');
  assert.equal(regReq.headers['x-csrf-token'], undefined, 'registration has no session');
  assert.equal(regReq.body.password, undefined);
  assert.ok(!JSON.stringify(regReq.body).includes(PASSWORD), 'the password is never sent');

  const c2 = conn();
  const events = [];
  const r = await login(c2, { username: 'alice', password: PASSWORD, memory, onProgress: (e) => events.push(`${e.phase}:${e.state}`) });
  assert.deepEqual(events, ['prelogin:start', 'prelogin:end', 'argon2id:start', 'argon2id:end', 'login:start', 'login:end', 'unwrap:start', 'unwrap:end']);
  assert.equal(toHex(r.identity.encryption.fingerprint), toHex(reg.identity.encryption.fingerprint));
  assert.equal(r.identity.encryption.privateKey.extractable, false);
  assert.equal(r.identity.signing.privateKey.extractable, false);
  for (const path of ['/api/v1/prelogin', '/api/v1/login']) {
    assert.equal(server.requests.find((q) => q.path === path).headers['x-csrf-token'], undefined, `${path} without CSRF`);
  }
  assert.ok(!JSON.stringify(server.requests).includes(PASSWORD), 'the password is never sent');
  const loginReq = server.requests.find((q) => q.path === '/api/v1/login');
  assert.equal(b64decode(loginReq.body.auth_key).length, 32);

  await me(c2);
  await reauth(c2, { username: 'alice', password: PASSWORD, memory });
  assert.equal(server.requests.find((q) => q.path === '/api/v1/reauth').headers['x-csrf-token'], c2.csrfToken);
  const token = c2.csrfToken;
  await logout(c2);
  assert.equal(server.requests.at(-1).headers['x-csrf-token'], token, 'logout carries the CSRF token');
  assert.equal(c2.csrfToken, null);
  await logout(c2); // the server already ended it: not an error
  await assert.rejects(me(c2), (e) => e.kind === AccountKind.UNAUTHENTICATED && e.status === 401);
});

test('a logout without the CSRF token is refused as csrf', async () => {
  const c = conn();
  await registerAs('alice', c);
  c.csrfToken = 'forged';
  await assert.rejects(logout(c, { everywhere: false }), (e) => e.kind === AccountKind.CSRF && e.status === 403);
});

test('wrong password or unknown user: bad credentials', async () => {
  await registerAs('alice');
  await assert.rejects(login(conn(), { username: 'alice', password: 'not the password at all', memory }),
    (e) => e.kind === AccountKind.BAD_CREDENTIALS && e.status === 401 && e.code === 'bad_credentials');
  await assert.rejects(login(conn(), { username: 'nobody', password: PASSWORD, memory }), (e) => e.kind === AccountKind.BAD_CREDENTIALS);
});

test('weaker KDF parameters than remembered are refused before anything is derived or sent', async () => {
  await registerAs('alice');
  for (const weaker of [{ t: 2 }, { m: 19456 }, { t: 2, m: 19456 }]) {
    server.hooks.prelogin = ([s, a]) => [s, { ...a, kdf: { ...a.kdf, ...weaker } }];
    const events = [];
    const before = server.count('/api/v1/login');
    await assert.rejects(login(conn(), { username: 'alice', password: PASSWORD, memory, onProgress: (e) => events.push(e.phase) }),
      (e) => e.kind === AccountKind.KDF && /weaker/.test(e.message), JSON.stringify(weaker));
    assert.equal(server.count('/api/v1/login'), before, 'no login request after the refusal');
    assert.ok(!events.includes('argon2id'), 'no Argon2id run');
  }
  // without the memory the same answer is within bounds: the client cannot tell, derives with it
  // and sends that auth key (which this fake then refuses)
  server.hooks.prelogin = ([s, a]) => [s, { ...a, kdf: { ...a.kdf, t: 2 } }];
  await assert.rejects(login(conn(), { username: 'alice', password: PASSWORD }), (e) => e.kind === AccountKind.BAD_CREDENTIALS);
  // stronger parameters are not refused (they just do not match this fake's stored auth key)
  server.hooks.prelogin = ([s, a]) => [s, { ...a, kdf: { ...a.kdf, t: 4 } }];
  await assert.rejects(login(conn(), { username: 'alice', password: PASSWORD, memory }), (e) => e.kind === AccountKind.BAD_CREDENTIALS);
  delete server.hooks.prelogin;
  await login(conn(), { username: 'alice', password: PASSWORD, memory });
});

test('degenerate salts, another account\'s salt, and parameters out of bounds are refused', async () => {
  await registerAs('alice');
  await registerAs('bob');
  const aliceSalt = server.users.get('alice').salt;
  const cases = [
    [{ salt: b64encode(new Uint8Array(16)) }, AccountKind.KDF, 'all-zero salt'],
    [{ salt: b64encode(new Uint8Array(16).fill(0x5a)) }, AccountKind.KDF, 'repeated salt byte'],
    [{ salt: aliceSalt }, AccountKind.KDF, 'alice\'s salt for bob'],
    [{ kdf: { alg: 'argon2id', t: 3, m: 4 * 1048576, p: 1 } }, AccountKind.KDF, '4 GiB of memory'],
    [{ kdf: { alg: 'argon2id', t: 1000, m: 65536, p: 1 } }, AccountKind.KDF, '1000 passes'],
    [{ kdf: { alg: 'argon2i', t: 3, m: 65536, p: 1 } }, AccountKind.KDF, 'another algorithm'],
    [{ salt: b64encode(new Uint8Array(15).map((_, i) => i + 1)) }, AccountKind.SERVER, '15-byte salt'],
    [{ salt: 'AB==AAAAAAAAAAAAAAAAAAAA' }, AccountKind.SERVER, 'not base64'],
    [{ kdf: null }, AccountKind.SERVER, 'no kdf'],
    [{ pow: { challenge: b64encode(new Uint8Array(32)), bits: 40 } }, AccountKind.POW, 'a 40-bit proof of work'],
  ];
  for (const [change, kind, what] of cases) {
    server.hooks.prelogin = ([s, a]) => [s, { ...a, ...change }];
    const before = server.count('/api/v1/login');
    await assert.rejects(login(conn(), { username: 'bob', password: PASSWORD, memory }), (e) => e.kind === kind, what);
    assert.equal(server.count('/api/v1/login'), before, `${what}: nothing sent to /login`);
  }
});

test('proof of work: solved when pre-login asks, and again when login asks', async () => {
  await registerAs('alice');
  server.powBits = 12;
  const states = [];
  await login(conn(), { username: 'alice', password: PASSWORD, memory, onProgress: (e) => e.phase === 'pow' && states.push(e.state) });
  assert.deepEqual([states[0], states.at(-1)], ['start', 'end']);
  // the pre-login challenge is spent before login uses it: login answers pow_required with a new one
  let first = true;
  server.hooks.login = ([s, a, x], req) => {
    if (first) {
      first = false;
      server.challenges.delete(req.body.pow.challenge);
      return [403, { error: 'pow_required', message: 'x', pow: server.newChallenge() }];
    }
    return [s, a, x];
  };
  await login(conn(), { username: 'alice', password: PASSWORD, memory });
  assert.equal(first, false);
  // a login that asks for more than 32 bits is refused
  server.hooks.login = () => [403, { error: 'pow_required', message: 'x', pow: { challenge: b64encode(new Uint8Array(32)), bits: 33 } }];
  await assert.rejects(login(conn(), { username: 'alice', password: PASSWORD, memory }), (e) => e.kind === AccountKind.POW);
});

test('busy is retried after Retry-After; locked is reported with retryAfter', async () => {
  await registerAs('alice');
  let busy = 2;
  const waits = [];
  server.hooks.login = (answer) => (busy-- > 0 ? [503, { error: 'busy', message: 'x' }, { 'Retry-After': '1' }] : answer);
  const c = new Connection({ fetch: server.fetch, baseUrl: 'https://medcryptd.test:8443', sleep: async (ms) => void waits.push(ms) });
  await login(c, { username: 'alice', password: PASSWORD, memory });
  assert.deepEqual(waits, [1000, 1000]);
  server.hooks.login = () => [503, { error: 'busy', message: 'x' }, { 'Retry-After': '1' }];
  await assert.rejects(login(conn(), { username: 'alice', password: PASSWORD, memory }), (e) => e.kind === AccountKind.BUSY && e.status === 503);
  server.hooks.login = () => [429, { error: 'locked', message: 'x', retry_after: 120 }, { 'Retry-After': '120' }];
  await assert.rejects(login(conn(), { username: 'alice', password: PASSWORD, memory }),
    (e) => e.kind === AccountKind.LOCKED && e.retryAfter === 120 && /120 s/.test(e.message));
});

test('keys that are not the user\'s, or do not decrypt, are refused', async () => {
  await registerAs('alice');
  await registerAs('bob');
  const bob = server.users.get('bob').user;
  server.hooks.login = ([s, a]) => [s, { ...a, user: { ...a.user, enc_public_key: bob.enc_public_key, enc_fingerprint: bob.enc_fingerprint } }];
  await assert.rejects(login(conn(), { username: 'alice', password: PASSWORD, memory }), (e) => e.kind === Kind.KEY, 'another user\'s public key');
  server.hooks.login = ([s, a]) => [s, { ...a, user: { ...a.user, enc_fingerprint: bob.enc_fingerprint } }];
  await assert.rejects(login(conn(), { username: 'alice', password: PASSWORD, memory }), (e) => e.kind === AccountKind.SERVER, 'fingerprint of another key');
  server.hooks.login = ([s, a]) => {
    const w = b64decode(a.wrapped_keys.password);
    w[40] ^= 1;
    return [s, { ...a, wrapped_keys: { password: b64encode(w) } }];
  };
  await assert.rejects(login(conn(), { username: 'alice', password: PASSWORD, memory }), (e) => e.kind === Kind.KEY && /do not decrypt/.test(e.message));
  server.hooks.login = ([s, a]) => [s, { ...a, csrf_token: undefined }];
  await assert.rejects(login(conn(), { username: 'alice', password: PASSWORD, memory }), (e) => e.kind === AccountKind.SERVER);
  server.hooks.register = ([s, a]) => [s, { ...a, user: { ...a.user, enc_fingerprint: '00'.repeat(32) } }];
  await assert.rejects(registerAs('carol'), (e) => e.kind === AccountKind.SERVER && /other keys/.test(e.message));
});

test('no answer is a network error; bad arguments are misuse', async () => {
  const c = new Connection({ fetch: async () => { throw new TypeError('fetch failed'); }, baseUrl: 'https://x.test' });
  await assert.rejects(login(c, { username: 'alice', password: PASSWORD }), (e) => e.kind === AccountKind.NETWORK);
  await assert.rejects(login(conn(), { username: 'Alice!', password: PASSWORD }), (e) => e.kind === Kind.MISUSE);
  await assert.rejects(register(conn(), { username: 'alice', password: 'short' }), (e) => e.kind === AccountKind.WEAK_PASSWORD);
  assert.equal(server.requests.length, 0, 'nothing sent');
});
