/**
 * clinic.test.js: issue 12's clinical flow through the pages, in Chromium against a real medcryptd
 * started here (harness.js). JavaScript registers the admin; a technician, two doctors and a
 * patient register with the CLI. Then:
 *
 *   1. the patient signs in and appoints doctor 1 on "My doctors" (/doctors); doctor 1's
 *      "My patients" lists the patient; the technician (CLI, `send --patient`) sends three PNGs
 *      about the patient, studied in January, February and March 2024, to doctor 1;
 *   1a. the patient writes to doctor 1 on "Messages" (sealed and signed in the page); doctor 1's
 *      page shows it live (a `message` event), decrypted, and replies; the patient reads the reply;
 *      doctor 1's CLI (`medcrypt inbox --json`) opens the patient's message too, and no request
 *      body carries either text;
 *   1b. doctor 1 sends a de-identified copy (no patient) of a PNG to the researcher from the send
 *      page, after confirming nothing in it identifies the patient: the researcher's CLI gets it
 *      with the signed claim ("sender confirmation") in its metadata; a DICOM in the same send is
 *      refused on the page (it must be checked with `medcrypt deid` first) and not sent;
 *   2. doctor 2 (not appointed) asks for access on "Access requests" (/consents): studies from
 *      2024-02-01 to 2024-03-31, with a reason; the request is sealed in the page (no request body
 *      carries the reason);
 *   3. the patient's "Consent requests" opens it in the page (scope and reason shown), approves
 *      it: the page decrypts the metadata of the patient's images, wraps the two in range for
 *      doctor 2 (progress shown), and the server gets those wraps; doctor 2's CLI then lists and
 *      opens exactly those two, byte for byte;
 *   4. doctor 2 asks again (all images); the patient denies it: nothing more is shared;
 *   5. the patient withdraws the approval: doctor 2 holds nothing; the patient dismisses doctor 1
 *      on "My doctors" (the note says what was downloaded stays downloaded): doctor 1 holds
 *      nothing either;
 *   6. axe finds no serious or critical violation on either page; no page error, no CSP report.
 *
 * MEDCRYPT_BIN and MEDCRYPTD_BIN must name the binaries; without them the test fails.
 * Screenshots go to MEDCRYPT_SHOTS (doctors.png, messages.png, send-deidentified.png, consents.png).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { buildClient } from '../../build.mjs';
import { Connection, register } from '../../src/account/index.js';
import { pinnedFetch } from '../account/https.js';
import { mapStorage } from '../account/helpers.js';
import { sha256hex } from '../helpers.js';
import {
  CHROMIUM, axe, goInApp, makeDicom, makePng, medcrypt, medcryptOk, recordedPage, requireTools, signIn, startServer, stopServer,
} from './harness.js';

const SHOTS = process.env.MEDCRYPT_SHOTS || join(tmpdir(), `medcrypt-shots-${process.pid}`);
const pw = (user) => `${user}'s passphrase: granite cello orbit 42`;
const REASON = 'Second opinion on the knee before surgery (fake test reason)';
const MESSAGES = ['Is the swelling expected after the scan? (fake test message)', 'Yes, it settles within a week. (fake test reply)'];
const USERS = [['tech', 'technician', 'Tom Lab'], ['doc1', 'doctor', 'Dr. Grace Hopper'], ['doc2', 'doctor', 'Dr. Alan Turing'], ['pat', 'patient', 'Jane Patient'],
  ['res', 'researcher', 'Rita Research']];

let dir;
let srv;
let browser;
let fetcher;
const requests = [];
const problems = [];
const pages = {};
const files = {}; // name -> {path, bytes, id, date}

const cli = (user) => ({ home: join(dir, `home-${user}`), password: pw(user), cwd: dir });
const ids = async (user) => {
  const listed = JSON.parse((await medcryptOk(cli(user), ['ls', '--json'])).stdout);
  return (listed.images ?? listed).map((i) => i.id).sort();
};

/** Waits for the page's status line to say `text` (a RegExp); a password dialog on the way is answered. */
async function settle(page, user, locator, text) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (text.test(await locator.innerText())) return;
    const dialog = page.locator('dialog.mc-reauth-dialog');
    if (await dialog.count()) {
      await dialog.locator('input[type=password]').fill(pw(user));
      await dialog.getByRole('button', { name: 'Confirm' }).click();
      await dialog.waitFor({ state: 'detached', timeout: 120_000 });
    }
    if (Date.now() > deadline) assert.fail(`waited for ${text}: ${await locator.innerText()}`);
    await page.waitForTimeout(200);
  }
}

