/**
 * send.test.js: the send page (src/pages/send.js, src/worker/send.js, src/send/) end to end in
 * Chromium against a real medcryptd, started here on a free loopback port with a temporary data
 * directory, a small --max-upload and --web-root pointing at a build of the client made here.
 * JavaScript registers the admin with the first-start invitation and invites a technician, a
 * doctor, a patient and a researcher, who register with the CLI. Then, in the browser:
 *
 *   0. the patient appoints the doctor (`medcrypt appoint doc`): under the rules of issue 12 a
 *      technician sends a patient's image to that patient and the doctors they appointed only;
 *   1. the technician signs in through the login page, adds a PNG and a multi-frame DICOM with
 *      the file input and drops a JPEG (a drop event carrying a DataTransfer), checks the
 *      metadata on the page, picks the patient (the required picker: the patient's row is then
 *      ticked and locked) and the doctor and sends; the doctor's CLI
 *      (`medcrypt ls --json`) sees exactly the metadata `medcrypt meta --json` reads from the same
 *      files, and `medcrypt get` (which verifies the technician's signature) gives byte-identical
 *      originals; the patient's does too; the main thread has no task over 200 ms meanwhile;
 *   2. a truncated PNG, a non-image, a 0-byte file and a file over the size limit each get a
 *      clear message and nothing is uploaded: no request to /api/v1/uploads, and the server's
 *      image list is unchanged;
 *   3. (AES-256-GCM) a larger upload whose second PATCH is dropped resumes from the server's offset (HEAD,
 *      one POST only) and completes; the result opens byte for byte (screenshot meanwhile);
 *   4. regions: on a PNG the technician draws a rectangle with the mouse in the "Hide regions…"
 *      dialog and types a second one (axe checks the dialog), sends it to the doctor; the doctor's
 *      CLI gets the image with those pixels black and everything else as it was, and `medcrypt
 *      restore` gives back the original samples; in the doctor's browser, the view page's "Show
 *      hidden regions" restores them too (docs/FORMAT.md §13);
 *   4a. a send naming a doctor the patient did not appoint (doc2) is refused by the server
 *      (403 not_appointed): the item says which doctor and what to do, nothing is stored (the
 *      technician's list and doc2's are unchanged); unticked, "Ready to send again" sends it;
 *   5. no request body of the whole session holds the password, a private key, a window of any
 *      image's bytes or a metadata value;
 *   6. axe finds no serious or critical violation on the page.
 *
 * MEDCRYPT_BIN and MEDCRYPTD_BIN must name the binaries (tests/run-all sets them); without them
 * the test fails. Screenshots go to MEDCRYPT_SHOTS: send.png (queue and progress) and
 * send-refused.png (the four refusals).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import AxeBuilder from '@axe-core/playwright';
import { chromium } from 'playwright-core';
import { buildClient } from '../../build.mjs';
import { decode as decodePng } from 'fast-png';
import { openImage, signIn, startServer as startHarnessServer } from './harness.js';
import { Connection, register } from '../../src/account/index.js';
import { REPO, pattern, pngChunk, sha256hex } from '../helpers.js';
import { pinnedFetch } from '../account/https.js';
import { mapStorage } from '../account/helpers.js';

const BIN = process.env.MEDCRYPT_BIN ? resolve(process.env.MEDCRYPT_BIN) : undefined;
const DBIN = process.env.MEDCRYPTD_BIN ? resolve(process.env.MEDCRYPTD_BIN) : undefined;
const CHROMIUM = process.env.MEDCRYPT_CHROMIUM || '/usr/bin/chromium';
// Screenshots: into MEDCRYPT_SHOTS (docs/screenshots/ to refresh the README's), else a temporary
// directory, so that `make test` leaves the tracked ones alone.
const SHOTS = process.env.MEDCRYPT_SHOTS || join(tmpdir(), `medcrypt-shots-${process.pid}`);
const MAX_UPLOAD = 3 * 1024 * 1024;
const pw = (user) => `${user}'s passphrase: granite cello orbit 42`;

let dir;
let server;
let url;
let cert;
let fingerprint;
let firstInvitation;
let browser;
let context;
let page;
const fetches = [];
const requests = []; // every request the browser made: {method, url, body}
const fixtures = {}; // name -> {path, bytes}
const sent = {}; // fixture name -> image id

/* ---- the server and the CLI ---- */

function medcrypt(user, args, { password = pw(user) } = {}) {
  const env = { ...process.env, MEDCRYPT_HOME: join(dir, `home-${user}`), MEDCRYPT_PASSPHRASE: password };
  delete env.MEDCRYPT_ASSUME_YES;
  return new Promise((res, rej) => {
    execFile(BIN, args, { cwd: dir, env, maxBuffer: 1 << 26, encoding: 'buffer' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') rej(err);
      else res({ code: err ? err.code : 0, stdout: stdout.toString(), stderr: stderr.toString() });
    });
  });
}

async function medcryptOk(user, args) {
  const r = await medcrypt(user, args);
  assert.equal(r.code, 0, `medcrypt ${args.join(' ')} (as ${user}) exited ${r.code}: ${r.stderr}`);
  return r;
}

