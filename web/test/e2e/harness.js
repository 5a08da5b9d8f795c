/**
 * harness.js: what the browser end-to-end tests can share (flow.test.js uses it; the older
 * e2e tests keep their own copies): checking the binaries and Chromium are there (a missing one
 * FAILS the test, never skips it), a medcryptd on a free loopback port with its first-start
 * output parsed, the CLI as one user with the password in MEDCRYPT_PASSPHRASE, recorded browser
 * contexts, the page steps (register from an invitation link, sign in, the inbox's rows, opening
 * an image inside the app), "is this element blank?" and fake image fixtures (PNG, JPEG EXIF,
 * DICOM; no patient data).
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { X509Certificate, createHash, randomFillSync } from 'node:crypto';
import { constants } from 'node:fs';
import { access, open, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';
import AxeBuilder from '@axe-core/playwright';
import { pngChunk } from '../helpers.js';

export const BIN = process.env.MEDCRYPT_BIN ? resolve(process.env.MEDCRYPT_BIN) : undefined;
export const DBIN = process.env.MEDCRYPTD_BIN ? resolve(process.env.MEDCRYPTD_BIN) : undefined;
export const CHROMIUM = process.env.MEDCRYPT_CHROMIUM ?? '/usr/bin/chromium';

/** Fails (assert) unless MEDCRYPT_BIN, MEDCRYPTD_BIN and Chromium are executables. */
export async function requireTools({ cli = true } = {}) {
  if (cli) assert.ok(BIN, 'MEDCRYPT_BIN is not set: it must name the medcrypt binary (e.g. build/src/medcrypt/medcrypt)');
  assert.ok(DBIN, 'MEDCRYPTD_BIN is not set: it must name the medcryptd binary (e.g. build/src/medcryptd/medcryptd)');
  if (cli) await access(BIN, constants.X_OK).catch(() => assert.fail(`MEDCRYPT_BIN=${BIN} is not an executable file`));
  await access(DBIN, constants.X_OK).catch(() => assert.fail(`MEDCRYPTD_BIN=${DBIN} is not an executable file`));
  await access(CHROMIUM, constants.X_OK).catch(() => assert.fail(`Chromium is required at ${CHROMIUM} (scripts/bootstrap installs it)`));
}

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/**
 * Starts medcryptd on a free loopback port with a new data directory; resolves when it printed
 * its first-start text. Returns {child, url, fingerprint, invitation, registerLink, stdout, spki}:
 * registerLink is the line under "Create the account in a browser:"; spki the base64 SHA-256 of
 * the certificate's key, for Chromium's --ignore-certificate-errors-spki-list (that cert only).
 */
export async function startServer({ dataDir, webRoot, args = [] }) {
  const port = await freePort();
  const child = spawn(DBIN, ['--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--web-root', webRoot, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
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
      if (/is listening on/.test(out) && /Create the account in a browser:\s*\n\s*https:\S+\n/.test(out)) {
        clearTimeout(timer);
        res();
      }
    });
  });
  child.removeAllListeners('exit');
  const cert = new X509Certificate(await readFile(join(dataDir, 'tls.crt')));
  return {
    child,
    stdout: out,
    url: /is listening on (https:\/\/localhost:\d+)/.exec(out)[1],
    fingerprint: /SHA-256 fingerprint:\s*\n\s*([0-9A-F:]+)/.exec(out)[1],
    invitation: /invitation: ([A-Z2-7]{32})/.exec(out)[1],
    registerLink: /Create the account in a browser:\s*\n\s*(https:\S+)\n/.exec(out)[1],
    spki: createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64'),
  };
}

export async function stopServer(child) {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((res) => child.once('exit', res));
  child.kill('SIGTERM');
  await exited;
}