before(async () => {
  await requireTools();
  dir = await mkdtemp(join(tmpdir(), 'medcrypt-web-clinic-'));
  await buildClient({ outdir: join(dir, 'web') });
  srv = await startServer({ dataDir: join(dir, 'data'), webRoot: join(dir, 'web'), args: ['--pow-bits', '10'] });
  fetcher = pinnedFetch({ ca: await readFile(join(dir, 'data', 'tls.crt'), 'utf8'), localAddress: '127.0.0.1' });
  const admin = new Connection({ fetch: fetcher, baseUrl: srv.url });
  await register(admin, { invitation: srv.invitation, username: 'admin', password: pw('admin'), memory: mapStorage() });
  for (const [user, role, name] of USERS) {
    const { body } = await admin.request('POST', '/api/v1/invitations', { json: { role }, expect: [201] });
    await medcryptOk(cli(user), ['register', body.code, '--user', user, '--display-name', name, '--url', srv.url, '--fingerprint', srv.fingerprint]);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [`--ignore-certificate-errors-spki-list=${srv.spki}`] });
  for (const user of ['pat', 'doc1', 'doc2']) {
    pages[user] = await recordedPage(browser, { requests, problems });
    await signIn(pages[user].page, srv.url, user, pw(user));
  }
});

after(async () => {
  await browser?.close();
  fetcher?.close();
  await stopServer(srv?.child);
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the patient appoints doctor 1 on "My doctors"; the technician sends three images about the patient', { timeout: 300_000 }, async () => {
  const { page } = pages.pat;
  await page.click('nav a[href="/doctors"]');
  await page.waitForURL(`${srv.url}/doctors`);
  await page.locator('#appoint-doctor option[value="doc1"]').waitFor({ state: 'attached' });
  assert.match(await page.locator('#doctors-list').innerText(), /not appointed a doctor yet/);
  assert.match(await page.locator('#dismiss-note').innerText(), /What they already downloaded or saved stays with them/);
  await page.selectOption('#appoint-doctor', 'doc1');
  await page.click('#appoint-form button[type=submit]');
  await page.locator('#doctors-list li[data-user="doc1"]').waitFor();
  assert.match(await page.locator('#doctors-status').innerText(), /Appointed Dr\. Grace Hopper as your doctor/);
  assert.equal(await page.locator('#appoint-doctor option[value="doc1"]').count(), 0, 'an appointed doctor is not offered again');
  await axe(page, 'My doctors');
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, 'doctors.png') });

  const doc1 = pages.doc1.page;
  await doc1.click('nav a[href="/doctors"]');
  await doc1.locator('#doctors-list li[data-user="pat"]').waitFor();
  assert.equal(await doc1.locator('#appoint-form').count(), 0, 'a doctor appoints no one');

  await mkdir(join(dir, 'files'));
  for (const [name, date] of [['jan.png', '20240110'], ['feb.png', '20240215'], ['mar.png', '20240320']]) {
    const path = join(dir, 'files', name);
    const bytes = makePng(64 + name.length, 48, { comment: `clinic ${name}` });
    await writeFile(path, bytes);
    const meta = join(dir, 'files', `${name}.json`);
    await writeFile(meta, JSON.stringify({ file: name, format: 'png', PatientName: 'Patient^Jane', PatientID: 'FAKE-1201', StudyDate: date, Modality: 'XC' }));
    const id = (await medcryptOk(cli('tech'), ['send', path, '--to', 'doc1', '--patient', 'pat', '--meta', meta])).stdout.trim();
    assert.match(id, /^[0-9a-f]{32}$/);
    files[name] = { path, bytes, id, date };
  }
  const refused = await medcrypt(cli('tech'), ['send', files['jan.png'].path, '--to', 'doc2', '--patient', 'pat']);
  assert.notEqual(refused.code, 0, 'doctor 2 was not appointed: the technician may not send to them');
  assert.deepEqual(await ids('doc2'), []);
});