/* medcryptd on a free loopback port with this run's data directory (harness.js). */
async function startServer(webRoot) {
  const s = await startHarnessServer({ dataDir: join(dir, 'data'), webRoot, args: ['--max-upload', String(MAX_UPLOAD)] });
  ({ url, fingerprint, invitation: firstInvitation } = s);
  return s.child;
}

/* ---- fixtures: fake images, no patient data ---- */


/** An RGB PNG: a gradient with a bright square, or noise (incompressible) with `noise`. */
function makePng(w, h, { noise = false, text = true } = {}) {
  const stride = w * 3 + 1;
  const raw = Buffer.alloc(stride * h);
  const rnd = noise ? pattern('send-noise', w * h * 3) : null;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = y * stride + 1 + x * 3;
      if (rnd) {
        raw.set(rnd.subarray((y * w + x) * 3, (y * w + x) * 3 + 3), o);
      } else {
        const inSquare = x > w / 3 && x < (2 * w) / 3 && y > h / 3 && y < (2 * h) / 3;
        raw[o] = inSquare ? 240 : (x * 255) / w;
        raw[o + 1] = inSquare ? 220 : (y * 255) / h;
        raw[o + 2] = inSquare ? 200 : 90;
      }
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const time = Buffer.from([0x07, 0xe8, 3, 1, 10, 15, 30]); // 2024-03-01T10:15:30
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    text ? pngChunk('tEXt', Buffer.from('Creation Time\x002024-03-01 10:15', 'latin1')) : Buffer.alloc(0),
    text ? pngChunk('tEXt', Buffer.from('Software\x00medcrypt test fixture', 'latin1')) : Buffer.alloc(0),
    pngChunk('tIME', time),
    pngChunk('IDAT', deflateSync(raw, { level: noise ? 0 : 6 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** An APP1 Exif segment with DateTime and, in the Exif IFD, DateTimeOriginal. */
function exifSegment(dateTime, original) {
  const t = Buffer.alloc(8 + 2 + 24 + 4 + 2 + 12 + 4 + 20 + 20);
  t.write('II*\0', 0, 'latin1');
  t.writeUInt32LE(8, 4);
  t.writeUInt16LE(2, 8); // IFD0: two entries
  const exifIfd = 8 + 2 + 24 + 4;
  const str1 = exifIfd + 2 + 12 + 4;
  const str2 = str1 + 20;
  t.writeUInt16LE(0x0132, 10); t.writeUInt16LE(2, 12); t.writeUInt32LE(20, 14); t.writeUInt32LE(str1, 18);
  t.writeUInt16LE(0x8769, 22); t.writeUInt16LE(4, 24); t.writeUInt32LE(1, 26); t.writeUInt32LE(exifIfd, 30);
  t.writeUInt32LE(0, 34);
  t.writeUInt16LE(1, exifIfd);
  t.writeUInt16LE(0x9003, exifIfd + 2); t.writeUInt16LE(2, exifIfd + 4); t.writeUInt32LE(20, exifIfd + 6); t.writeUInt32LE(str2, exifIfd + 10);
  t.writeUInt32LE(0, exifIfd + 14);
  t.write(`${dateTime}\0`, str1, 'latin1');
  t.write(`${original}\0`, str2, 'latin1');
  const body = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), t]);
  const head = Buffer.from([0xff, 0xe1, 0, 0]);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, body]);
}

