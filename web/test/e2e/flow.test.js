/**
 * flow.test.js: the whole product flow in ONE browser run (one Chromium, a context per person,
 * so separate cookies), driven only through the pages against a real medcryptd started here on
 * a free loopback port (data directory and web build in a temporary directory). The CLI only
 * CHECKS results, except for the one account that is meant to be made with it:
 *
 *   1. the admin registers from the link medcryptd printed at first start (under "Create the
 *      account in a browser:"), invites a technician, a doctor, a second doctor, a patient and
 *      one more doctor on the admin page; the first four register through the page, each in its
 *      own context; the last one with `medcrypt register`; the patient appoints the three doctors
 *      (`medcrypt login` then `medcrypt appoint`: issue 12's rules let a technician send a
 *      patient's image only to doctors the patient appointed, and a doctor share it likewise);
 *   2. the technician drops a PNG, a JPEG and a 12-frame DICOM on the send page and sends them
 *      about the patient (the send page's patient picker) to the patient and the doctor;
 *   3. the doctor's inbox lists three rows with decrypted metadata; each image shows (the
 *      element is not blank); on the DICOM ArrowDown changes the frame and a drag the window;
 *      the doctor re-shares the DICOM with the second doctor (re-authentication asked), who
 *      sees and opens it; the doctor revokes it, and the second doctor's inbox no longer lists
 *      it and opening it says it is not there;
 *   4. the patient downloads each original from the view page: the same SHA-256 as the files;
 *   5. `medcrypt login URL --user doctor` (password in MEDCRYPT_PASSPHRASE, a new MEDCRYPT_HOME:
 *      the key comes back from the server) then `ls` lists the images and `get` gives
 *      byte-identical originals;
 *   6. a ~200 MB DICOM (random native pixels) sent from the send page while the 2nd upload
 *      PATCH is aborted resumes and completes; the doctor's `medcrypt get` gives the same
 *      SHA-256; the elapsed time is printed;
 *   7. the CLI-made account signs in through the login page and its inbox shows that image;
 *   8. the admin's audit page shows register ×6, invite ×6 (first start + 5), upload ×4, share, revoke and
 *      downloads, under "Verified chain";
 *   9. a request recorder over all contexts: no request body or URL carries a password, a
 *      recovery code, a private key (each account's, restored by the CLI and decrypted here),
 *      48-byte windows of any file, or a metadata value; no page error, no CSP violation.
 *
 * MEDCRYPT_BIN and MEDCRYPTD_BIN must name the binaries (tests/run-all sets them) and Chromium
 * must be at /usr/bin/chromium (MEDCRYPT_CHROMIUM): otherwise the test FAILS.
 */
import assert from 'node:assert/strict';
import { createHash, createPrivateKey } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { buildClient } from '../../build.mjs';
import {
  CHROMIUM, axe, goInApp, inboxRows, makeDicom, makeJpeg, makePng, medcryptOk, openImage, pixelStats, recordedPage,
  registerThroughPage, requireTools, signIn, startServer, stopServer, writeBigDicom,
} from './harness.js';

const SLOW = 300_000;
const BIG_FRAMES = 100; // 100 frames of 1024 x 1024 x 16 bits: 200 MiB of pixels
const pw = (user) => `${user}'s passphrase: granite cello orbit 42`;
const sha = (b) => createHash('sha256').update(b).digest('hex');

// who registers how
const PAGE_USERS = [['technician', 'tech', 'Tom Lab'], ['doctor', 'doctor', 'Dr. Grace Hopper'],
  ['doctor', 'doctor2', 'Dr. Alan Turing'], ['patient', 'patient', 'Jane Patient']];
const CLI_USER = ['doctor', 'clidoc', 'Dr. Command Line'];
const ALL_USERS = ['admin', ...PAGE_USERS.map((p) => p[1]), CLI_USER[1]];

let dir;
let srv; // startServer's result
let browser;
const people = {}; // user -> {context, page}
const links = {}; // user -> invitation link made on the admin page
const requests = [];
const problems = [];
const recoveryCodes = [];
const files = {}; // name -> {path, bytes, id}
let big; // the large DICOM: {path, bytes, sha256, windows, head, id}
const META = { patient: 'Doe^Jane', patientId: 'PAT-0042', description: 'Chest CT (fake)' };
const BIG_META = { patient: 'Roe^Richard', patientId: 'PAT-0777', description: 'Whole body CT (fake)', studyDate: '20240305' };

