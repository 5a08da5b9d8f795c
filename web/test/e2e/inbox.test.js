/**
 * inbox.test.js: the inbox, the image view, sharing and the user directory in Chromium, against a
 * real medcryptd serving a web build this test makes (docs/API.md §15, §16, §20):
 *
 *   1. users are set up with the CLI (`medcrypt register`); the patient appoints doctors A and B
 *      (`medcrypt appoint`: issue 12's rules); a technician `medcrypt send --patient pat`s a PNG,
 *      a JPEG (both with patient details given by --meta) and a 10-frame 16-bit DICOM (pydicom,
 *      test/viewer/make_dicom.py) to doctor A and the patient; from JavaScript (src/container
 *      seal, the technician's keys from src/account login) one more PNG with a sealed preview,
 *      and one whose wrap for doctor A was damaged after sealing;
 *   2. doctor A signs in through the page: the inbox lists the images with the metadata
 *      decrypted in the browser (patient, date, modality, sender), the preview as an image, the
 *      damaged one as a row that says why it does not open; filters and sorting work;
 *   3. doctor A views the PNG (visible, signature verified with the technician's name and
 *      fingerprint) and the DICOM (attributes panel; ArrowDown shows the next frame and the
 *      canvas changes; a drag changes the window);
 *   4. doctor A shares the DICOM with doctor B: the server asks for a re-authentication, the page
 *      asks for the password, and the wrap made in the browser opens the image for doctor B
 *      (checked from node); then revokes it and doctor B gets 404;
 *   4a. doctor A's de-identified items (sealed and signed in JavaScript, POST ?deidentified=1): the
 *      inbox and the view page show the claim of the metadata and who signed it (verified on the
 *      view page); one marked de-identified without a claim gets the loud warning;
 *   5. the patient downloads the original JPEG from the view page: the bytes are the sent file;
 *      the directory page lists users with both fingerprints and filters by search;
 *   6. a request recorder saw no request body carrying a password, a private key (the CLI's key
 *      files decrypted here), or plaintext image or metadata bytes.
 * axe-core finds no serious or critical violation on the inbox, view, share and directory pages;
 * no page error and no CSP violation. Screenshots (1280x800) go to MEDCRYPT_SHOTS (inbox,
 * view-png, view-dicom, share, users).
 *
 * MEDCRYPT_BIN and MEDCRYPTD_BIN must name the binaries (tests/run-all sets them); without them
 * every test here fails. Chromium is /usr/bin/chromium (scripts/bootstrap installs it).
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash, createPrivateKey } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import AxeBuilder from '@axe-core/playwright';
import { chromium } from 'playwright-core';
import { Connection, login, register } from '../../src/account/index.js';
import { importRecipient, openBytes, pemBlocks, readAll, readHeader, seal } from '../../src/container/index.js';
import { buildClient } from '../../build.mjs';
import { startServer as startHarnessServer } from './harness.js';
import { pinnedFetch } from '../account/https.js';
import { mapStorage } from '../account/helpers.js';
import { REPO } from '../helpers.js';

const BIN = process.env.MEDCRYPT_BIN ? resolve(process.env.MEDCRYPT_BIN) : undefined;
const DBIN = process.env.MEDCRYPTD_BIN ? resolve(process.env.MEDCRYPTD_BIN) : undefined;
const CHROMIUM = process.env.MEDCRYPT_CHROMIUM ?? '/usr/bin/chromium';
const PYTHON = '/usr/bin/python3'; // Debian's, which has python3-pydicom
// Screenshots: into MEDCRYPT_SHOTS (docs/screenshots/ to refresh the README's), else a temporary
// directory, so that `make test` leaves the tracked ones alone.
const SHOTS = process.env.MEDCRYPT_SHOTS || join(tmpdir(), `medcrypt-shots-${process.pid}`);
const FRAMES = 10;

const pw = (user) => `${user}'s passphrase: granite cello orbit 42`;

let dir;
let server;
let url;
let cert;
let serverFp;
let firstInvitation;
let browser;
const fetches = [];
const memory = mapStorage();
const requests = []; // every request a page made: {url, method, body (Buffer)}
const pageProblems = []; // page errors and CSP violations
const files = {}; // name -> {path, bytes, id}
const USERS = { tech: 'technician', doca: 'doctor', docb: 'doctor', pat: 'patient' };
const DISPLAY = { tech: 'Tom Lab', doca: 'Dr. Alice Archer', docb: 'Dr. Bob Brown', pat: 'Pat Patient' };

/* medcryptd on a free loopback port with this run's data directory (harness.js). */
async function startServer(webRoot) {
  const s = await startHarnessServer({ dataDir: join(dir, 'data'), webRoot, args: [] });
  ({ url, fingerprint: serverFp, invitation: firstInvitation } = s);
  return s.child;
}