/** Explicit VR little endian, multi-frame 16-bit MONOCHROME2, fake patient. */
function makeDicom(frames, size) {
  const long = new Set(['OB', 'OW', 'OF', 'SQ', 'UT', 'UN']);
  const el = (group, element, vr, value) => {
    let v = Buffer.isBuffer(value) ? value : Buffer.from(value, 'latin1');
    if (v.length % 2) v = Buffer.concat([v, Buffer.from(vr === 'UI' || long.has(vr) ? [0] : [0x20])]);
    const head = Buffer.alloc(long.has(vr) ? 12 : 8);
    head.writeUInt16LE(group, 0);
    head.writeUInt16LE(element, 2);
    head.write(vr, 4, 'latin1');
    if (long.has(vr)) head.writeUInt32LE(v.length, 8);
    else head.writeUInt16LE(v.length, 6);
    return Buffer.concat([head, v]);
  };
  const us = (n) => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(n);
    return b;
  };
  const sop = '1.2.826.0.1.3680043.8.498.1';
  const meta = Buffer.concat([
    el(0x0002, 0x0001, 'OB', Buffer.from([0, 1])),
    el(0x0002, 0x0002, 'UI', '1.2.840.10008.5.1.4.1.1.7.3'),
    el(0x0002, 0x0003, 'UI', sop),
    el(0x0002, 0x0010, 'UI', '1.2.840.10008.1.2.1'),
    el(0x0002, 0x0012, 'UI', '1.2.826.0.1.3680043.8.498'),
  ]);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(meta.length);
  const pixels = Buffer.alloc(frames * size * size * 2);
  for (let f = 0; f < frames; f++) {
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) pixels.writeUInt16LE(((x + y + 8 * f) % size) * 64, ((f * size + y) * size + x) * 2);
  }
  return Buffer.concat([
    Buffer.alloc(128), Buffer.from('DICM', 'latin1'),
    el(0x0002, 0x0000, 'UL', groupLength), meta,
    el(0x0008, 0x0016, 'UI', '1.2.840.10008.5.1.4.1.1.7.3'),
    el(0x0008, 0x0018, 'UI', sop),
    el(0x0008, 0x0020, 'DA', '20240301'),
    el(0x0008, 0x0030, 'TM', '101530'),
    el(0x0008, 0x0060, 'CS', 'CT'),
    el(0x0008, 0x1030, 'LO', 'Chest CT (fake)'),
    el(0x0010, 0x0010, 'PN', 'Doe^Jane'),
    el(0x0010, 0x0020, 'LO', 'PAT-0042'),
    el(0x0010, 0x0030, 'DA', '19800101'),
    el(0x0010, 0x0040, 'CS', 'F'),
    el(0x0018, 0x0015, 'CS', 'CHEST'),
    el(0x0020, 0x000d, 'UI', '1.2.826.0.1.3680043.8.498.2'),
    el(0x0020, 0x000e, 'UI', '1.2.826.0.1.3680043.8.498.3'),
    el(0x0028, 0x0002, 'US', us(1)),
    el(0x0028, 0x0004, 'CS', 'MONOCHROME2'),
    el(0x0028, 0x0008, 'IS', String(frames)),
    el(0x0028, 0x0010, 'US', us(size)),
    el(0x0028, 0x0011, 'US', us(size)),
    el(0x0028, 0x0100, 'US', us(16)),
    el(0x0028, 0x0101, 'US', us(16)),
    el(0x0028, 0x0102, 'US', us(15)),
    el(0x0028, 0x0103, 'US', us(0)),
    el(0x7fe0, 0x0010, 'OW', pixels),
  ]);
}

async function fixture(name, bytes) {
  const path = join(dir, 'files', name);
  await writeFile(path, bytes);
  fixtures[name] = { path, bytes: Buffer.from(bytes) };
  return path;
}

/* ---- the browser ---- */

async function items(status) {
  return page.locator(`#send-queue .mc-send-item[data-status="${status}"]`).count();
}

/** The images the signed-in technician's session lists, fetched from the page. */
async function serverImages() {
  return page.evaluate(async () => (await (await fetch('/api/v1/images', { headers: { Accept: 'application/json' } })).json()).images.map((i) => i.id));
}