const cli = (user, home = `home-${user}`) => ({ home: join(dir, home), password: pw(user), cwd: dir });

before(async () => {
  await requireTools();
  dir = await mkdtemp(join(tmpdir(), 'medcrypt-web-flow-'));
  await mkdir(join(dir, 'files'));
  await buildClient({ outdir: join(dir, 'web') });
  srv = await startServer({ dataDir: join(dir, 'data'), webRoot: join(dir, 'web'), args: ['--max-upload', String(512 * 1024 * 1024), '--pow-bits', '10'] });
  // Chromium trusts exactly this server's self-signed certificate (its key pinned).
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [`--ignore-certificate-errors-spki-list=${srv.spki}`] });
});

after(async () => {
  await browser?.close();
  await stopServer(srv?.child);
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the admin registers from the first-start link and invites four people on the admin page; they register in their own contexts', { timeout: SLOW * 3 }, async () => {
  assert.equal(srv.registerLink, `${srv.url}/register#code=${srv.invitation}`, 'medcryptd printed the browser link');
  people.admin = await recordedPage(browser, { requests, problems });
  const admin = people.admin.page;
  recoveryCodes.push(await registerThroughPage(admin, srv.registerLink, { username: 'admin', display: 'Ada Admin', password: pw('admin') }));
  await admin.waitForURL(`${srv.url}/admin/users`);

  await admin.getByRole('link', { name: 'Invitations' }).click();
  await admin.waitForURL(`${srv.url}/admin/invitations`);
  let last = '';
  for (const [role, user] of [...PAGE_USERS, CLI_USER]) {
    await admin.selectOption('#inv-role', role);
    await admin.getByRole('button', { name: 'Create invitation' }).click();
    await admin.waitForFunction((prev) => { const v = document.getElementById('inv-link')?.value; return v && v !== prev; }, last);
    last = await admin.locator('#inv-link').inputValue();
    assert.match(last, new RegExp(`^${srv.url}/register#code=[A-Z2-7]{32}$`));
    await admin.locator('[data-testid=invitation]').filter({ hasText: `Invitation for a ${role}` }).waitFor();
    links[user] = last;
  }

  for (const [role, user, display] of PAGE_USERS) {
    people[user] = await recordedPage(browser, { requests, problems });
    const { page } = people[user];
    recoveryCodes.push(await registerThroughPage(page, links[user], { username: user, display, password: pw(user) }));
    await page.waitForURL(`${srv.url}/inbox`);
    const { user: me } = await page.evaluate(() => fetch('/api/v1/me').then((r) => r.json()));
    assert.equal(me.role, role);
    assert.equal(me.username, user);
  }
  // The last invitation (made on the page) is used from the terminal.
  const [, user, display] = CLI_USER;
  const code = links[user].split('#code=')[1];
  const r = await medcryptOk(cli(user), ['register', code, '--user', user, '--display-name', display, '--url', srv.url, '--fingerprint', srv.fingerprint]);
  const rc = /recovery code: (([A-Z2-7]{4}-){7}[A-Z2-7]{4})/.exec(r.stdout + r.stderr);
  assert.ok(rc, `medcrypt register printed the recovery code: ${r.stdout}`);
  recoveryCodes.push(rc[1]);

  // The patient (registered in the browser) appoints their doctors from a terminal.
  const patient = cli('patient', 'home-patient-cli');
  await medcryptOk(patient, ['login', srv.url, '--user', 'patient', '--fingerprint', srv.fingerprint]);
  for (const doctor of ['doctor', 'doctor2', 'clidoc']) await medcryptOk(patient, ['appoint', doctor]);
});