/** A node client (own cookie jar) of the server. */
function client() {
  const fetch = pinnedFetch({ ca: cert, localAddress: '127.0.0.1' });
  fetches.push(fetch);
  return new Connection({ fetch, baseUrl: url });
}

/** Runs medcrypt as USER (own MEDCRYPT_HOME, the password in the environment). */
function medcrypt(user, args) {
  const env = { ...process.env, MEDCRYPT_HOME: join(dir, `home-${user}`), MEDCRYPT_PASSPHRASE: pw(user), MEDCRYPT_ASSUME_YES: '1' };
  return new Promise((res, rej) => {
    execFile(BIN, args, { cwd: dir, env, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') rej(err);
      else if (err) rej(new Error(`medcrypt ${args.join(' ')} (as ${user}) exited ${err.code}: ${stderr}`));
      else res(stdout);
    });
  });
}

/** A new browser context (one person at one computer) with a recorded page. */
async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true, ignoreHTTPSErrors: true });
  context.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postDataBuffer() ?? Buffer.alloc(0) }));
  const page = await context.newPage();
  page.setDefaultTimeout(60000);
  page.on('pageerror', (e) => pageProblems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (process.env.MEDCRYPT_TEST_CONSOLE) console.log(`console ${m.type()}: ${m.text()}`);
    if (/Content Security Policy|Refused to/i.test(m.text())) pageProblems.push(`CSP: ${m.text()}`);
  });
  return { context, page };
}

async function axe(page, what) {
  const { violations } = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), [], `axe on ${what}`);
}

async function shot(page, name) {
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

async function signIn(page, user) {
  await page.goto(`${url}/login`);
  await page.fill('#login-username', user);
  await page.fill('#login-password', pw(user));
  await page.click('button[type=submit]');
  await page.waitForURL(`${url}/inbox`, { timeout: 60000 });
}

/** Waits until the inbox decrypted its rows, then returns the rows' texts by image id. */
async function inboxRows(page, count) {
  await page.waitForFunction((n) => document.querySelectorAll('#inbox-list tbody tr').length >= n
    && document.getElementById('inbox-progress')?.textContent === '', count);
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#inbox-list tbody tr')]
    .map((tr) => [tr.dataset.id, tr.innerText.replace(/\s+/g, ' ')])));
}

/** Opens an image from the inbox, moving inside the page (a reload would lock the keys). */
async function openImage(page, id) {
  await page.click('nav a[href="/inbox"]');
  await inboxRows(page, 1);
  await page.click(`#inbox-list tr[data-id="${id}"] a`);
  await page.waitForURL(`${url}/images/${id}`);
  try {
    await page.locator('#viewer[data-state="shown"]').waitFor({ timeout: 60000 });
    await page.locator('#signature[data-state="verified"]').waitFor();
  } catch (e) {
    const why = await page.evaluate(() => `${location.pathname}: ${document.getElementById('main')?.innerText.slice(0, 600).replace(/\s+/g, ' ')}`);
    throw new Error(`image ${id} was not shown: ${why} ${pageProblems.join('; ')}`, { cause: e });
  }
}