before(async () => {
  assert.ok(BIN, 'MEDCRYPT_BIN is not set: it must name the medcrypt binary (e.g. build/src/medcrypt/medcrypt)');
  assert.ok(DBIN, 'MEDCRYPTD_BIN is not set: it must name the medcryptd binary (e.g. build/src/medcryptd/medcryptd)');
  await access(BIN, constants.X_OK).catch(() => assert.fail(`MEDCRYPT_BIN=${BIN} is not an executable file`));
  await access(DBIN, constants.X_OK).catch(() => assert.fail(`MEDCRYPTD_BIN=${DBIN} is not an executable file`));
  assert.ok(existsSync(CHROMIUM), `Chromium is required at ${CHROMIUM} (scripts/bootstrap installs Debian's chromium)`);
  dir = await mkdtemp(join(tmpdir(), 'medcrypt-web-send-'));
  await mkdir(join(dir, 'files'));
  const webRoot = join(dir, 'web');
  await buildClient({ outdir: webRoot });
  server = await startServer(webRoot);
  cert = await readFile(join(dir, 'data', 'tls.crt'), 'utf8');

  // The admin (JavaScript) invites; the others register with the CLI.
  const fetch = pinnedFetch({ ca: cert, localAddress: '127.0.0.1' });
  fetches.push(fetch);
  const admin = new Connection({ fetch, baseUrl: url });
  await register(admin, { invitation: firstInvitation, username: 'admin', password: pw('admin'), memory: mapStorage() });
  const people = [
    ['tech', 'technician', 'Tom Lab'],
    ['doc', 'doctor', 'Dr. Grace Hopper'],
    ['doc2', 'doctor', 'Dr. Alan Turing'],
    ['pat', 'patient', 'Jane Doe'],
    ['res', 'researcher', 'Rita Research'],
  ];
  for (const [user, role, name] of people) {
    const { body } = await admin.request('POST', '/api/v1/invitations', { json: { role }, expect: [201] });
    await medcryptOk(user, ['register', body.code, '--user', user, '--display-name', name, '--url', url, '--fingerprint', fingerprint]);
  }
  await medcryptOk('pat', ['appoint', 'doc']); // doc2 stays unappointed

  await fixture('chest.png', makePng(320, 240));
  await fixture('scan-series.dcm', makeDicom(16, 128));
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
  page = await context.newPage();
  // A JPEG as Chromium encodes it, with EXIF dates added after SOI.
  const jpeg = Buffer.from(await page.evaluate(async () => {
    const c = new OffscreenCanvas(200, 150);
    const g = c.getContext('2d');
    const grad = g.createLinearGradient(0, 0, 200, 150);
    grad.addColorStop(0, '#123');
    grad.addColorStop(1, '#9ab');
    g.fillStyle = grad;
    g.fillRect(0, 0, 200, 150);
    g.fillStyle = '#fff';
    g.fillRect(60, 40, 80, 70);
    return [...new Uint8Array(await (await c.convertToBlob({ type: 'image/jpeg', quality: 0.9 })).arrayBuffer())];
  }));
  await fixture('wound-photo.jpg', Buffer.concat([jpeg.subarray(0, 2), exifSegment('2024:03:02 09:00:00', '2024:03:01 08:30:00'), jpeg.subarray(2)]));

  context.on('request', (r) => requests.push({ method: r.method(), url: r.url(), body: r.postDataBuffer() }));
  page.on('pageerror', (e) => console.error('page error:', e));
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

test('the technician sends a PNG, a multi-frame DICOM and a dropped JPEG; the doctor gets them, metadata and signature', { timeout: 180000 }, async () => {
  await page.goto(`${url}/login`);
  await page.fill('#login-username', 'tech');
  await page.fill('#login-password', pw('tech'));
  await page.click('form button[type=submit]');
  await page.waitForURL(/\/inbox$/, { timeout: 60000 });
  await page.click('nav a[href="/send"]');
  await page.waitForURL(/\/send$/);
  await page.locator('#send-to-doc').waitFor();
  await page.locator('#send-patient option[value="pat"]').waitFor({ state: 'attached' });
  // Main-thread tasks from here on (Long Tasks API: every task over 50 ms).
  await page.evaluate(() => {
    globalThis.longTasks = [];
    new PerformanceObserver((list) => globalThis.longTasks.push(...list.getEntries().map((e) => e.duration))).observe({ type: 'longtask' });
  });

  // The technician may send to doctors and patients, not to researchers.
  assert.equal(await page.locator('#send-to-res').count(), 0, 'a researcher is not offered to a technician');
  assert.equal(await page.locator('#send-to-tech').count(), 0, 'the sender is not a listed recipient (always added)');
  assert.deepEqual(await page.locator('#send-patient option').evaluateAll((os) => os.map((o) => o.value)), ['', 'pat'], 'the patients of the directory are offered');
  assert.ok(await page.locator('#send-to-pat').isHidden(), 'no patient is a recipient before one is chosen');
  const docFp = JSON.parse((await medcryptOk('doc', ['whoami', '--json'])).stdout).user.enc_fingerprint;
  assert.equal((await page.textContent('#send-to-doc-fp')).replace(/\s|Key fingerprint/g, ''), docFp, 'the doctor\'s fingerprint is shown');

  await page.setInputFiles('#send-files', [fixtures['chest.png'].path, fixtures['scan-series.dcm'].path]);
  const jpeg = fixtures['wound-photo.jpg'].bytes;
  const dataTransfer = await page.evaluateHandle(({ b64, name }) => {
    const dt = new DataTransfer();
    dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, { type: 'image/jpeg' }));
    return dt;
  }, { b64: jpeg.toString('base64'), name: 'wound-photo.jpg' });
  await page.dispatchEvent('#send-drop', 'drop', { dataTransfer });
  await page.waitForFunction(() => document.querySelectorAll('#send-queue [data-status="ready"]').length === 3, null, { timeout: 30000 });
  const queueText = await page.textContent('#send-queue');
  for (const shown of ['PAT-0042', 'Doe Jane', '2024-03-01', 'CT', '128 × 128', '16', '320 × 240', '200 × 150', '2024:03:01 08:30:00']) {
    assert.ok(queueText.includes(shown), `the queue shows ${shown} for confirmation`);
  }
  assert.equal(await page.locator('#send-queue img.mc-preview').count(), 2, 'pixelated previews of the PNG and the JPEG');
  assert.match(queueText, /No preview for DICOM/);
  assert.ok(await page.isDisabled('#send-submit'), 'no patient yet: nothing to send');
  assert.match(await page.textContent('#send-summary'), /Choose the patient/);

  await page.selectOption('#send-patient', 'pat');
  assert.ok(await page.isChecked('#send-to-pat'), 'the patient is a recipient');
  assert.ok(await page.isDisabled('#send-to-pat'), 'and cannot be unticked');
  assert.ok(await page.isEnabled('#send-submit'), 'a patient and files: ready to send (the patient alone may receive)');
  await page.check('#send-to-doc');
  assert.match(await page.textContent('#send-summary'), /3 files ready about Jane Doe, for Jane Doe, Dr\. Grace Hopper/);
  await page.click('#send-submit');
  await page.waitForFunction(() => document.querySelectorAll('#send-queue [data-status="sent"]').length === 3, null, { timeout: 60000 })
    .catch(async (e) => {
      // say where each file stood, so that a failure names the file and its error
      const items = await page.$$eval('#send-queue [data-status]', (els) => els.map((el) => `${el.dataset.status}: ${el.innerText.replace(/\s+/g, ' ').slice(0, 200)}`));
      throw new Error(`${e.message}\n${items.join('\n')}`);
    });
  assert.match(await page.textContent('#send-summary'), /3 sent/);
  const longest = Math.max(0, ...(await page.evaluate(() => globalThis.longTasks)));
  assert.ok(longest < 200, `the page's thread was blocked ${longest} ms`);
  assert.equal(await page.locator('#send-queue dl.mc-meta').count(), 0, 'sent: the metadata is gone from the page');

  // The doctor's CLI: the metadata is what `medcrypt meta` reads from the same files.
  const listed = JSON.parse((await medcryptOk('doc', ['ls', '--json'])).stdout);
  const images = listed.images ?? listed;
  assert.equal(images.length, 3);
  for (const name of ['chest.png', 'scan-series.dcm', 'wound-photo.jpg']) {
    const image = images.find((i) => i.metadata?.file === name);
    assert.ok(image, `${name} is listed with its metadata`);
    assert.equal(image.sender, 'tech');
    const cli = JSON.parse((await medcryptOk('doc', ['meta', '--json', fixtures[name].path])).stdout);
    assert.equal(cli.file, fixtures[name].path);
    cli.file = name; // `meta` names the path it was given, `send` the file's base name
    assert.deepEqual(image.metadata, cli, `${name}: the browser sealed what \`medcrypt meta\` reads`);
    assert.deepEqual(Object.keys(image.metadata), Object.keys(cli), `${name}: in the same order`);
    sent[name] = image.id;
    const out = join(dir, `doc-${name}`);
    await medcryptOk('doc', ['get', image.id, '-o', out]); // verifies the signature, or fails
    assert.equal(sha256hex(await readFile(out)), sha256hex(fixtures[name].bytes), `${name}: byte-identical`);
  }
  // The server recorded whom each image is about (IMAGE.patient), from the upload's `patient`.
  const recorded = await page.evaluate(async () => (await (await fetch('/api/v1/images', { headers: { Accept: 'application/json' } })).json()).images
    .map((i) => [i.id, i.patient, i.deidentified]));
  for (const name of ['chest.png', 'scan-series.dcm', 'wound-photo.jpg']) {
    assert.deepEqual(recorded.find(([id]) => id === sent[name])?.slice(1), ['pat', false], `${name}: about pat, not de-identified`);
  }
  const patOut = join(dir, 'pat-scan.dcm');
  await medcryptOk('pat', ['get', sent['scan-series.dcm'], '-o', patOut]);
  assert.equal(sha256hex(await readFile(patOut)), sha256hex(fixtures['scan-series.dcm'].bytes));
  const notShared = await medcrypt('doc2', ['get', sent['chest.png'], '-o', join(dir, 'doc2.png')]);
  assert.notEqual(notShared.code, 0, 'a doctor who was not picked cannot open it');
});