test('the technician drops a PNG, a JPEG and a multi-frame DICOM on the send page and sends them to the doctor and the patient', { timeout: SLOW }, async () => {
  const { page } = people.tech;
  const put = async (name, bytes) => {
    const path = join(dir, 'files', name);
    await writeFile(path, bytes);
    files[name] = { path, bytes: Buffer.from(bytes) };
  };
  await put('hand.png', makePng(320, 240, { comment: 'flow fixture' }));
  await put('wound-photo.jpg', await makeJpeg(page, 200, 150));
  await put('scan-series.dcm', makeDicom({ frames: 12, size: 128, ...META }));

  await page.click('nav a[href="/send"]');
  await page.waitForURL(/\/send$/);
  await page.locator('#send-to-doctor').waitFor();
  const dataTransfer = await page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const { b64, name, type } of list) dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, { type }));
    return dt;
  }, [['hand.png', 'image/png'], ['wound-photo.jpg', 'image/jpeg'], ['scan-series.dcm', 'application/dicom']]
    .map(([name, type]) => ({ name, type, b64: files[name].bytes.toString('base64') })));
  await page.dispatchEvent('#send-drop', 'dragenter', { dataTransfer });
  await page.dispatchEvent('#send-drop', 'dragover', { dataTransfer });
  await page.dispatchEvent('#send-drop', 'drop', { dataTransfer });
  await page.waitForFunction(() => document.querySelectorAll('#send-queue [data-status="ready"]').length === 3, null, { timeout: 60000 });
  const queue = await page.textContent('#send-queue');
  for (const shown of ['PAT-0042', '320 × 240', '200 × 150', '128 × 128']) assert.ok(queue.includes(shown), `the queue shows ${shown}`);
  await page.selectOption('#send-patient', 'patient');
  assert.ok(await page.isChecked('#send-to-patient') && await page.isDisabled('#send-to-patient'), 'the patient is a recipient, locked');
  await page.check('#send-to-doctor');
  await page.click('#send-submit');
  await page.waitForFunction(() => document.querySelectorAll('#send-queue [data-status="sent"]').length === 3, null, { timeout: 120000 });
  assert.match(await page.textContent('#send-summary'), /3 sent/);
});

test('the doctor\'s inbox decrypts three rows; each image shows; the DICOM scrolls frames and changes window', { timeout: SLOW }, async () => {
  const { page } = people.doctor;
  const rows = await inboxRows(page, 3);
  assert.equal(Object.keys(rows).length, 3, JSON.stringify(rows));
  for (const name of Object.keys(files)) {
    const found = Object.entries(rows).filter(([, text]) => text.includes(name));
    assert.equal(found.length, 1, `one row names ${name}: ${JSON.stringify(rows)}`);
    files[name].id = found[0][0];
    assert.match(found[0][1], /Tom Lab/, 'the sender is shown');
  }
  assert.match(rows[files['scan-series.dcm'].id], /Doe, Jane.*PAT-0042.*2024-03-01.*CT/, 'the DICOM row: patient, ID, date, modality (decrypted in the page)');

  for (const name of ['hand.png', 'wound-photo.jpg']) {
    await openImage(page, srv.url, files[name].id, problems);
    const img = page.locator('#viewer img');
    assert.ok(await img.evaluate((i) => !i.hidden && i.complete && i.naturalWidth > 0), `${name} is decoded`);
    const stats = await pixelStats(page, img);
    assert.ok(stats.stddev > 10 && stats.levels > 20, `${name} is not blank: ${JSON.stringify(stats)}`);
    assert.match(await page.locator('#signature').innerText(), /Verified: signed by Tom Lab/);
  }

  await openImage(page, srv.url, files['scan-series.dcm'].id, problems);
  assert.equal(await page.locator('#viewer').getAttribute('data-frames'), '12');
  assert.equal(await page.locator('#frame').innerText(), 'Frame 1 of 12');
  assert.match(await page.locator('#attributes').innerText(), /Patient name\s+Doe Jane/);
  const canvas = page.locator('#viewer canvas').first();
  const stats = await pixelStats(page, canvas);
  assert.ok(stats.stddev > 10 && stats.levels > 20, `the DICOM canvas is not blank: ${JSON.stringify(stats)}`);
  const before1 = await canvas.screenshot();
  await page.focus('#viewer');
  await page.keyboard.press('ArrowDown');
  await page.locator('#frame').filter({ hasText: 'Frame 2 of 12' }).waitFor();
  await page.waitForTimeout(300);
  const after1 = await canvas.screenshot();
  assert.notDeepEqual(after1, before1, 'ArrowDown: the canvas shows another frame');
  const windowBefore = await page.locator('#window').innerText();
  const box = await page.locator('#viewer').boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 + 120, box.y + box.height / 2 + 60, { steps: 8 });
  await page.mouse.up();
  await page.waitForFunction((w) => document.getElementById('window').textContent !== w, windowBefore);
  await page.waitForTimeout(300);
  assert.notDeepEqual(await canvas.screenshot(), after1, 'the drag changed the window');
  await axe(page, 'view (DICOM)');
});