before(async () => {
  assert.ok(BIN, 'MEDCRYPT_BIN is not set: it must name the medcrypt binary');
  assert.ok(DBIN, 'MEDCRYPTD_BIN is not set: it must name the medcryptd binary');
  await access(BIN, constants.X_OK).catch(() => assert.fail(`MEDCRYPT_BIN=${BIN} is not an executable file`));
  await access(DBIN, constants.X_OK).catch(() => assert.fail(`MEDCRYPTD_BIN=${DBIN} is not an executable file`));
  assert.ok(existsSync(CHROMIUM), `Chromium is required at ${CHROMIUM}`);
  dir = await mkdtemp(join(tmpdir(), 'medcrypt-web-inbox-'));
  const webRoot = join(dir, 'dist');
  await buildClient({ outdir: webRoot });
  server = await startServer(webRoot);
  cert = await readFile(join(dir, 'data', 'tls.crt'), 'utf8');
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  for (const f of fetches) f.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((res) => server.once('exit', res));
    server.kill('SIGTERM');
    await exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('setup: CLI users; the technician sends a PNG, a JPEG and a multi-frame DICOM', { timeout: 300_000 }, async () => {
  const admin = client();
  await register(admin, { invitation: firstInvitation, username: 'admin', password: pw('admin'), memory });
  for (const [user, role] of Object.entries(USERS)) {
    const { body } = await admin.request('POST', '/api/v1/invitations', { json: { role }, expect: [201] });
    await medcrypt(user, ['register', body.code, '--user', user, '--display-name', DISPLAY[user], '--url', url, '--fingerprint', serverFp]);
  }
  for (const doctor of ['doca', 'docb']) await medcrypt('pat', ['appoint', doctor]);
  // fixtures: fake patient data only
  const fx = join(dir, 'fx');
  await mkdir(fx);
  execFileSync(PYTHON, [join(REPO, 'web', 'test', 'viewer', 'make_dicom.py'), fx, String(FRAMES), '256']);
  execFileSync('convert', ['-size', '512x384', 'gradient:#203060-#d0d8e0', '-fill', '#f0f0f0', '-draw', 'circle 256,192 256,90',
    '-fill', '#405070', '-draw', 'rectangle 60,60 140,140', join(fx, 'hand.png')]);
  execFileSync('convert', ['-size', '512x384', 'radial-gradient:white-black', '-fill', 'gray30', '-draw', 'ellipse 256,192 120,80 0,360',
    '-quality', '92', join(fx, 'chest.jpg')]);
  execFileSync('convert', [join(fx, 'hand.png'), '-scale', '6%', '-scale', '1667%', join(fx, 'preview.png')]);
  const metas = {
    'hand.png': { PatientName: 'Doe^Jane', PatientID: 'FAKE-0002', StudyDate: '20240311', Modality: 'XC', StudyDescription: 'Left hand' },
    'chest.jpg': { PatientName: 'Roe^Richard', PatientID: 'FAKE-0003', StudyDate: '20240215', Modality: 'DX', StudyDescription: 'Chest' },
  };
  for (const [name, meta] of Object.entries(metas)) await writeFile(join(fx, `${name}.json`), JSON.stringify(meta));
  for (const name of ['hand.png', 'chest.jpg', 'mf16.dcm']) {
    const path = join(fx, name);
    const args = ['send', path, '--to', 'doca', '--to', 'pat', '--patient', 'pat'];
    if (metas[name]) args.push('--meta', join(fx, `${name}.json`));
    const id = (await medcrypt('tech', args)).trim();
    assert.match(id, /^[0-9a-f]{32}$/);
    files[name] = { path, bytes: await readFile(path), id, meta: metas[name] };
  }

  // From JavaScript, as the technician: one PNG with a sealed preview, and one whose wrap for
  // doctor A was damaged after sealing (the server cannot tell: it holds no key).
  const techConn = client();
  const { identity } = await login(techConn, { username: 'tech', password: pw('tech'), memory });
  const { body: dir_ } = await techConn.request('GET', '/api/v1/users');
  const key = (u) => importRecipient(pemBlocks(dir_.users.find((x) => x.username === u).enc_public_key)[0].der);
  const recipients = [await key('doca'), await key('pat'), await key('tech')];
  const previewed = await readAll(await seal(files['hand.png'].bytes, {
    recipients, signer: identity, cipher: 'aes',
    metadata: { file: 'knee.png', format: 'png', PatientName: 'Smith^Anna', PatientID: 'FAKE-0004', StudyDate: '20240402', Modality: 'XC' },
    preview: await readFile(join(fx, 'preview.png')),
  }));
  const up = async (bytes) => (await techConn.request('POST', '/api/v1/images?patient=pat', { body: bytes, expect: [201] })).body.id;
  files.previewed = { id: await up(previewed) };
  const broken = await readAll(await seal(files['hand.png'].bytes, {
    recipients: [recipients[0], recipients[1]], signer: identity, // doctor A's wrap first, then the patient's
    metadata: { file: 'broken.png', PatientName: 'Broken^Wrap', PatientID: 'FAKE-0005' },
  }));
  const body = (await readHeader(broken)).wraps[0].body; // the RSA-OAEP wrap for doctor A
  broken[Buffer.from(broken).indexOf(Buffer.from(body)) + 100] ^= 0xff;
  files.broken = { id: await up(broken) };
});

test('doctor A: the inbox decrypts metadata and previews in the browser; filters, sorting, a row that does not open', { timeout: 180_000 }, async () => {
  const { page } = await newPage();
  await signIn(page, 'doca');
  const rows = await inboxRows(page, 5);
  const png = rows[files['hand.png'].id];
  const jpg = rows[files['chest.jpg'].id];
  const dcm = rows[files['mf16.dcm'].id];
  assert.match(png, /Doe, Jane.*ID FAKE-0002.*Patient account: Pat Patient \(pat\).*2024-03-11.*XC.*Tom Lab/);
  assert.match(jpg, /Roe, Richard.*ID FAKE-0003.*2024-02-15.*DX.*Tom Lab/);
  assert.match(dcm, /Test, Viewer.*ID FAKE-0001.*mf16\.dcm.*2024-01-02.*OT.*Tom Lab/);
  assert.match(rows[files.previewed.id], /Smith, Anna/);
  assert.match(rows[files.broken.id], /Cannot open Your key does not open this image.*does not decrypt/);
  // the sealed preview is shown as an image (a blob: URL made in the page)
  const preview = page.locator(`#inbox-list tr[data-id="${files.previewed.id}"] img.mc-thumb`);
  assert.match(await preview.getAttribute('src'), /^blob:/);
  assert.ok(await preview.evaluate((img) => img.complete && img.naturalWidth > 0), 'the preview decoded');

  // filters (client-side) and sorting
  await page.fill('#f-patient', 'fake-0001');
  assert.equal(await page.locator('#inbox-list tbody tr').count(), 1);
  await page.click('text=Clear filters');
  await page.selectOption('#f-modality', 'XC');
  assert.equal(await page.locator('#inbox-list tbody tr').count(), 2);
  await page.selectOption('#f-modality', '');
  await page.fill('#f-from', '2024-02-01');
  await page.fill('#f-to', '2024-03-31');
  assert.deepEqual(await page.locator('#inbox-list tbody tr').evaluateAll((trs) => trs.map((t) => t.dataset.id).sort()),
    [files['hand.png'].id, files['chest.jpg'].id].sort());
  await page.click('text=Clear filters');
  await page.click('th[data-sort="patient"] button');
  assert.equal(await page.locator('th[data-sort="patient"]').getAttribute('aria-sort'), 'ascending');
  const order = await page.locator('#inbox-list tbody tr').evaluateAll((trs) => trs.map((t) => t.dataset.id));
  assert.equal(order[order.length - 1], files['mf16.dcm'].id, 'Test, Viewer sorts last by patient');
  await page.click('th[data-sort="date"] button');
  await axe(page, 'inbox');
  await shot(page, 'inbox');
  globalThis.docaPage = page;
});

test('doctor A: a CLI send shows up in the open inbox without a reload (GET /api/v1/events)', { timeout: 120_000 }, async () => {
  const page = globalThis.docaPage;
  // Already on the inbox (the test before ends there): a click on its link would render the
  // list again, and a count taken meanwhile would see the old rows or none.
  if (!new URL(page.url()).pathname.endsWith('/inbox')) await page.click('nav a[href="/inbox"]');
  const before = Object.keys(await inboxRows(page, 5)).length;
  await page.evaluate(() => { window.mcNotReloaded = true; });
  const meta = join(dir, 'live.json');
  await writeFile(meta, JSON.stringify({ PatientName: 'Live^Lena', PatientID: 'FAKE-0009', StudyDate: '20240505', Modality: 'XC' }));
  const id = (await medcrypt('tech', ['send', files['hand.png'].path, '--to', 'doca', '--patient', 'pat', '--meta', meta])).trim();
  assert.match(id, /^[0-9a-f]{32}$/);
  const row = page.locator(`#inbox-list tr[data-id="${id}"]`);
  await row.waitFor({ timeout: 15000 });
  await page.waitForFunction((rid) => /Live, Lena/.test(document.querySelector(`#inbox-list tr[data-id="${rid}"]`)?.innerText ?? ''), id);
  await page.waitForFunction((n) => document.querySelectorAll('#inbox-list tbody tr').length === n, before + 1, { timeout: 15000 });
  assert.equal(await page.evaluate(() => window.mcNotReloaded), true, 'the page was not reloaded');
  await page.waitForFunction(() => /new image/i.test(document.getElementById('app-status')?.textContent ?? ''));
  files.live = { id };
});

test('doctor A views the PNG: visible, signature verified with the signer and fingerprint', { timeout: 120_000 }, async () => {
  const page = globalThis.docaPage;
  await openImage(page, files['hand.png'].id);
  const sig = await page.locator('#signature').innerText();
  const techFp = JSON.parse(await medcrypt('tech', ['whoami', '--json'])).user.sign_fingerprint;
  assert.match(sig, /Verified: signed by Tom Lab \(tech, technician\)/);
  assert.equal((await page.locator('#signer-fp').innerText()).replace(/\s/g, ''), techFp);
  const img = page.locator('#viewer img');
  assert.ok(await img.evaluate((i) => !i.hidden && i.complete && i.naturalWidth === 512), 'the PNG is shown');
  assert.match(await page.locator('#attributes').innerText(), /Doe, Jane/);
  assert.match(await page.locator('#attributes').innerText(), /Patient account\s+Pat Patient \(pat\)/, 'the patient account the server recorded');
  assert.ok(await page.locator('#deidentification').isHidden(), 'an identified image has no de-identification panel');
  assert.equal(await page.locator('#download').isEnabled(), true);
  await axe(page, 'view (PNG)');
  await shot(page, 'view-png');
});

test('doctor A views the DICOM: attributes, ArrowDown changes the frame, a drag changes the window', { timeout: 120_000 }, async () => {
  const page = globalThis.docaPage;
  await openImage(page, files['mf16.dcm'].id);
  assert.equal(await page.locator('#viewer').getAttribute('data-frames'), String(FRAMES));
  assert.equal(await page.locator('#frame').innerText(), `Frame 1 of ${FRAMES}`);
  const attrs = await page.locator('#attributes').innerText();
  assert.match(attrs, /Patient name\s+Test Viewer/);
  assert.match(attrs, /Frames\s+10/);
  const canvas = page.locator('#viewer canvas').first();
  const before1 = await canvas.screenshot();
  await page.focus('#viewer');
  await page.keyboard.press('ArrowDown');
  await page.locator('#frame').filter({ hasText: `Frame 2 of ${FRAMES}` }).waitFor();
  await page.waitForTimeout(300);
  const after1 = await canvas.screenshot();
  assert.notDeepEqual(after1, before1, 'the canvas shows another frame');

  const windowBefore = await page.locator('#window').innerText();
  const box = await page.locator('#viewer').boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 + 120, box.y + box.height / 2 + 60, { steps: 8 });
  await page.mouse.up();
  await page.waitForFunction((w) => document.getElementById('window').textContent !== w, windowBefore);
  await page.waitForTimeout(300);
  assert.notDeepEqual(await canvas.screenshot(), after1, 'the window changed what the canvas shows');
  await axe(page, 'view (DICOM)');
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, 'view-dicom');
});

