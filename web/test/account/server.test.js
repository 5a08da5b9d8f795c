/**
 * server.test.js: accounts made in JavaScript and by the C client, against a real medcryptd
 * (docs/API.md §13). The server starts on a free loopback port with a temporary data directory;
 * JavaScript registers the admin with the first-start invitation and makes the other invitations
 * (with its CSRF token; without it the server refuses). Then:
 *   1. an account registered from JavaScript logs in with `medcrypt login` on a new machine,
 *      which restores the key file from the bundle JavaScript wrapped, and opens an image with it;
 *   2. an account registered with `medcrypt register` logs in from JavaScript, whose unwrapped
 *      non-extractable keys open an image the CLI `send`s to it (about a patient who appointed
 *      both doctors, as issue 12's rules want; header, wrap and blob fetched as §15 says, opened
 *      by src/container);
 *   3. a wrong password is 'bad credentials' (exit 3 in the CLI); after three, the login needs a
 *      proof of work, which JavaScript solves; the fifth failure locks ('locked', retryAfter);
 *   4. a server that lowers the KDF parameters it gave before is refused before /login;
 * and re-authentication, /me and logout.
 *
 * MEDCRYPT_BIN and MEDCRYPTD_BIN must name the binaries (tests/run-all sets them); without them
 * every test here fails.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { AccountKind, Connection, DEFAULT_KDF, login, logout, me, reauth, register } from '../../src/account/index.js';
import { openBytes, parseMetadata, pemBlocks, toHex } from '../../src/container/index.js';
import { pattern, sha256hex } from '../helpers.js';
import { pinnedFetch } from './https.js';
import { mapStorage } from './helpers.js';

const BIN = process.env.MEDCRYPT_BIN ? resolve(process.env.MEDCRYPT_BIN) : undefined;
const DBIN = process.env.MEDCRYPTD_BIN ? resolve(process.env.MEDCRYPTD_BIN) : undefined;
const pw = (user) => `${user}'s passphrase: granite cello orbit 42`;

let dir;
let server; // the medcryptd child process
let url;
let cert;
let fingerprint; // as medcryptd prints it
let firstInvitation;
const memory = mapStorage(); // one browser's remembered KDF parameters, across these tests
const fetches = [];
const invitations = {};
let imageId;
let plain;

/** A new client (its own cookie jar) connecting from 127.0.0.N. */
function client(n = 1) {
  const fetch = pinnedFetch({ ca: cert, localAddress: `127.0.0.${n}` });
  fetches.push(fetch);
  return new Connection({ fetch, baseUrl: url });
}