/** Runs `medcrypt ARGS` with MEDCRYPT_HOME=home and the password in MEDCRYPT_PASSPHRASE. */
export function medcrypt({ home, password, cwd }, args) {
  const env = { ...process.env, MEDCRYPT_HOME: home, MEDCRYPT_PASSPHRASE: password };
  delete env.MEDCRYPT_ASSUME_YES;
  return new Promise((res, rej) => {
    execFile(BIN, args, { cwd, env, maxBuffer: 1 << 26 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') rej(err);
      else res({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

export async function medcryptOk(who, args) {
  const r = await medcrypt(who, args);
  assert.equal(r.code, 0, `medcrypt ${args.join(' ')} (home ${who.home}) exited ${r.code}: ${r.stderr}`);
  return r;
}

/**
 * A new browser context (its own cookies: one person at one computer) and page; every request
 * goes into `requests` as {url, method, body: Buffer}, page errors and CSP reports into `problems`.
 */
export async function recordedPage(browser, { requests, problems }) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  context.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postDataBuffer() ?? Buffer.alloc(0) }));
  const page = await context.newPage();
  page.setDefaultTimeout(60000);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (process.env.MEDCRYPT_TEST_CONSOLE) console.log(`console ${m.type()}: ${m.text()}`);
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  return { context, page };
}

/** No serious or critical axe-core violation on the page as it is now. */
export async function axe(page, what) {
  const { violations } = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), [], `axe on ${what}`);
}

/**
 * Registers through /register from an invitation link (code in the fragment) and confirms the
 * recovery code; resolves to the code. The page then leaves /register holding the keys.
 */
export async function registerThroughPage(page, link, { username, display, password, timeout = 240_000 }) {
  await page.goto(link);
  const invitation = page.locator('#reg-invitation');
  await invitation.waitFor();
  assert.match(await invitation.inputValue(), /^[A-Z2-7]{32}$/, 'the invitation code is filled in from the link');
  assert.equal(new URL(page.url()).hash, '', 'the code left the address bar');
  await page.fill('#reg-username', username);
  await page.fill('#reg-display', display);
  await page.fill('#reg-password', password);
  await page.locator('#reg-strength-summary').filter({ hasText: 'Good enough' }).waitFor();
  await page.fill('#reg-confirm', password);
  await page.click('button[type=submit]');
  const codeEl = page.locator('[data-testid=recovery-code]');
  await codeEl.waitFor({ timeout });
  const code = (await codeEl.innerText()).trim();
  assert.match(code, /^([A-Z2-7]{4}-){7}[A-Z2-7]{4}$/);
  await page.getByLabel('I have saved my recovery code somewhere safe').check();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL((u) => u.pathname !== '/register');
  return code;
}

export async function signIn(page, url, username, password) {
  await page.goto(`${url}/login`);
  await page.fill('#login-username', username);
  await page.fill('#login-password', password);
  await page.click('button[type=submit]');
  await page.waitForURL(`${url}/inbox`, { timeout: 120_000 });
}

/** Goes to the inbox inside the app (a reload would lock the keys); waits until at least
 *  `count` rows are decrypted (`count` 0: until the list settled); returns {id: row text}. */
export async function inboxRows(page, count) {
  await page.click('nav a[href="/inbox"]');
  await page.waitForURL(/\/inbox$/);
  await page.waitForFunction((n) => {
    const rows = document.querySelectorAll('#inbox-list tbody tr').length;
    const settled = document.getElementById('inbox-progress')?.textContent === '';
    return n === 0 ? settled && (rows > 0 || document.querySelector('.mc-empty')) : rows >= n && settled;
  }, count);
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#inbox-list tbody tr')]
    .map((tr) => [tr.dataset.id, tr.innerText.replace(/\s+/g, ' ')])));
}

/** Opens an image from the inbox (inside the app) and waits until it shows, signature verified. */
export async function openImage(page, url, id, problems = []) {
  await inboxRows(page, 1);
  await page.click(`#inbox-list tr[data-id="${id}"] a`);
  await page.waitForURL(`${url}/images/${id}`);
  try {
    await page.locator('#viewer[data-state="shown"]').waitFor({ timeout: 90_000 });
    await page.locator('#signature[data-state="verified"]').waitFor();
  } catch (e) {
    const why = await page.evaluate(() => `${location.pathname}: ${document.getElementById('main')?.innerText.slice(0, 600).replace(/\s+/g, ' ')}`);
    throw new Error(`image ${id} was not shown: ${why} ${problems.join('; ')}`, { cause: e });
  }
}

/** Follows an in-app route without a page load (the keys stay in the tab). */
export async function goInApp(page, path) {
  await page.evaluate((p) => {
    history.pushState(null, '', p);
    dispatchEvent(new PopStateEvent('popstate'));
  }, path);
}

/**
 * What an element shows, from a screenshot decoded in the page: {stddev, levels} of the
 * luminance. A blank (one-colour) element has stddev 0 and one level.
 */