test('the patient and doctor 1 exchange messages on "Messages"; the CLI reads them too', { timeout: 300_000 }, async () => {
  const { page } = pages.pat;
  const doc1 = pages.doc1.page;
  await doc1.click('nav a[href="/messages"]');
  await doc1.waitForURL(`${srv.url}/messages`);
  await doc1.locator('#msg-threads .mc-empty').waitFor();

  await page.click('nav a[href="/messages"]');
  await page.waitForURL(`${srv.url}/messages`);
  await page.locator('#msg-to option[value="doc1"]').waitFor({ state: 'attached' });
  assert.equal(await page.locator('#msg-to option[value="doc2"]').count(), 0, 'a patient writes only to the doctors they appointed');
  await page.selectOption('#msg-to', 'doc1');
  await page.fill('#msg-new-text', MESSAGES[0]);
  await page.click('#msg-new button[type=submit]');
  await page.locator('#msg-list li[data-direction="sent"]').filter({ hasText: MESSAGES[0] }).waitFor({ timeout: 60_000 });

  // Doctor 1's open page gets it without a reload and decrypts it.
  const thread = doc1.locator('#msg-threads [data-user="pat"]');
  await thread.waitFor({ timeout: 30_000 });
  assert.match(await thread.innerText(), /1 new/);
  await thread.click();
  await doc1.locator('#msg-list li[data-direction="received"]').filter({ hasText: MESSAGES[0] }).waitFor();
  assert.match(await doc1.locator('#msg-conversation-title').innerText(), /With Jane Patient \(pat\)/);
  await doc1.fill('#msg-reply-text', MESSAGES[1]);
  await doc1.click('#msg-reply button[type=submit]');
  await doc1.locator('#msg-list li[data-direction="sent"]').filter({ hasText: MESSAGES[1] }).waitFor({ timeout: 60_000 });
  await axe(doc1, 'Messages');

  await page.locator('#msg-list li[data-direction="received"]').filter({ hasText: MESSAGES[1] }).waitFor({ timeout: 30_000 });
  await page.locator('#msg-list li[data-direction="sent"]').filter({ hasText: 'read' }).waitFor({ timeout: 30_000 });
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, 'messages.png') });

  const inbox = JSON.parse((await medcryptOk(cli('doc1'), ['inbox', '--json'])).stdout);
  assert.ok(inbox.messages.some((m) => m.direction === 'received' && m.from === 'pat' && m.text === MESSAGES[0]), JSON.stringify(inbox));
  assert.ok(inbox.messages.some((m) => m.direction === 'sent' && m.text === MESSAGES[1]));
});