test('bad input gets a clear message per file and nothing is uploaded', { timeout: 60000 }, async () => {
  const png = fixtures['chest.png'].bytes;
  await fixture('truncated.png', png.subarray(0, Math.floor(png.length / 2)));
  await fixture('report.png', Buffer.from('Lab report 2024-03-01: all values within range.\n'.repeat(20)));
  await fixture('empty.dcm', Buffer.alloc(0));
  await fixture('huge.dcm', Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), Buffer.alloc(MAX_UPLOAD + 1024 * 1024)]));
  const before = await serverImages();
  const uploadsBefore = requests.filter((r) => r.url.includes('/api/v1/uploads')).length;
  await page.click('button:has-text("Clear sent and refused files")');
  await page.setInputFiles('#send-files', ['truncated.png', 'report.png', 'empty.dcm', 'huge.dcm'].map((n) => fixtures[n].path));
  await page.waitForFunction(() => document.querySelectorAll('#send-queue [data-status="invalid"]').length === 4, null, { timeout: 30000 });
  const message = async (name) => page.locator('#send-queue .mc-send-item', { hasText: name }).locator('.mc-item-error').textContent();
  assert.match(await message('truncated.png'), /PNG is truncated or damaged/);
  assert.match(await message('report.png'), /not a DICOM, PNG or JPEG file/);
  assert.match(await message('empty.dcm'), /empty \(0 bytes\)/);
  assert.match(await message('huge.dcm'), /Too large: 4\.0 MiB; the server accepts at most 3\.0 MiB/);
  assert.equal(await page.locator('#send-queue [role="alert"]').count(), 4, 'each message is announced');
  assert.ok(await page.isDisabled('#send-submit'), 'nothing to send');
  await mkdir(SHOTS, { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SHOTS, 'send-refused.png') });
  await page.click('#send-submit', { force: true }).catch(() => {});
  assert.deepEqual(await serverImages(), before, 'the server\'s image list is unchanged');
  assert.equal(requests.filter((r) => r.url.includes('/api/v1/uploads')).length, uploadsBefore, 'no upload was even started');
});