test('the doctor re-shares the DICOM with the second doctor after re-authenticating, then revokes it', { timeout: SLOW }, async () => {
  const { page } = people.doctor;
  const id = files['scan-series.dcm'].id;
  await page.selectOption('#share-to', 'doctor2');
  await page.click('#share-form button[type=submit]');
  await page.locator('#reauth-form').waitFor({ state: 'visible' });
  await page.fill('#reauth-password', pw('doctor'));
  await page.click('#reauth-form button[type=submit]');
  await page.locator('#share-status').filter({ hasText: 'Shared with doctor2' }).waitFor({ timeout: 90000 });
  await page.locator('#share-list [data-user="doctor2"]').waitFor();

  // the second doctor sees it and opens it
  const d2 = people.doctor2.page;
  const rows = await inboxRows(d2, 1);
  assert.deepEqual(Object.keys(rows), [id]);
  assert.match(rows[id], /Doe, Jane.*PAT-0042/);
  await openImage(d2, srv.url, id, problems);

  await page.click('#share-list [data-user="doctor2"] button');
  await page.locator('#share-status').filter({ hasText: 'Revoked doctor2' }).waitFor();

  assert.deepEqual(await inboxRows(d2, 0), {}, 'the second doctor\'s inbox no longer lists it');
  await goInApp(d2, `/images/${id}`);
  await d2.locator('#main').filter({ hasText: 'No such image, or it was not shared with you.' }).waitFor();
});

test('the patient downloads the original of each image: the bytes the technician dropped', { timeout: SLOW }, async () => {
  const { page } = people.patient;
  const rows = await inboxRows(page, 3);
  assert.deepEqual(Object.keys(rows).sort(), Object.values(files).map((f) => f.id).sort());
  for (const [name, f] of Object.entries(files)) {
    await openImage(page, srv.url, f.id, problems);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    assert.equal(download.suggestedFilename(), name);
    const got = await readFile(await download.path());
    assert.equal(sha(got), sha(f.bytes), `${name}: the downloaded original is the dropped file`);
  }
});

test('the doctor (made in the browser) logs in with the CLI: ls lists the images, get gives the originals', { timeout: SLOW }, async () => {
  const doc = cli('doctor', 'home-doctor-cli'); // a new machine: the key comes back from the server
  await medcryptOk(doc, ['login', srv.url, '--user', 'doctor', '--fingerprint', srv.fingerprint]);
  const listed = JSON.parse((await medcryptOk(doc, ['ls', '--json'])).stdout);
  const images = listed.images ?? listed;
  assert.deepEqual(images.map((i) => i.id).sort(), Object.values(files).map((f) => f.id).sort());
  for (const [name, f] of Object.entries(files)) {
    const image = images.find((i) => i.id === f.id);
    assert.equal(image.metadata?.file, name);
    const out = join(dir, `cli-${name}`);
    await medcryptOk(doc, ['get', f.id, '-o', out]); // verifies the technician's signature
    assert.equal(sha(await readFile(out)), sha(f.bytes), `${name}: byte-identical through the CLI`);
  }
});