test('doctor 1 sends a de-identified copy of a PNG to the researcher; a DICOM is refused on the page', { timeout: 300_000 }, async () => {
  const doc1 = pages.doc1.page;
  await doc1.click('nav a[href="/send"]');
  await doc1.waitForURL(`${srv.url}/send`);
  await doc1.locator('#send-patient option[value="pat"]').waitFor({ state: 'attached' });
  assert.ok(await doc1.locator('#send-to-res').isHidden(), 'a researcher is offered only for a de-identified copy');
  const png = join(dir, 'files', 'research.png');
  await writeFile(png, makePng(120, 90, { comment: 'fake research fixture' }));
  const dcm = join(dir, 'files', 'research.dcm');
  await writeFile(dcm, makeDicom({ frames: 1, size: 32, patient: 'Patient^Jane', patientId: 'FAKE-1201', description: 'fake' }));
  await doc1.setInputFiles('#send-files', [png, dcm]);
  await doc1.waitForFunction(() => document.querySelectorAll('#send-queue [data-status="ready"]').length === 2, null, { timeout: 30_000 });
  await doc1.check('#send-deidentified');
  assert.ok(await doc1.isDisabled('#send-patient'), 'no patient for a de-identified copy');
  assert.ok(await doc1.isDisabled('#send-submit'), 'not before the confirmation');
  await doc1.check('#send-deid-confirm');
  await doc1.check('#send-to-res');
  await axe(doc1, 'send (de-identified copy)');
  await mkdir(SHOTS, { recursive: true });
  await doc1.screenshot({ path: join(SHOTS, 'send-deidentified.png') });
  await doc1.click('#send-submit');
  await doc1.waitForFunction(() => document.querySelectorAll('#send-queue [data-status="sent"]').length === 1
    && document.querySelectorAll('#send-queue [data-status="failed"]').length === 1, null, { timeout: 60_000 });
  const refused = doc1.locator('#send-queue .mc-send-item', { hasText: 'research.dcm' }).locator('.mc-item-error');
  assert.equal(await refused.getAttribute('data-reason'), 'deidentify');
  assert.match(await refused.innerText(), /checked against DICOM PS3\.15 Table E\.1-1.*medcrypt deid.*Nothing was sent/);

  const listed = JSON.parse((await medcryptOk(cli('res'), ['ls', '--json'])).stdout);
  const images = listed.images ?? listed;
  assert.equal(images.length, 1, 'the researcher got the PNG only');
  files.research = { id: images[0].id };
  const claim = images[0].metadata?.deidentified;
  assert.equal(claim?.profile, 'sender confirmation');
  assert.equal(claim?.pixels, 'confirmed by sender');
  assert.match(claim?.time ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const out = join(dir, 'res-research.png');
  await medcryptOk(cli('res'), ['get', images[0].id, '-o', out]); // verifies doctor 1's signature on it
  assert.equal(sha256hex(await readFile(out)), sha256hex(await readFile(png)));
  await doc1.uncheck('#send-deidentified');
  assert.ok(await doc1.locator('#send-to-res').isHidden(), 'and unticked again with the mode');
});

test('doctor 2 requests access to a date range on "Access requests"; the patient opens it and approves: exactly the two images in range', { timeout: 300_000 }, async () => {
  const doc2 = pages.doc2.page;
  await doc2.click('nav a[href="/consents"]');
  await doc2.waitForURL(`${srv.url}/consents`);
  await doc2.locator('#consent-patient option[value="pat"]').waitFor({ state: 'attached' });
  await doc2.selectOption('#consent-patient', 'pat');
  await doc2.check('#consent-scope-range');
  await doc2.fill('#consent-from', '2024-02-01');
  await doc2.fill('#consent-to', '2024-03-31');
  await doc2.fill('#consent-reason', REASON);
  await doc2.click('#consent-send');
  await doc2.locator('#consent-status').filter({ hasText: 'Request sent to Jane Patient (pat)' }).waitFor({ timeout: 60_000 });
  const mine = doc2.locator('#consent-list li[data-status="pending"]');
  await mine.waitFor();
  assert.match(await mine.innerText(), /To Jane Patient \(pat\)[\s\S]*Pending[\s\S]*images of studies from 2024-02-01 to 2024-03-31[\s\S]*Second opinion/);
  await axe(doc2, 'Access requests (doctor)');

  const { page } = pages.pat;
  await page.click('nav a[href="/consents"]');
  await page.waitForURL(`${srv.url}/consents`);
  const request = page.locator('#consent-list li[data-status="pending"]');
  await request.waitFor();
  assert.match(await request.locator('.mc-consent-scope').innerText(), /images of studies from 2024-02-01 to 2024-03-31/);
  assert.equal(await request.locator('.mc-consent-reason').innerText(), REASON, 'the reason, decrypted in the page');
  assert.match(await request.innerText(), /From Dr\. Alan Turing \(doc2\)/);
  await axe(page, 'Consent requests (patient)');
  await request.getByRole('button', { name: 'Approve…' }).click();
  const confirm = page.locator('dialog.mc-dialog').filter({ hasText: 'Give Dr. Alan Turing (doc2) access?' });
  await confirm.waitFor();
  assert.match(await confirm.innerText(), /Images that arrive later are not covered/);
  await confirm.getByRole('button', { name: 'Approve' }).click();
  await settle(page, 'pat', page.locator('#consent-status'), /Approved: Dr\. Alan Turing \(doc2\) can now open 2 more images about you/);
  const approved = page.locator('#consent-list li[data-status="approved"]');
  await approved.waitFor();
  assert.match(await approved.innerText(), /2 images shared under it/);
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, 'consents.png') });

  // Doctor 2 holds exactly February's and March's, and opens them byte for byte.
  assert.deepEqual(await ids('doc2'), [files['feb.png'].id, files['mar.png'].id].sort());
  for (const name of ['feb.png', 'mar.png']) {
    const out = join(dir, `doc2-${name}`);
    await medcryptOk(cli('doc2'), ['get', files[name].id, '-o', out]);
    assert.equal(sha256hex(await readFile(out)), sha256hex(files[name].bytes), `${name}: byte-identical for doctor 2`);
  }
  // Doctor 2's page hears of the decision (a `consent` event) or shows it on the next visit.
  await goInApp(doc2, '/consents');
  await doc2.locator('#consent-list li[data-status="approved"]').waitFor({ timeout: 30_000 });
});