test('doctor A shares the DICOM with doctor B after re-authenticating, then revokes it', { timeout: 180_000 }, async () => {
  const page = globalThis.docaPage;
  const id = files['mf16.dcm'].id;
  await page.selectOption('#share-to', 'docb');
  assert.match(await page.locator('#share-to-info').innerText(), /[0-9a-f]{4} [0-9a-f]{4}/);
  await page.click('#share-form button[type=submit]');
  await page.locator('#reauth-form').waitFor({ state: 'visible' });
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'reauth-password', 'focus moves to the password');
  await page.fill('#reauth-password', pw('doca'));
  await axe(page, 'share (re-authentication)');
  await page.locator('#sharing-title').scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollBy(0, -80));
  await shot(page, 'share');
  await page.click('#reauth-form button[type=submit]');
  await page.locator('#share-status').filter({ hasText: 'Shared with docb' }).waitFor({ timeout: 60000 });
  assert.equal(await page.locator('#reauth-password').inputValue(), '', 'the password field is emptied');
  await page.locator('#share-list [data-user="docb"]').waitFor();

  // the wrap made in the browser opens the image for doctor B
  const b = client();
  const { identity } = await login(b, { username: 'docb', password: pw('docb'), memory });
  const { body: image } = await b.request('GET', `/api/v1/images/${id}`);
  const { body: blob } = await b.request('GET', `/api/v1/images/${id}/blob`, { as: 'bytes' });
  const opened = await openBytes(blob, { identity, wraps: [Buffer.from(image.wrap, 'base64')] });
  assert.equal(createHash('sha256').update(opened.plaintext).digest('hex'), createHash('sha256').update(files['mf16.dcm'].bytes).digest('hex'));

  await page.click('#share-list [data-user="docb"] button');
  await page.locator('#share-status').filter({ hasText: 'Revoked docb' }).waitFor();
  await assert.rejects(b.request('GET', `/api/v1/images/${id}`), (e) => e.status === 404);
});