test('a ~200 MB DICOM upload from the page survives a dropped PATCH, resumes and completes', { timeout: 1_200_000 }, async () => {
  const path = join(dir, 'files', 'big-series.dcm');
  let t = Date.now();
  big = { path, ...(await writeBigDicom(path, { frames: BIG_FRAMES, size: 1024, ...BIG_META })) };
  console.log(`# big DICOM: ${(big.bytes / 1048576).toFixed(1)} MiB written in ${((Date.now() - t) / 1000).toFixed(1)} s`);

  const { page, context } = people.tech;
  await page.click('button:has-text("Clear sent and refused files")');
  let patches = 0;
  let aborted = false;
  const patchTimes = [];
  await context.route('**/api/v1/uploads/*', (route) => {
    if (route.request().method() !== 'PATCH') return route.continue();
    patches++;
    patchTimes.push(Date.now());
    if (patches === 2) {
      aborted = true;
      return route.abort('connectionreset'); // the connection drops mid-upload
    }
    return route.continue();
  });
  const mark = requests.length;
  await page.setInputFiles('#send-files', path);
  await page.waitForFunction(() => document.querySelectorAll('#send-queue [data-status="ready"]').length === 1, null, { timeout: 120000 });
  assert.match(await page.textContent('#send-queue'), /PAT-0777/);
  await page.check('#send-cipher-aes');
  await page.selectOption('#send-patient', 'patient');
  await page.check('#send-to-doctor');
  await page.check('#send-to-clidoc');
  t = Date.now();
  await page.click('#send-submit');
  await page.waitForFunction(() => document.querySelectorAll('#send-queue [data-status="sent"]').length === 1
    || document.querySelectorAll('#send-queue [data-status="failed"]').length > 0, null, { timeout: 1_000_000, polling: 1000 });
  const elapsed = (Date.now() - t) / 1000;
  await context.unroute('**/api/v1/uploads/*');
  assert.equal(await page.locator('#send-queue [data-status="sent"]').count(), 1, `sent: ${await page.textContent('#send-queue')}`);
  console.log(`# big upload: ${(big.bytes / 1048576).toFixed(1)} MiB sealed and sent in ${elapsed.toFixed(1)} s (${(big.bytes / 1048576 / elapsed).toFixed(1)} MiB/s), ${patches} PATCHes, the 2nd dropped`);
  console.log(`# PATCHes started at (s after Send): ${patchTimes.map((x) => ((x - t) / 1000).toFixed(1)).join(' ')}`);
  assert.ok(aborted, 'the 2nd PATCH was dropped');
  const mine = requests.slice(mark).filter((r) => r.url.includes('/api/v1/uploads'));
  assert.equal(mine.filter((r) => r.method === 'POST').length, 1, 'resumed, not started again');
  assert.ok(mine.some((r) => r.method === 'HEAD'), 'the client asked the server for its offset');

  t = Date.now();
  const doc = cli('doctor', 'home-doctor-cli');
  const listed = JSON.parse((await medcryptOk(doc, ['ls', '--json'])).stdout);
  const image = (listed.images ?? listed).find((i) => i.metadata?.file === 'big-series.dcm');
  assert.ok(image, 'the doctor\'s CLI lists it');
  big.id = image.id;
  const out = join(dir, 'cli-big-series.dcm');
  await medcryptOk(doc, ['get', image.id, '-o', out]);
  const got = await readFile(out);
  assert.equal(got.length, big.bytes);
  assert.equal(sha(got), big.sha256, 'the resumed upload opens byte for byte');
  console.log(`# big download and check with the CLI: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  await rm(out);
});

test('the account made with the CLI signs in through the login page and sees its inbox', { timeout: SLOW }, async () => {
  people.clidoc = await recordedPage(browser, { requests, problems });
  const { page } = people.clidoc;
  await signIn(page, srv.url, 'clidoc', pw('clidoc'));
  const rows = await inboxRows(page, 1);
  assert.deepEqual(Object.keys(rows), [big.id]);
  assert.match(rows[big.id], /Roe, Richard.*PAT-0777.*big-series\.dcm.*2024-03-05.*Tom Lab/);
});

test('the admin\'s audit page shows every step under "Verified chain"', { timeout: SLOW }, async () => {
  const { page } = people.admin;
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.waitForURL(`${srv.url}/admin/audit`);
  await page.locator('[data-testid=audit-verify]').filter({ hasText: 'Verified chain' }).waitFor();
  await page.selectOption('#audit-size', '100');
  await page.locator('[data-testid=audit-range]').filter({ hasText: 'Records 1–' }).waitFor();
  const count = (action) => page.locator(`tr[data-action=${action}]`).count();
  assert.equal(await count('register'), ALL_USERS.length, 'register ×6');
  assert.equal(await count('invite'), 6, 'invite ×6: the first-start one and the five made on the admin page');
  const invites = await page.locator('tr[data-action=invite]').evaluateAll((trs) => trs.map((tr) => tr.innerText.replace(/\s+/g, ' ')));
  assert.equal(invites.filter((t) => /\badmin invite\b/.test(t)).length, 5, `five by the admin: ${invites.join(' | ')}`);
  assert.equal(await count('upload'), 4, 'upload ×4');
  assert.equal(await count('share'), 1, 'share');
  assert.equal(await count('revoke'), 1, 'revoke');
  assert.ok(await count('download') >= 3 + 3 + 3 + 1, 'downloads (views, the patient\'s downloads, the CLI)');
  const text = await page.locator('main').innerText();
  assert.match(text, new RegExp(`admin\\s+invite\\s+technician`));
  for (const user of ALL_USERS) assert.match(text, new RegExp(`register\\s+${user}\\b`), `register ${user}`);
  assert.match(text, /doctor\s+share\s+[0-9a-f]{32}/);
  assert.match(text, /doctor\s+revoke\s+[0-9a-f]{32}/);
});

test('no request body or URL carried a password, a recovery code, a private key, image bytes or a metadata value', { timeout: SLOW }, async () => {
  assert.ok(requests.length > 100, `${requests.length} requests recorded`);
  const patchBytes = requests.filter((r) => r.method === 'PATCH').reduce((n, r) => n + r.body.length, 0);
  assert.ok(patchBytes > big.bytes, `the recorder saw the uploads' bodies (${patchBytes} bytes)`);

  const needles = [];
  const add = (what, bytes, { encodings = true } = {}) => {
    const b = Buffer.from(bytes);
    needles.push({ what, raw: b });
    if (!encodings) return;
    needles.push({ what: `${what} (hex)`, raw: Buffer.from(b.toString('hex')) });
    // base64 at any alignment: three shifted encodings, edges trimmed
    for (let k = 0; k < 3; k++) needles.push({ what: `${what} (base64)`, raw: Buffer.from(b.subarray(k).toString('base64').slice(4, -4)) });
  };
  for (const user of ALL_USERS) add(`${user}'s password`, Buffer.from(pw(user)));
  assert.equal(recoveryCodes.length, ALL_USERS.length);
  for (const code of recoveryCodes) {
    add('a recovery code', Buffer.from(code), { encodings: false });
    add('a recovery code (bare)', Buffer.from(code.replaceAll('-', '')), { encodings: false });
  }
  // every account's private keys: restored from the server by a CLI login (a check, after the flow)
  for (const user of ALL_USERS) {
    const who = cli(user, `home-keys-${user}`);
    await medcryptOk(who, ['login', srv.url, '--user', user, '--fingerprint', srv.fingerprint]);
    const pem = await readFile(join(who.home, 'keys', `${user}.key`), 'latin1');
    const blocks = pem.match(/-----BEGIN ENCRYPTED PRIVATE KEY-----[\s\S]*?-----END ENCRYPTED PRIVATE KEY-----/g);
    assert.equal(blocks?.length, 2, `${user}.key holds two encrypted private keys`);
    for (const [i, block] of blocks.entries()) {
      const der = createPrivateKey({ key: block, format: 'pem', passphrase: pw(user) }).export({ type: 'pkcs8', format: 'der' });
      add(`${user}'s private key ${i}`, der.subarray(der.length - 40));
    }
  }
  for (const [name, { bytes }] of Object.entries(files)) {
    for (let k = 0; k < 8; k++) {
      const at = Math.floor(((bytes.length - 48) * k) / 7);
      add(`bytes ${at}.. of ${name}`, bytes.subarray(at, at + 48), { encodings: k % 2 === 0 });
    }
  }
  for (const [i, w] of big.windows.entries()) add(`window ${i} of big-series.dcm`, w, { encodings: false });
  add('the head of big-series.dcm', big.head.subarray(132, 132 + 48), { encodings: false });
  const values = [...Object.values(META), ...Object.values(BIG_META), ...Object.keys(files), 'big-series.dcm', '2024:03:01 08:30:00', 'flow fixture'];
  for (const v of values) needles.push({ what: `the metadata value ${v}`, raw: Buffer.from(v) });

  const found = [];
  for (const r of requests) {
    for (const n of needles) {
      if (r.body.length && r.body.includes(n.raw)) found.push(`${r.method} ${r.url} body: ${n.what}`);
      let u = r.url;
      try {
        u = decodeURIComponent(r.url);
      } catch {
        // not percent-encoded text: compare as it is
      }
      if (u.includes(n.raw.toString('latin1'))) found.push(`URL ${r.url}: ${n.what}`);
    }
  }
  assert.deepEqual(found, []);
  const paths = requests.filter((r) => r.body.length > 0).map((r) => `${r.method} ${new URL(r.url).pathname}`);
  for (const p of ['POST /api/v1/register', 'POST /api/v1/invitations', 'POST /api/v1/reauth']) {
    assert.ok(paths.includes(p), `the recorder saw ${p}`);
  }
  assert.ok(paths.some((p) => /\/shares$/.test(p)), 'the recorder saw the share');
  assert.deepEqual(problems, []);
});