test('a dropped PATCH during a larger upload resumes from the server\'s offset and completes', { timeout: 120000 }, async () => {
  await fixture('large-noise.png', makePng(900, 900, { noise: true, text: false }));
  await page.click('button:has-text("Clear sent and refused files")');
  let patches = 0;
  let release;
  const held = new Promise((res) => (release = res));
  let holding;
  const isHeld = new Promise((res) => (holding = res));
  await context.route('**/api/v1/uploads/*', async (route) => {
    if (route.request().method() !== 'PATCH') return route.continue();
    patches++;
    if (patches === 2) return route.abort('connectionreset'); // the connection drops
    if (patches === 3) {
      holding();
      await held; // the retry waits while the screenshot is taken
    }
    return route.continue();
  });
  const uploadStart = requests.length;
  await page.setInputFiles('#send-files', fixtures['large-noise.png'].path);
  await page.waitForFunction(() => document.querySelectorAll('#send-queue [data-status="ready"]').length === 1, null, { timeout: 30000 });
  // More files queued behind it (they wait their turn) and a refused one, as a user would have.
  await page.setInputFiles('#send-files', ['scan-series.dcm', 'wound-photo.jpg', 'report.png'].map((n) => fixtures[n].path));
  await page.waitForFunction(() => document.querySelectorAll('#send-queue [data-status="ready"]').length === 3 &&
    document.querySelectorAll('#send-queue [data-status="invalid"]').length === 1, null, { timeout: 30000 });
  assert.ok(await page.isChecked('#send-to-doc'));
  await page.check('#send-cipher-aes'); // AES-256-GCM this time (ChaCha20-Poly1305 above)
  await page.click('#send-submit');
  await isHeld;
  await page.waitForFunction(() => /\d+% · .* left/.test(document.querySelector('.mc-progress-text')?.textContent ?? ''));
  await page.evaluate(() => window.scrollTo(0, 0));
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, 'send.png') });
  release();
  await page.waitForFunction(() => document.querySelectorAll('#send-queue [data-status="sent"]').length === 3, null, { timeout: 60000 });
  await context.unroute('**/api/v1/uploads/*');
  const mine = requests.slice(uploadStart).filter((r) => r.url.includes('/api/v1/uploads'));
  assert.equal(mine.filter((r) => r.method === 'POST').length, 3, 'one upload a file: the large one resumed, not started again');
  assert.ok(mine.some((r) => r.method === 'HEAD'), 'the client asked the server for its offset');
  assert.ok(patches >= 4, `${patches} PATCHes: 1 MiB pieces, one dropped and sent again`);
  const image = JSON.parse((await medcryptOk('doc', ['ls', '--json'])).stdout);
  const big = (image.images ?? image).find((i) => i.metadata?.file === 'large-noise.png');
  assert.ok(big);
  const out = join(dir, 'doc-large.png');
  await medcryptOk('doc', ['get', big.id, '-o', out]);
  assert.equal(sha256hex(await readFile(out)), sha256hex(fixtures['large-noise.png'].bytes), 'the resumed upload opens byte for byte');
});