test('doctor A: a de-identified item shows its signed claim and signer; one marked without a claim is flagged loudly', { timeout: 180_000 }, async () => {
  const page = globalThis.docaPage;
  const conn = client();
  const { identity } = await login(conn, { username: 'doca', password: pw('doca'), memory });
  const { body: dir_ } = await conn.request('GET', '/api/v1/users/doca');
  const me = await importRecipient(pemBlocks(dir_.enc_public_key)[0].der);
  const claim = {
    profile: 'DICOM PS3.15 E.1-1 Basic Application Level Confidentiality Profile',
    checked: ['PatientName', 'PatientID', 'PatientBirthDate'],
    pixels: 'burned-in annotation NO',
    tool: 'medcrypt test',
    time: '2026-12-07T10:00:00Z',
  };
  const upload = async (metadata) => {
    const sealed = await readAll(await seal(files['hand.png'].bytes, { recipients: [me], signer: identity, metadata }));
    return (await conn.request('POST', '/api/v1/images?deidentified=1', { body: sealed, expect: [201] })).body.id;
  };
  const claimed = await upload({ file: 'research-copy.png', format: 'png', Modality: 'OT', deidentified: claim });
  const unclaimed = await upload({ file: 'no-claim.png', format: 'png', Modality: 'OT' });
  const { body: rec } = await conn.request('GET', `/api/v1/images/${claimed}`);
  assert.equal(rec.deidentified, true);
  assert.equal(rec.patient, null);

  await page.click('nav a[href="/inbox"]');
  await page.locator(`#inbox-list tr[data-id="${unclaimed}"] .mc-deid-warning`).waitFor({ timeout: 30000 });
  const rows = await inboxRows(page, 7);
  assert.match(rows[claimed], /De-identified DICOM PS3\.15 E\.1-1 Basic Application Level Confidentiality Profile · claimed by Dr\. Alice Archer \(doca\)/);
  assert.match(rows[unclaimed], /Warning: the server marks this image de-identified, but its signed metadata carries no de-identification claim/);

  await openImage(page, claimed);
  const panel = page.locator('#deidentification');
  assert.equal(await panel.getAttribute('data-state'), 'deidentified');
  const text = await panel.innerText();
  assert.match(text, /De-identified copy/);
  assert.match(text, /Profile\s+DICOM PS3\.15 E\.1-1/);
  assert.match(text, /Pixels\s+burned-in annotation NO/);
  assert.match(text, /Checked\s+PatientName, PatientID, PatientBirthDate/);
  assert.match(text, /Claimed by Dr\. Alice Archer \(doca, doctor\), signature verified/);
  assert.match(await page.locator('#attributes').innerText(), /Patient account\s+none \(de-identified\)/);
  await axe(page, 'view (de-identified)');

  await openImage(page, unclaimed);
  assert.equal(await panel.getAttribute('data-state'), 'missing-claim');
  assert.equal(await panel.getAttribute('role'), 'alert');
  assert.match(await panel.innerText(), /No de-identification claim[\s\S]*Treat it as identified patient data/);
  await shot(page, 'view-no-claim');
});