/** Runs medcrypt as USER (own MEDCRYPT_HOME, the password in the environment); never rejects. */
function medcrypt(user, args, { password = pw(user) } = {}) {
  const env = { ...process.env, MEDCRYPT_HOME: join(dir, `home-${user}`), MEDCRYPT_PASSPHRASE: password };
  delete env.MEDCRYPT_ASSUME_YES;
  return new Promise((res, rej) => {
    execFile(BIN, args, { cwd: dir, env, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') rej(err);
      else res({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

async function medcryptOk(user, args, options) {
  const r = await medcrypt(user, args, options);
  assert.equal(r.code, 0, `medcrypt ${args.join(' ')} (as ${user}) exited ${r.code}: ${r.stderr}`);
  return r;
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** Starts medcryptd and resolves once it printed its URL, fingerprint and invitation. */
async function startServer(extra = []) {
  const port = await freePort();
  const child = spawn(DBIN, ['--listen', `127.0.0.1:${port}`, '--data-dir', join(dir, 'data'), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let log = '';
  child.stderr.on('data', (d) => (log = (log + d).slice(-4000)));
  await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`medcryptd did not start: ${log}`)), 30000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`medcryptd exited ${code}: ${log}`));
    });
    child.stdout.on('data', (d) => {
      out += d;
      if (/is listening on/.test(out) && /invitation: [A-Z2-7]{32}/.test(out)) {
        clearTimeout(timer);
        res();
      }
    });
  });
  child.removeAllListeners('exit');
  url = /is listening on (https:\/\/localhost:\d+)/.exec(out)[1];
  fingerprint = /SHA-256 fingerprint:\s*\n\s*([0-9A-F:]+)/.exec(out)[1];
  firstInvitation = /invitation: ([A-Z2-7]{32})/.exec(out)[1];
  return child;
}

before(async () => {
  assert.ok(BIN, 'MEDCRYPT_BIN is not set: it must name the medcrypt binary (e.g. build/src/medcrypt/medcrypt)');
  assert.ok(DBIN, 'MEDCRYPTD_BIN is not set: it must name the medcryptd binary (e.g. build/src/medcryptd/medcryptd)');
  await access(BIN, constants.X_OK).catch(() => assert.fail(`MEDCRYPT_BIN=${BIN} is not an executable file`));
  await access(DBIN, constants.X_OK).catch(() => assert.fail(`MEDCRYPTD_BIN=${DBIN} is not an executable file`));
  dir = await mkdtemp(join(tmpdir(), 'medcrypt-web-account-'));
  server = await startServer();
  cert = await readFile(join(dir, 'data', 'tls.crt'), 'utf8');
});

after(async () => {
  for (const f of fetches) f.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((res) => server.once('exit', res));
    server.kill('SIGTERM');
    await exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

const admin = { conn: null };

test('JavaScript registers the admin with the first-start invitation and makes invitations (CSRF)', async () => {
  admin.conn = client();
  const events = [];
  const r = await register(admin.conn, {
    invitation: firstInvitation.toLowerCase().replace(/(.{4})/g, '$1-').slice(0, -1), // read ignoring case and dashes
    username: 'admin',
    displayName: 'Ada Admin',
    password: pw('admin'),
    memory,
    onProgress: (e) => events.push(e.phase),
  });
  assert.equal(r.user.role, 'admin');
  assert.match(r.recoveryCode, /^[A-Z2-7]{4}(-[A-Z2-7]{4}){7}$/);
  assert.equal(r.user.enc_fingerprint, toHex(r.identity.encryption.fingerprint));
  assert.ok(events.includes('keygen') && events.includes('argon2id') && events.includes('register'));
  assert.equal(r.identity.encryption.privateKey.extractable, false);
  // the new session works, and a state-changing request needs its CSRF token
  assert.equal((await me(admin.conn)).user.username, 'admin');
  await assert.rejects(admin.conn.request('POST', '/api/v1/invitations', { json: { role: 'doctor' }, expect: [201], csrf: false }),
    (e) => e.kind === AccountKind.CSRF && e.status === 403);
  for (const [name, role] of [['jsdoc', 'doctor'], ['clidoc', 'doctor'], ['tech', 'technician'], ['pat', 'patient']]) {
    const { body } = await admin.conn.request('POST', '/api/v1/invitations', { json: { role }, expect: [201] });
    assert.match(body.code, /^[A-Z2-7]{32}$/);
    invitations[name] = body.code;
  }
  // a used invitation is a conflict
  await assert.rejects(register(client(), { invitation: firstInvitation, username: 'again', password: pw('again'), memory }),
    (e) => e.kind === AccountKind.CONFLICT && e.status === 409);
});

test('(1) an account registered from JavaScript logs in with `medcrypt login`, which restores its keys', async () => {
  const r = await register(client(), { invitation: invitations.jsdoc, username: 'jsdoc', password: pw('jsdoc'), memory });
  assert.equal(r.user.role, 'doctor');
  assert.ok(r.user.created > 0);
  const login1 = await medcryptOk('jsdoc', ['login', url, '--user', 'jsdoc', '--fingerprint', fingerprint]);
  assert.match(login1.stderr, /restored your keys from the server/);
  const who = JSON.parse((await medcryptOk('jsdoc', ['whoami', '--json'])).stdout);
  assert.equal(who.user.enc_fingerprint, toHex(r.identity.encryption.fingerprint));
  assert.equal(who.user.sign_fingerprint, toHex(r.identity.signing.fingerprint));
  // the key file the CLI wrote holds the keys JavaScript made
  const fp = JSON.parse((await medcryptOk('jsdoc', ['fingerprint', '--json', join(dir, 'home-jsdoc', 'keys', 'jsdoc.pub')])).stdout);
  assert.equal(fp.encryption_fingerprint, toHex(r.identity.encryption.fingerprint));
  assert.equal(fp.signing_fingerprint, toHex(r.identity.signing.fingerprint));
  assert.equal(fp.signing_algorithm, 'ed25519');
  // the admin registered from JavaScript logs in with the CLI too
  await medcryptOk('admin', ['login', url, '--user', 'admin', '--fingerprint', fingerprint]);
});

test('(2) an account registered with `medcrypt register` logs in from JavaScript and opens what the CLI sends it', async () => {
  for (const user of ['clidoc', 'tech', 'pat']) {
    await medcryptOk(user, ['register', invitations[user], '--user', user, '--url', url, '--fingerprint', fingerprint]);
  }
  for (const doctor of ['clidoc', 'jsdoc']) await medcryptOk('pat', ['appoint', doctor]);
  const conn = client();
  const events = [];
  const r = await login(conn, { username: 'clidoc', password: pw('clidoc'), memory, onProgress: (e) => events.push(`${e.phase}:${e.state}`) });
  assert.deepEqual(events, ['prelogin:start', 'prelogin:end', 'argon2id:start', 'argon2id:end', 'login:start', 'login:end', 'unwrap:start', 'unwrap:end']);
  const pub = pemBlocks(await readFile(join(dir, 'home-clidoc', 'keys', 'clidoc.pub'), 'latin1')).filter((b) => b.label === 'PUBLIC KEY');
  assert.equal(toHex(r.identity.encryption.fingerprint), sha256hex(pub[0].der), 'the CLI\'s encryption key');
  assert.equal(toHex(r.identity.signing.fingerprint), sha256hex(pub[1].der), 'the CLI\'s signing key');
  assert.equal(r.identity.encryption.privateKey.extractable, false);
  assert.equal(r.identity.signing.privateKey.extractable, false);

  // the technician sends an image to both doctors with the CLI
  plain = pattern('account-interop', 200_000);
  await writeFile(join(dir, 'scan.bin'), plain);
  imageId = (await medcryptOk('tech', ['send', 'scan.bin', '--to', 'clidoc', '--to', 'jsdoc', '--patient', 'pat'])).stdout.trim();
  assert.match(imageId, /^[0-9a-f]{32}$/);

  // JavaScript fetches it as §15 says and opens it with the unwrapped keys
  const { body: list } = await conn.request('GET', '/api/v1/images');
  assert.ok(list.images.some((i) => i.id === imageId));
  const { body: image } = await conn.request('GET', `/api/v1/images/${imageId}`);
  const { body: wrap } = await conn.request('GET', `/api/v1/images/${imageId}/wrap`, { as: 'bytes' });
  const { body: blob } = await conn.request('GET', `/api/v1/images/${imageId}/blob`, { as: 'bytes' });
  assert.equal(Buffer.from(wrap).toString('base64'), image.wrap, 'the wrap in IMAGE is the detached wrap');
  assert.equal(sha256hex(blob), image.sha256);
  const { body: sender } = await conn.request('GET', '/api/v1/users/tech');
  const signer = pemBlocks(sender.sign_public_key)[0].der;
  assert.equal(sha256hex(signer), sender.sign_fingerprint);
  const opened = await openBytes(blob, { identity: r.identity, wraps: [wrap], trustedSigners: [signer] });
  assert.equal(sha256hex(opened.plaintext), sha256hex(plain), 'JavaScript opens what the CLI sent');
  assert.equal(toHex(opened.signer), sender.sign_fingerprint);
  assert.equal(parseMetadata(opened.metadata).file, 'scan.bin', 'the metadata the CLI sealed');

  // and the CLI opens it with the keys it restored from the bundle JavaScript made (test 1)
  await medcryptOk('jsdoc', ['get', imageId, '-o', 'jsdoc-scan.bin']);
  assert.equal(sha256hex(await readFile(join(dir, 'jsdoc-scan.bin'))), sha256hex(plain));
});

test('(3) a wrong password is bad credentials; after three failures a proof of work; the fifth locks', async () => {
  const from2 = client(2);
  await assert.rejects(login(from2, { username: 'jsdoc', password: 'not the password of jsdoc', memory }),
    (e) => e.kind === AccountKind.BAD_CREDENTIALS && e.status === 401 && e.code === 'bad_credentials');
  const cli = await medcrypt('jsdoc', ['login', url, '--user', 'jsdoc'], { password: 'not the password of jsdoc' });
  assert.equal(cli.code, 3, `the CLI's exit status for a wrong password: ${cli.stderr}`);
  await assert.rejects(login(from2, { username: 'jsdoc', password: 'still not the password', memory }), (e) => e.kind === AccountKind.BAD_CREDENTIALS);
  // three failures of the account: the next login carries a proof of work (20 bits)
  const pow = [];
  const r = await login(client(2), { username: 'jsdoc', password: pw('jsdoc'), memory, onProgress: (e) => e.phase === 'pow' && pow.push(e.state) });
  assert.equal(r.user.username, 'jsdoc');
  assert.equal(pow[0], 'start', 'a proof of work was solved');
  assert.equal(pow.at(-1), 'end');

  // an unknown name from another address: counted like a known one, locked at the fifth failure
  const from3 = client(3);
  const outcomes = [];
  for (let i = 0; i < 6; i++) {
    const e = await login(from3, { username: 'nobody', password: 'some password or other', memory }).then(() => null, (err) => err);
    outcomes.push(e?.kind);
    if (e?.kind === AccountKind.LOCKED) {
      assert.ok(e.retryAfter > 0 && e.retryAfter <= 60, `retryAfter ${e.retryAfter}`);
      assert.equal(e.status, 429);
    }
  }
  assert.deepEqual(outcomes, ['bad credentials', 'bad credentials', 'bad credentials', 'bad credentials', 'locked', 'locked']);
});

test('(4) a server that lowers the KDF parameters it gave before is refused before anything is sent', async () => {
  const real = pinnedFetch({ ca: cert, localAddress: '127.0.0.4' });
  fetches.push(real);
  const seen = [];
  const lowering = async (u, init) => {
    seen.push(new URL(u).pathname);
    const res = await real(u, init);
    if (!u.endsWith('/api/v1/prelogin')) return res;
    const body = JSON.parse(await res.text());
    body.kdf = { ...body.kdf, t: 2, m: 19456 }; // the server's minimum: a quarter of the work per guess
    return new Response(JSON.stringify(body), { status: res.status, headers: res.headers });
  };
  const conn = new Connection({ fetch: lowering, baseUrl: url });
  assert.deepEqual(JSON.parse((await memory.get(`medcrypt/v1 kdf ${url} jsdoc`)) ?? 'null')?.m, DEFAULT_KDF.m, 'remembered from the logins above');
  await assert.rejects(login(conn, { username: 'jsdoc', password: pw('jsdoc'), memory }), (e) => e.kind === AccountKind.KDF && /weaker/.test(e.message));
  assert.deepEqual(seen, ['/api/v1/prelogin'], 'nothing but the pre-login reached the server');
  // the same server unaltered is fine
  await login(new Connection({ fetch: real, baseUrl: url }), { username: 'jsdoc', password: pw('jsdoc'), memory });
});

test('re-authentication, /me and logout against the real server', async () => {
  const conn = client();
  await login(conn, { username: 'clidoc', password: pw('clidoc'), memory });
  assert.equal((await me(conn)).session.reauth_expires, 0);
  await reauth(conn, { username: 'clidoc', password: pw('clidoc'), memory });
  assert.ok((await me(conn)).session.reauth_expires > Date.now() / 1000);
  await logout(conn);
  assert.equal(conn.csrfToken, null);
  await assert.rejects(me(conn), (e) => e.kind === AccountKind.UNAUTHENTICATED && e.status === 401);
  // everywhere: a second session of the same user ends too
  const a = client();
  const b = client();
  await login(a, { username: 'clidoc', password: pw('clidoc'), memory });
  await login(b, { username: 'clidoc', password: pw('clidoc'), memory });
  await logout(a, { everywhere: true });
  await assert.rejects(me(b), (e) => e.kind === AccountKind.UNAUTHENTICATED);
});