test('regions drawn on a PNG are hidden in what is sent; the doctor restores them with the CLI and in the browser', { timeout: 240000 }, async () => {
  await fixture('form.png', makePng(200, 150));
  await page.click('button:has-text("Clear sent and refused files")');
  await page.setInputFiles('#send-files', fixtures['form.png'].path);
  const row = page.locator('#send-queue .mc-send-item', { hasText: 'form.png' });
  await page.waitForFunction(() => [...document.querySelectorAll('#send-queue .mc-send-item')].some((li) => li.dataset.status === 'ready' && li.textContent.includes('form.png')));
  await row.getByRole('button', { name: 'Hide regions… of form.png' }).click();
  const dialog = page.locator('dialog.mc-region-dialog');
  await dialog.locator('canvas.mc-region-canvas:not(.d-none)').waitFor();
  const canvas = dialog.locator('canvas.mc-region-canvas');
  assert.match(await canvas.getAttribute('aria-label'), /200 × 150 pixels/);

  // By mouse: from image pixel (20, 30) to (99, 69), both included: 80 x 40.
  const box = await canvas.boundingBox();
  const at = (x, y) => [box.x + ((x + 0.5) * box.width) / 200, box.y + ((y + 0.5) * box.height) / 150];
  await page.mouse.move(...at(20, 30));
  await page.mouse.down();
  await page.mouse.move(...at(60, 50), { steps: 5 });
  await page.mouse.move(...at(99, 69), { steps: 5 });
  await page.mouse.up();
  // By keyboard: two typed regions, the second one removed again.
  for (const [x, y, w, h] of [[150, 100, 30, 20], [0, 0, 5, 5]]) {
    await dialog.getByLabel('x (left)').fill(String(x));
    await dialog.getByLabel('y (top)').fill(String(y));
    await dialog.getByLabel('width').fill(String(w));
    await dialog.getByLabel('height').fill(String(h));
    await dialog.getByLabel('height').press('Enter');
  }
  await dialog.getByLabel('x (left)').fill('190');
  await dialog.getByLabel('width').fill('20');
  await dialog.getByLabel('y (top)').fill('0');
  await dialog.getByLabel('height').fill('1');
  await dialog.getByRole('button', { name: 'Add region' }).click();
  assert.match(await dialog.locator('[role="alert"]').textContent(), /inside the 200 × 150 image/, 'a region outside is refused on the page');
  assert.deepEqual(await dialog.locator('li[data-region]').evaluateAll((lis) => lis.map((li) => li.dataset.region)), ['20,30,80,40', '150,100,30,20', '0,0,5,5']);
  const { violations } = await new AxeBuilder({ page }).include('dialog.mc-region-dialog').analyze();
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`), [], 'axe on the region dialog');
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, 'send-regions.png') });
  await dialog.getByRole('button', { name: /^Remove region 3 / }).click();
  assert.match(await dialog.textContent(), /2 of 64 regions/);
  await dialog.getByRole('button', { name: 'Use these regions' }).click();
  await dialog.waitFor({ state: 'detached' });
  assert.match(await row.locator('.mc-region-count').textContent(), /2 regions will be hidden/);

  await page.check('#send-to-doc');
  await page.click('#send-submit');
  await page.waitForFunction(() => [...document.querySelectorAll('#send-queue .mc-send-item')].some((li) => li.dataset.status === 'sent' && li.textContent.includes('form.png')), null, { timeout: 60000 });

  // The doctor's CLI: the image as sent has the regions black, the rest untouched...
  const listed = JSON.parse((await medcryptOk('doc', ['ls', '--json'])).stdout);
  const image = (listed.images ?? listed).find((i) => i.metadata?.file === 'form.png');
  assert.ok(image, 'form.png is listed');
  const got = join(dir, 'doc-form.png');
  await medcryptOk('doc', ['get', image.id, '-o', got]);
  const original = decodePng(fixtures['form.png'].bytes).data;
  const redacted = decodePng(await readFile(got));
  assert.equal(redacted.width, 200);
  const inside = (x, y) => (x >= 20 && x < 100 && y >= 30 && y < 70) || (x >= 150 && x < 180 && y >= 100 && y < 120);
  let hidden = 0;
  for (let y = 0; y < 150; y++) {
    for (let x = 0; x < 200; x++) {
      for (let c = 0; c < 3; c++) {
        const i = (y * 200 + x) * 3 + c;
        if (inside(x, y)) {
          assert.equal(redacted.data[i], 0, `pixel ${x},${y} is hidden (black)`);
          if (original[i] !== 0) hidden++;
        } else {
          assert.equal(redacted.data[i], original[i], `pixel ${x},${y} outside the regions is unchanged`);
        }
      }
    }
  }
  assert.ok(hidden > 5000, `the regions covered the picture (${hidden} samples changed)`);
  // ...and `medcrypt restore` with the doctor's key gives the original samples back.
  const back = join(dir, 'doc-form-restored.png');
  const restored = await medcryptOk('doc', ['restore', '-k', join(dir, 'home-doc', 'keys', 'doc.key'), '-o', back, got]);
  assert.match(restored.stderr, /good signature by [0-9a-f]{64}/, 'the regions are signed (by the technician)');
  assert.deepEqual(decodePng(await readFile(back)).data, original, 'the CLI restored the original samples');
  const other = await medcrypt('doc2', ['restore', '-k', join(dir, 'home-doc2', 'keys', 'doc2.key'), '-o', join(dir, 'x.png'), got]);
  assert.equal(other.code, 6, 'another doctor\'s key does not open the regions');

  // The doctor's browser: "Show hidden regions" on the view page.
  const docContext = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 }, colorScheme: 'dark', acceptDownloads: true });
  try {
    const docPage = await docContext.newPage();
    docPage.setDefaultTimeout(60000);
    await signIn(docPage, url, 'doc', pw('doc'));
    await openImage(docPage, url, image.id);
    await docPage.locator('#regions-card:not(.d-none)').waitFor();
    await docPage.click('#show-regions');
    await docPage.locator('#regions-card[data-state="restored"]').waitFor({ timeout: 60000 });
    assert.equal(await docPage.getAttribute('#regions-card', 'data-regions'), '2');
    assert.match(await docPage.textContent('#regions-status'), /2 regions restored/);
    const [download] = await Promise.all([docPage.waitForEvent('download'), docPage.click('#download-restored')]);
    assert.equal(download.suggestedFilename(), 'form-restored.png');
    assert.deepEqual(decodePng(await readFile(await download.path())).data, original, 'the browser restored the original samples');
    const { violations: v2 } = await new AxeBuilder({ page: docPage }).include('#regions-card').analyze();
    assert.deepEqual(v2.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id), [], 'axe on the regions card');
  } finally {
    await docContext.close();
  }
});

test('a doctor the patient did not appoint: the item says so (not_appointed), nothing is stored; unticked, it sends', { timeout: 120000 }, async () => {
  await fixture('knee.png', makePng(160, 120));
  await page.click('button:has-text("Clear sent and refused files")');
  const before = await serverImages();
  const doc2Before = JSON.parse((await medcryptOk('doc2', ['ls', '--json'])).stdout);
  assert.equal((doc2Before.images ?? doc2Before).length, 0);
  await page.setInputFiles('#send-files', fixtures['knee.png'].path);
  await page.waitForFunction(() => document.querySelectorAll('#send-queue [data-status="ready"]').length === 1, null, { timeout: 30000 });
  assert.equal(await page.inputValue('#send-patient'), 'pat');
  await page.uncheck('#send-to-doc');
  await page.check('#send-to-doc2');
  const mark = requests.length;
  await page.click('#send-submit');
  await page.waitForFunction(() => document.querySelectorAll('#send-queue [data-status="failed"]').length === 1, null, { timeout: 60000 });
  const item = page.locator('#send-queue .mc-send-item', { hasText: 'knee.png' });
  const error = item.locator('.mc-item-error');
  assert.equal(await error.getAttribute('data-reason'), 'appointment', await error.textContent());
  assert.match(await error.textContent(),
    /Dr\. Alan Turing \(doc2\) is not one of the doctors Jane Doe \(pat\) appointed: untick Dr\. Alan Turing \(doc2\) and send again, or ask Jane Doe \(pat\) to appoint them first.*Nothing was stored\./);
  assert.equal(await error.getAttribute('role'), 'alert', 'announced');
  // Nothing stored: neither in the technician's list nor in doc2's.
  assert.deepEqual(await serverImages(), before, 'the server\'s image list is unchanged');
  const doc2After = JSON.parse((await medcryptOk('doc2', ['ls', '--json'])).stdout);
  assert.equal((doc2After.images ?? doc2After).length, 0, 'doc2 holds nothing');
  const created = requests.slice(mark).filter((r) => r.method === 'POST' && r.url.endsWith('/api/v1/uploads'));
  assert.equal(created.length, 1, 'one upload was started');
  await mkdir(SHOTS, { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SHOTS, 'send-not-appointed.png') });

  // As the sentence says: untick doc2, tick the appointed doctor, send again.
  await page.uncheck('#send-to-doc2');
  await page.check('#send-to-doc');
  await item.getByRole('button', { name: 'Ready to send again knee.png' }).click();
  await page.click('#send-submit');
  await page.waitForFunction(() => document.querySelectorAll('#send-queue [data-status="sent"]').length === 1, null, { timeout: 60000 });
  assert.equal((await serverImages()).length, before.length + 1);
});

test('no request body carries the password, a private key, image bytes or metadata values', async () => {
  const bodies = requests.filter((r) => r.body && r.body.length).map((r) => ({ ...r, body: Buffer.from(r.body) }));
  const patchBytes = bodies.filter((r) => r.method === 'PATCH').reduce((n, r) => n + r.body.length, 0);
  const plainBytes = Object.values(fixtures).reduce((n, f) => n + f.bytes.length, 0) - fixtures['huge.dcm'].bytes.length;
  assert.ok(patchBytes > 3_000_000 && patchBytes < plainBytes * 2, `the recorder saw the uploads' bodies (${patchBytes} bytes)`);
  const secrets = [['the password', Buffer.from(pw('tech'))]];
  const keyFile = await readFile(join(dir, 'home-tech', 'keys', 'tech.key'), 'latin1');
  for (const pem of keyFile.match(/-----BEGIN ENCRYPTED PRIVATE KEY-----[\s\S]*?-----END ENCRYPTED PRIVATE KEY-----/g)) {
    const der = createPrivateKey({ key: pem, format: 'pem', passphrase: pw('tech') }).export({ type: 'pkcs8', format: 'der' });
    secrets.push(['a private key', der.subarray(der.length - 48, der.length - 16)]);
    secrets.push(['a private key (base64)', Buffer.from(der.subarray(der.length - 48).toString('base64').slice(8, 40))]);
  }
  for (const [name, { bytes }] of Object.entries(fixtures)) {
    if (bytes.length < 256 || name === 'report.png' || name === 'huge.dcm') continue;
    secrets.push([`bytes of ${name}`, bytes.subarray(Math.floor(bytes.length / 2), Math.floor(bytes.length / 2) + 48)]);
    secrets.push([`the head of ${name}`, bytes.subarray(0, 32)]);
  }
  for (const value of ['PAT-0042', 'Doe^Jane', 'Chest CT (fake)', 'scan-series.dcm', 'wound-photo.jpg', '2024:03:01 08:30:00']) {
    secrets.push([`the metadata value ${value}`, Buffer.from(value)]);
  }
  for (const r of bodies) {
    for (const [what, needle] of secrets) {
      assert.equal(r.body.indexOf(needle), -1, `${r.method} ${r.url} carries ${what}`);
    }
  }
  for (const r of requests) assert.ok(!r.url.includes('PAT-0042') && !r.url.includes(encodeURIComponent(pw('tech'))), 'nor does a URL');
});

test('axe: no serious or critical violation on the send page', async () => {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`), []);
});