test('the patient downloads the original JPEG (the bytes sent) and reads the directory', { timeout: 180_000 }, async () => {
  const { page } = await newPage();
  await signIn(page, 'pat');
  await openImage(page, files['chest.jpg'].id);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  assert.equal(download.suggestedFilename(), 'chest.jpg');
  const got = await readFile(await download.path());
  assert.ok(got.equals(files['chest.jpg'].bytes), 'the downloaded bytes are the sent file');
  // a patient may share with doctors only
  const roles = await page.locator('#share-to option').evaluateAll((os) => os.map((o) => o.textContent));
  assert.ok(roles.length > 1 && roles.slice(1).every((t) => t.includes('· doctor ·')), roles.join('; '));

  await page.click('nav a[href="/users"]');
  await page.locator('#user-list tbody tr').first().waitFor();
  assert.equal(await page.locator('#user-list tbody tr').count(), 5);
  const who = JSON.parse(await medcrypt('doca', ['whoami', '--json'])).user;
  const row = await page.locator('#user-list tr[data-user="doca"]').innerText();
  assert.ok(row.replace(/\s/g, '').includes(who.enc_fingerprint) && row.replace(/\s/g, '').includes(who.sign_fingerprint));
  await page.fill('#user-search', 'doctor');
  assert.equal(await page.locator('#user-list tbody tr').count(), 2);
  await page.fill('#user-search', who.sign_fingerprint.slice(0, 12));
  assert.equal(await page.locator('#user-list tbody tr').count(), 1);
  await page.fill('#user-search', '');
  await axe(page, 'directory');
  await shot(page, 'users');
});