test('a second request is denied: nothing more is shared', { timeout: 300_000 }, async () => {
  const doc2 = pages.doc2.page;
  await doc2.check('#consent-scope-all');
  await doc2.selectOption('#consent-patient', 'pat');
  await doc2.fill('#consent-reason', 'All of it, please (fake test reason)');
  await doc2.click('#consent-send');
  await doc2.locator('#consent-list li[data-status="pending"]').waitFor({ timeout: 60_000 });

  const { page } = pages.pat;
  await goInApp(page, '/consents');
  const pending = page.locator('#consent-list li[data-status="pending"]');
  await pending.waitFor();
  assert.match(await pending.locator('.mc-consent-scope').innerText(), /all your images/);
  await pending.getByRole('button', { name: 'Deny' }).click();
  await page.locator('#consent-status').filter({ hasText: 'Denied Dr. Alan Turing (doc2)' }).waitFor();
  await page.locator('#consent-list li[data-status="denied"]').waitFor();
  assert.deepEqual(await ids('doc2'), [files['feb.png'].id, files['mar.png'].id].sort(), 'a denial changes nothing');
});

test('the patient withdraws the approval and dismisses doctor 1: neither holds an image about them any more', { timeout: 300_000 }, async () => {
  const { page } = pages.pat;
  await goInApp(page, '/consents');
  const approved = page.locator('#consent-list li[data-status="approved"]');
  await approved.waitFor();
  await approved.getByRole('button', { name: 'Withdraw' }).click();
  const confirm = page.locator('dialog.mc-dialog').filter({ hasText: 'Withdraw your consent' });
  assert.match(await confirm.innerText(), /What they already downloaded stays with them/);
  await confirm.getByRole('button', { name: 'Withdraw' }).click();
  await settle(page, 'pat', page.locator('#consent-status'), /Withdrew your consent to Dr\. Alan Turing \(doc2\)/);
  await page.locator('#consent-list li[data-status="withdrawn"]').waitFor();
  assert.deepEqual(await ids('doc2'), [], 'the wraps made under the consent are gone');

  await page.click('nav a[href="/doctors"]');
  await page.waitForURL(`${srv.url}/doctors`);
  await page.getByRole('button', { name: 'Dismiss Dr. Grace Hopper' }).click();
  const dismiss = page.locator('dialog.mc-dialog').filter({ hasText: 'Dismiss Dr. Grace Hopper?' });
  assert.match(await dismiss.innerText(), /What they already downloaded stays with them/);
  await dismiss.getByRole('button', { name: 'Dismiss' }).click();
  await settle(page, 'pat', page.locator('#doctors-status'), /Dismissed Dr\. Grace Hopper\..*What they already downloaded stays with them/);
  assert.match(await page.locator('#doctors-status').innerText(), /access to 3 images about you was removed/);
  assert.match(await page.locator('#doctors-list').innerText(), /not appointed a doctor yet/);
  assert.deepEqual(await ids('doc1'), [files.research.id], 'doctor 1 holds nothing about the patient (only the de-identified copy they sent)');
});

test('no request carried the consent reason, a message or a password; no page error or CSP report', async () => {
  const found = [];
  for (const r of requests) {
    for (const [what, needle] of [['the reason', REASON], ...MESSAGES.map((m) => ['a message', m]), ...USERS.map(([u]) => [`${u}'s password`, pw(u)])]) {
      if (r.body.includes(Buffer.from(needle)) || r.url.includes(encodeURIComponent(needle))) found.push(`${r.method} ${r.url}: ${what}`);
    }
  }
  assert.deepEqual(found, []);
  assert.ok(requests.some((r) => r.method === 'POST' && r.url.endsWith('/api/v1/consents')), 'the recorder saw the request');
  assert.ok(requests.some((r) => /\/api\/v1\/consents\/[0-9a-f]{32}\/approve$/.test(r.url)), 'and the approval');
  assert.deepEqual(problems, []);
});