export async function pixelStats(page, locator) {
  const png = await locator.screenshot();
  return page.evaluate(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
    const c = new OffscreenCanvas(bitmap.width, bitmap.height);
    const g = c.getContext('2d');
    g.drawImage(bitmap, 0, 0);
    const { data } = g.getImageData(0, 0, bitmap.width, bitmap.height);
    let sum = 0;
    let sq = 0;
    const levels = new Set();
    const n = data.length / 4;
    for (let i = 0; i < data.length; i += 4) {
      const y = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
      sum += y;
      sq += y * y;
      levels.add(Math.round(y));
    }
    const mean = sum / n;
    return { stddev: Math.sqrt(Math.max(0, sq / n - mean * mean)), levels: levels.size, width: bitmap.width, height: bitmap.height };
  }, png.toString('base64'));
}

/* ---- fixtures: fake images, no patient data ---- */


/** An RGB PNG: a gradient with a bright square and a tEXt comment. */
export function makePng(w, h, { comment = 'medcrypt test fixture' } = {}) {
  const stride = w * 3 + 1;
  const raw = Buffer.alloc(stride * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = y * stride + 1 + x * 3;
      const inSquare = x > w / 3 && x < (2 * w) / 3 && y > h / 3 && y < (2 * h) / 3;
      raw[o] = inSquare ? 240 : (x * 255) / w;
      raw[o + 1] = inSquare ? 220 : (y * 255) / h;
      raw[o + 2] = inSquare ? 200 : 90;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('tEXt', Buffer.from(`Software\x00${comment}`, 'latin1')),
    pngChunk('tIME', Buffer.from([0x07, 0xe8, 3, 1, 10, 15, 30])),
    pngChunk('IDAT', deflateSync(raw)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** An APP1 Exif segment with DateTime and, in the Exif IFD, DateTimeOriginal (to put after SOI). */
export function exifSegment(dateTime, original) {
  const t = Buffer.alloc(8 + 2 + 24 + 4 + 2 + 12 + 4 + 20 + 20);
  t.write('II*\0', 0, 'latin1');
  t.writeUInt32LE(8, 4);
  t.writeUInt16LE(2, 8);
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

/** A JPEG as Chromium encodes it (drawn on an OffscreenCanvas in `page`), EXIF dates added. */
export async function makeJpeg(page, w, h) {
  const jpeg = Buffer.from(await page.evaluate(async ([cw, ch]) => {
    const c = new OffscreenCanvas(cw, ch);
    const g = c.getContext('2d');
    const grad = g.createLinearGradient(0, 0, cw, ch);
    grad.addColorStop(0, '#123');
    grad.addColorStop(1, '#9ab');
    g.fillStyle = grad;
    g.fillRect(0, 0, cw, ch);
    g.fillStyle = '#fff';
    g.fillRect(cw * 0.3, ch * 0.27, cw * 0.4, ch * 0.46);
    return [...new Uint8Array(await (await c.convertToBlob({ type: 'image/jpeg', quality: 0.9 })).arrayBuffer())];
  }, [w, h]));
  return Buffer.concat([jpeg.subarray(0, 2), exifSegment('2024:03:02 09:00:00', '2024:03:01 08:30:00'), jpeg.subarray(2)]);
}

function dicomElement(group, element, vr, value) {
  const long = new Set(['OB', 'OW', 'OF', 'SQ', 'UT', 'UN']);
  let v = Buffer.isBuffer(value) ? value : Buffer.from(value, 'latin1');
  if (v.length % 2) v = Buffer.concat([v, Buffer.from(vr === 'UI' || long.has(vr) ? [0] : [0x20])]);
  const head = Buffer.alloc(long.has(vr) ? 12 : 8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(element, 2);
  head.write(vr, 4, 'latin1');
  if (long.has(vr)) head.writeUInt32LE(v.length, 8);
  else head.writeUInt16LE(v.length, 6);
  return Buffer.concat([head, v]);
}

/**
 * The head of an explicit VR little endian, multi-frame 16-bit MONOCHROME2 DICOM up to and with
 * the Pixel Data element's header (the pixels, frames * size * size * 2 bytes, follow).
 */
export function dicomHead({ frames, size, patient, patientId, description, studyDate = '20240301' }) {
  const el = dicomElement;
  const us = (n) => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(n);
    return b;
  };
  const sop = `1.2.826.0.1.3680043.8.498.${size}.${frames}`;
  const meta = Buffer.concat([
    el(0x0002, 0x0001, 'OB', Buffer.from([0, 1])),
    el(0x0002, 0x0002, 'UI', '1.2.840.10008.5.1.4.1.1.7.3'),
    el(0x0002, 0x0003, 'UI', sop),
    el(0x0002, 0x0010, 'UI', '1.2.840.10008.1.2.1'),
    el(0x0002, 0x0012, 'UI', '1.2.826.0.1.3680043.8.498'),
  ]);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(meta.length);
  const pixelHead = Buffer.alloc(12);
  pixelHead.writeUInt16LE(0x7fe0, 0);
  pixelHead.writeUInt16LE(0x0010, 2);
  pixelHead.write('OW', 4, 'latin1');
  pixelHead.writeUInt32LE(frames * size * size * 2, 8);
  return Buffer.concat([
    Buffer.alloc(128), Buffer.from('DICM', 'latin1'),
    el(0x0002, 0x0000, 'UL', groupLength), meta,
    el(0x0008, 0x0016, 'UI', '1.2.840.10008.5.1.4.1.1.7.3'),
    el(0x0008, 0x0018, 'UI', sop),
    el(0x0008, 0x0020, 'DA', studyDate),
    el(0x0008, 0x0030, 'TM', '101530'),
    el(0x0008, 0x0060, 'CS', 'CT'),
    el(0x0008, 0x1030, 'LO', description),
    el(0x0010, 0x0010, 'PN', patient),
    el(0x0010, 0x0020, 'LO', patientId),
    el(0x0010, 0x0030, 'DA', '19800101'),
    el(0x0010, 0x0040, 'CS', 'F'),
    el(0x0020, 0x000d, 'UI', `${sop}.2`),
    el(0x0020, 0x000e, 'UI', `${sop}.3`),
    el(0x0028, 0x0002, 'US', us(1)),
    el(0x0028, 0x0004, 'CS', 'MONOCHROME2'),
    el(0x0028, 0x0008, 'IS', String(frames)),
    el(0x0028, 0x0010, 'US', us(size)),
    el(0x0028, 0x0011, 'US', us(size)),
    el(0x0028, 0x0100, 'US', us(16)),
    el(0x0028, 0x0101, 'US', us(16)),
    el(0x0028, 0x0102, 'US', us(15)),
    el(0x0028, 0x0103, 'US', us(0)),
    pixelHead,
  ]);
}

/** A small multi-frame DICOM: a diagonal ramp (value 64 * ((x + y + 8 * frame) mod size)) that moves from frame to frame. */
export function makeDicom({ frames, size, ...tags }) {
  const pixels = Buffer.alloc(frames * size * size * 2);
  for (let f = 0; f < frames; f++) {
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) pixels.writeUInt16LE(((x + y + 8 * f) % size) * 64, ((f * size + y) * size + x) * 2);
  }
  return Buffer.concat([dicomHead({ frames, size, ...tags }), pixels]);
}

/**
 * Writes a large DICOM of random native pixels to `path` (frames of size x size, 16-bit) in
 * 8 MiB pieces, hashing as it goes; resolves to {bytes: file size, sha256, windows: 48-byte
 * pieces from 8 places, head: the first 512 bytes}.
 */
export async function writeBigDicom(path, { frames, size, ...tags }) {
  const head = dicomHead({ frames, size, ...tags });
  const total = frames * size * size * 2;
  const hash = createHash('sha256').update(head);
  const fh = await open(path, 'w');
  const windows = [];
  const every = Math.floor(total / 8);
  try {
    await fh.write(head);
    const piece = Buffer.alloc(8 << 20);
    for (let done = 0; done < total;) {
      const n = Math.min(piece.length, total - done);
      const chunk = piece.subarray(0, n);
      randomFillSync(chunk);
      for (let w = Math.ceil(done / every) * every; w < done + n - 48; w += every) windows.push(Buffer.from(chunk.subarray(w - done, w - done + 48)));
      hash.update(chunk);
      await fh.write(chunk);
      done += n;
    }
  } finally {
    await fh.close();
  }
  return { bytes: head.length + total, sha256: hash.digest('hex'), windows, head: head.subarray(0, 512) };
}