test('no request carried a password, a private key, or plaintext image or metadata bytes; no page error', async () => {
  assert.ok(requests.length > 20, `${requests.length} requests recorded`);
  const needles = [];
  const add = (what, bytes) => {
    const b = Buffer.from(bytes);
    needles.push({ what, raw: b, hex: b.toString('hex') });
    // base64 of the same bytes at any alignment: three shifted encodings, edges trimmed
    for (let k = 0; k < 3; k++) needles.push({ what: `${what} (base64)`, raw: Buffer.from(b.subarray(k).toString('base64').slice(4, -4)) });
  };
  for (const user of Object.keys(USERS)) add(`${user}'s password`, Buffer.from(pw(user)));
  for (const user of Object.keys(USERS)) {
    const pem = await readFile(join(dir, `home-${user}`, 'keys', `${user}.key`), 'latin1');
    const blocks = [...pem.matchAll(/-----BEGIN ENCRYPTED PRIVATE KEY-----[\s\S]*?-----END ENCRYPTED PRIVATE KEY-----/g)];
    assert.ok(blocks.length >= 1, `${user}.key holds encrypted private keys`);
    for (const [i, m] of blocks.entries()) {
      const der = createPrivateKey({ key: m[0], format: 'pem', passphrase: pw(user) }).export({ type: 'pkcs8', format: 'der' });
      add(`${user}'s private key ${i}`, der.subarray(der.length - 40));
    }
  }
  for (const name of ['hand.png', 'chest.jpg', 'mf16.dcm']) {
    const b = files[name].bytes;
    add(`${name} plaintext`, b.subarray(Math.floor(b.length / 2), Math.floor(b.length / 2) + 48));
  }
  for (const v of ['Doe^Jane', 'FAKE-0002', 'Roe^Richard', 'FAKE-0003', 'Test^Viewer', 'FAKE-0001']) {
    needles.push({ what: `metadata ${v}`, raw: Buffer.from(v) });
  }
  const found = [];
  for (const r of requests) {
    const text = r.body.toString('latin1');
    for (const n of needles) {
      if ((n.raw.length && r.body.includes(n.raw)) || (n.hex && text.includes(n.hex))) found.push(`${r.method} ${r.url}: ${n.what}`);
      if (n.raw.length && r.url.includes(n.raw.toString('latin1'))) found.push(`URL ${r.url}: ${n.what}`);
    }
  }
  assert.deepEqual(found, []);
  const bodies = requests.filter((r) => r.body.length > 0).map((r) => new URL(r.url).pathname);
  assert.ok(bodies.includes('/api/v1/reauth') && bodies.some((p) => p.endsWith('/shares')), 'the recorder saw the share and its re-authentication');
  assert.deepEqual(pageProblems, []);
});
