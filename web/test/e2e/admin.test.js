/**
 * admin.test.js: sign-up, sign-in, "My account" and the admin pages in Chromium, against a real
 * medcryptd serving a web build this test makes (docs/API.md §13, §16, §17, §20):
 *
 *   1. the admin registers through the page from the first-start invitation, as a fragment link
 *      (/register#code=...): the code leaves the address bar, a weak password is refused by the
 *      live strength meter before anything is sent, the recovery code is printed (window.print),
 *      downloaded (.txt) and confirmed before going on;
 *   2. the admin makes invitations for a technician, a doctor and a patient on the page (link
 *      with the code in the fragment, QR code, copy button); they are listed as pending, without
 *      their codes; the admin's navbar has no Inbox;
 *   3. each of them registers through the page (weak password refused first, recovery code
 *      confirmed); the pending list empties; the patient gets "not allowed" at /admin (their
 *      navbar has the Inbox) and sees their fingerprints at /account; the doctor signs out
 *      everywhere;
 *   4. the admin cancels a pending invitation through a confirm dialog (Cancel keeps it), and its
 *      link then creates no account;
 *   5. the admin sets the patient's address for notice mails (API.md §16, §18) in a dialog, sees
 *      it after a reload and on the server (GET /api/v1/users/patient), is refused bad addresses
 *      on the page with what is wrong (nothing sent; the server's own 400 checked too), changes
 *      it (not in the listing, not shown to another user) and removes it; the page's check of
 *      an address and the server's agree on a list of good and bad ones;
 *      the admin changes a role, disables the patient (whose session ends), sees them marked
 *      disabled after a reload (the server lists disabled accounts to the admin) and enables them
 *      again, each through a confirm dialog (Cancel leaves the role as it was);
 *   6. the audit log shows these events under "Verified chain", in pages (an e-mail change as
 *      "set" or "cleared", never the address);
 *   7. signing in shows its progress (the admin lands on /admin, the others on /inbox); a wrong
 *      password gives a clear error; after failures the proof of work is shown, then the lockout
 *      with its countdown;
 *   8. a request recorder saw no request body carrying a password or a recovery code, and no
 *      URL carrying an invitation code.
 * axe-core finds no serious or critical violation on any page (login, register, recovery code,
 * account, not allowed, users, the e-mail dialog with and without an error, invitations with
 * pending ones, the cancel dialog, audit). Screenshots (1280x800) go to MEDCRYPT_SHOTS.
 *
 * MEDCRYPTD_BIN must name the server binary (tests/run-all sets it, with MEDCRYPT_BIN); without
 * it every test here fails. Chromium is /usr/bin/chromium (scripts/bootstrap installs it).
 */
import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import AxeBuilder from '@axe-core/playwright';
import { chromium } from 'playwright-core';
import { buildClient } from '../../build.mjs';
import { emailProblem } from '../../src/pages/admin.js';
import { startServer as startHarnessServer } from './harness.js';
import { REPO } from '../helpers.js';

const DBIN = process.env.MEDCRYPTD_BIN ? resolve(process.env.MEDCRYPTD_BIN) : undefined;
const CHROMIUM = process.env.MEDCRYPT_CHROMIUM ?? '/usr/bin/chromium';
// Screenshots: into MEDCRYPT_SHOTS (docs/screenshots/ to refresh the README's), else a temporary
// directory, so that `make test` leaves the tracked ones alone.
const SHOTS = process.env.MEDCRYPT_SHOTS || join(tmpdir(), `medcrypt-shots-${process.pid}`);
const SLOW = 180_000; // registration: RSA-3072 key generation and two Argon2id (64 MiB) in the page

const pw = (user) => `${user}'s passphrase: granite cello orbit 42`;
const WEAK = 'password1234'; // 12 characters, zxcvbn score 0

let dir;
let server;
let url;
let browser;
let firstInvitation;
const contexts = {}; // user -> {context, page}
const requests = []; // every request any page made: {url, method, body}
const secrets = { passwords: new Set([WEAK]), recoveryCodes: [], invitations: [] };
const links = {}; // role -> registration link

/* medcryptd on a free loopback port with this run's data directory (harness.js). */
async function startServer(webRoot) {
  const s = await startHarnessServer({ dataDir: join(dir, 'data'), webRoot, args: ['--pow-bits', '10'] });
  ({ url, invitation: firstInvitation } = s);
  return s.child;
}

/** A new browser context (its own cookies: one person at one computer) with a page, recorded. */
async function newPage(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
  context.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postData() ?? '' }));
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  contexts[name] = { context, page };
  return page;
}

/** No serious or critical axe-core violation on the page as it is now. */
async function axe(page, what) {
  const { violations } = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), [], `axe on ${what}`);
}

async function shot(page, name) {
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/**
 * Registers through /register from `link`: a weak password first (refused on the page, nothing
 * sent), then pw(username); prints, downloads and confirms the recovery code. Resolves to it.
 */
async function registerThroughPage(page, link, { username, display, screenshot }) {
  secrets.passwords.add(pw(username));
  await page.goto(link);
  const invitation = page.locator('#reg-invitation');
  await invitation.waitFor();
  assert.match(await invitation.inputValue(), /^[A-Z2-7]{32}$/, 'the invitation code is filled in from the link');
  assert.equal(new URL(page.url()).hash, '', 'the code left the address bar');
  assert.equal(new URL(page.url()).pathname, '/register');
  if (screenshot) await axe(page, 'register');

  await page.fill('#reg-username', username);
  await page.fill('#reg-display', display);
  await page.fill('#reg-password', WEAK);
  await page.locator('#reg-strength-summary').filter({ hasText: 'Not accepted yet' }).waitFor();
  assert.match(await page.locator('#reg-strength').innerText(), /At least 12 characters \(12 now\)/);
  await page.fill('#reg-confirm', WEAK);
  const registersBefore = requests.filter((r) => r.url.endsWith('/api/v1/register')).length;
  await page.click('button[type=submit]');
  await page.locator('#reg-error').filter({ hasText: 'too easy to guess' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'reg-password', 'focus goes back to the password');
  assert.equal(requests.filter((r) => r.url.endsWith('/api/v1/register')).length, registersBefore, 'a weak password is not sent');

  await page.fill('#reg-password', pw(username));
  await page.locator('#reg-strength-summary').filter({ hasText: 'Good enough' }).waitFor();
  await page.fill('#reg-confirm', pw(username));
  if (screenshot) {
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, 'register');
  }
  await page.click('button[type=submit]');
  const codeEl = page.locator('[data-testid=recovery-code]');
  await codeEl.waitFor({ timeout: SLOW });
  const code = (await codeEl.innerText()).trim();
  assert.match(code, /^([A-Z2-7]{4}-){7}[A-Z2-7]{4}$/);
  secrets.recoveryCodes.push(code);
  if (screenshot) {
    await axe(page, 'recovery code');
    await shot(page, 'register-recovery');
  }

  // Print: window.print() with the print stylesheet (stubbed: headless Chromium has no dialog).
  await page.evaluate(() => {
    window.mcPrinted = 0;
    window.print = () => {
      window.mcPrinted += 1;
    };
  });
  await page.getByRole('button', { name: 'Print' }).click();
  assert.equal(await page.evaluate(() => window.mcPrinted), 1);
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.locator('#app-header').isVisible(), false, 'the navbar is not printed');
  assert.equal(await page.getByRole('button', { name: 'Print' }).isVisible(), false, 'the buttons are not printed');
  assert.equal(await codeEl.isVisible(), true, 'the code is printed');
  await page.emulateMedia({ media: 'screen' });

  // Download: a .txt made in the page.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download (.txt)' }).click()]);
  assert.equal(download.suggestedFilename(), `medcrypt-recovery-${username}.txt`);
  const text = await readFile(await download.path(), 'utf8');
  assert.ok(text.includes(code) && text.includes(`Account: ${username}`), 'the download holds the code and the account');

  const next = page.getByRole('button', { name: 'Continue' });
  assert.equal(await next.isDisabled(), true, 'Continue waits for the confirmation');
  await page.getByLabel('I have saved my recovery code somewhere safe').check();
  await next.click();
  await page.waitForURL((u) => u.pathname !== '/register');
  assert.equal(await page.locator('[data-testid=recovery-code]').count(), 0, 'the code left the page');
  return code;
}

before(async () => {
  assert.ok(DBIN, 'MEDCRYPTD_BIN is not set: it must name the medcryptd binary (e.g. build/src/medcryptd/medcryptd)');
  await access(DBIN, constants.X_OK).catch(() => assert.fail(`MEDCRYPTD_BIN=${DBIN} is not an executable file`));
  await access(CHROMIUM, constants.X_OK).catch(() => assert.fail(`${CHROMIUM} is missing (scripts/bootstrap installs chromium)`));
  dir = await mkdtemp(join(tmpdir(), 'medcrypt-web-admin-'));
  await buildClient({ outdir: join(dir, 'web') });
  server = await startServer(join(dir, 'web'));
  // Trust exactly this server's self-signed certificate (its SPKI pinned), nothing else.
  const cert = new X509Certificate(await readFile(join(dir, 'data', 'tls.crt')));
  const spki = createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [`--ignore-certificate-errors-spki-list=${spki}`] });
});

after(async () => {
  await browser?.close();
  if (server) {
    server.kill('SIGTERM');
    await new Promise((res) => server.once('exit', res));
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the admin registers through the page from the first-start invitation link (fragment)', { timeout: SLOW * 2 }, async () => {
  secrets.invitations.push(firstInvitation);
  const page = await newPage('admin');
  await registerThroughPage(page, `${url}/register#code=${firstInvitation}`, { username: 'admin', display: 'Ada Admin', screenshot: true });
  await page.waitForURL(`${url}/admin/users`);
  await page.locator('tr[data-user=admin]').waitFor();
  assert.match(await page.locator('tr[data-user=admin]').innerText(), /you/);
  await page.getByRole('link', { name: 'My account' }).click();
  await page.locator('[data-testid=acct-username]').filter({ hasText: 'admin' }).waitFor();
  assert.match(await page.locator('main').innerText(), /unlocked in this tab/, 'the keys made at sign-up are in this tab');
  await page.getByRole('link', { name: 'Admin' }).click();
  await page.waitForURL(`${url}/admin/users`);
  // the admin receives no images: no Inbox in the navbar, and "/" leads to the admin pages
  const nav = page.getByRole('navigation', { name: 'Main' });
  assert.equal(await nav.getByRole('link', { name: 'Inbox' }).count(), 0, 'no Inbox for the admin');
  assert.equal(await nav.getByRole('link', { name: 'Directory' }).count(), 1);
  await page.getByRole('link', { name: 'medcrypt' }).click();
  await page.waitForURL(`${url}/admin/users`);
});

test('the admin creates invitations for a technician, a doctor and a patient', { timeout: SLOW }, async () => {
  const { page } = contexts.admin;
  await page.getByRole('link', { name: 'Invitations' }).click();
  await page.waitForURL(`${url}/admin/invitations`);
  await axe(page, 'admin invitations (empty)');
  for (const role of ['technician', 'doctor', 'patient']) {
    await page.selectOption('#inv-role', role);
    await page.getByRole('button', { name: 'Create invitation' }).click();
    const card = page.locator('[data-testid=invitation]').filter({ hasText: `Invitation for a ${role}` });
    await card.waitFor();
    const link = await page.locator('#inv-link').inputValue();
    assert.match(link, new RegExp(`^${url}/register#code=[A-Z2-7]{32}$`));
    links[role] = link;
    secrets.invitations.push(link.split('#code=')[1]);
    assert.match(await card.locator('img').getAttribute('src'), /^data:image\/png;base64,/, 'a QR code of the link');
    await page.getByRole('button', { name: 'Copy link' }).click();
    await page.getByText('Copied.').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link);
  }
  const pendingRows = page.locator('#pending-invitations tbody tr');
  await page.locator('[data-testid=pending-count]').filter({ hasText: '3 pending invitations.' }).waitFor();
  assert.equal(await pendingRows.count(), 3, 'the invitations made are listed as pending');
  const pendingText = await page.locator('#pending-invitations').innerText();
  assert.match(pendingText, /technician[\s\S]*doctor[\s\S]*patient/, 'oldest first');
  assert.match(await pendingRows.first().innerText(), /admin/, 'made by the admin');
  for (const link of Object.values(links)) {
    assert.ok(!pendingText.toUpperCase().includes(link.split('#code=')[1]), 'no code in the pending list');
  }
  await axe(page, 'admin invitations');
  await shot(page, 'admin-invitations');
});

test('a technician, a doctor and a patient register through the page', { timeout: SLOW * 4 }, async () => {
  const people = [['technician', 'tech', 'Tom Technician'], ['doctor', 'doctor', 'Dr. Dana Doctor'], ['patient', 'patient', 'Pat Patient']];
  for (const [role, username, display] of people) {
    const page = await newPage(username);
    await registerThroughPage(page, links[role], { username, display });
    await page.waitForURL(`${url}/inbox`);
    const { user } = await page.evaluate(() => fetch('/api/v1/me').then((r) => r.json()));
    assert.equal(user.role, role);
  }
  // A used invitation is refused with a clear message.
  const page = await newPage('late');
  await page.goto(links.doctor);
  await page.fill('#reg-username', 'late');
  await page.fill('#reg-password', pw('late'));
  await page.fill('#reg-confirm', pw('late'));
  secrets.passwords.add(pw('late'));
  await page.click('button[type=submit]');
  await page.locator('#reg-error').filter({ hasText: 'already used or expired' }).waitFor({ timeout: SLOW });
  await contexts.late.context.close();
  // the patient's navbar has the Inbox the admin's lacks
  assert.equal(await contexts.patient.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Inbox' }).count(), 1);
});

test('the admin cancels a pending invitation; its link then creates no account', { timeout: SLOW }, async () => {
  const { page } = contexts.admin;
  await page.getByRole('link', { name: 'Invitations' }).click();
  await page.waitForURL(`${url}/admin/invitations`);
  const count = page.locator('[data-testid=pending-count]');
  await count.filter({ hasText: 'No pending invitations.' }).waitFor();
  await page.selectOption('#inv-role', 'researcher');
  await page.getByRole('button', { name: 'Create invitation' }).click();
  await page.locator('[data-testid=invitation]').filter({ hasText: 'Invitation for a researcher' }).waitFor();
  const link = await page.locator('#inv-link').inputValue();
  secrets.invitations.push(link.split('#code=')[1]);
  await count.filter({ hasText: '1 pending invitation.' }).waitFor();
  const row = page.locator('#pending-invitations tbody tr');
  assert.match(await row.innerText(), /researcher/);
  const deletes = () => requests.filter((r) => r.method === 'DELETE' && r.url.includes('/api/v1/invitations/')).length;

  // "Keep it" in the dialog keeps the invitation; nothing is sent.
  await row.getByRole('button', { name: /^Cancel the researcher invitation/ }).click();
  const dialog = page.getByRole('dialog', { name: 'Cancel this researcher invitation?' });
  await dialog.waitFor();
  await axe(page, 'cancel invitation dialog');
  await dialog.getByRole('button', { name: 'Keep it' }).click();
  assert.equal(deletes(), 0);
  assert.equal(await row.count(), 1, 'still pending');

  await row.getByRole('button', { name: /^Cancel the researcher invitation/ }).click();
  await page.getByRole('dialog', { name: 'Cancel this researcher invitation?' }).getByRole('button', { name: 'Cancel invitation' }).click();
  await page.locator('[data-testid=admin-status]').filter({ hasText: 'The researcher invitation is cancelled.' }).waitFor();
  await count.filter({ hasText: 'No pending invitations.' }).waitFor();
  assert.equal(deletes(), 1);
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'pending-title', 'the focus stays in the pending section');
  await axe(page, 'admin invitations after a cancellation');

  // The cancelled link is refused like a used one.
  const late = await newPage('cancelled');
  await late.goto(link);
  await late.fill('#reg-username', 'cancelled');
  await late.fill('#reg-password', pw('cancelled'));
  await late.fill('#reg-confirm', pw('cancelled'));
  secrets.passwords.add(pw('cancelled'));
  await late.click('button[type=submit]');
  await late.locator('#reg-error').filter({ hasText: 'already used or expired' }).waitFor({ timeout: SLOW });
  await contexts.cancelled.context.close();
});

test('a non-admin at /admin gets the not-allowed page; My account shows the fingerprints', { timeout: SLOW }, async () => {
  const { page } = contexts.patient;
  await page.goto(`${url}/admin/users`);
  await page.locator('[data-testid=not-allowed]').waitFor();
  assert.equal(await page.locator('h1').innerText(), 'Not allowed');
  assert.match(await page.locator('[data-testid=not-allowed]').innerText(), /administrators only.*role is patient/s);
  await axe(page, 'not allowed');

  await page.getByRole('link', { name: 'My account' }).click();
  await page.waitForURL(`${url}/account`);
  await page.locator('[data-testid=acct-enc-fp]').waitFor();
  const { user } = await page.evaluate(() => fetch('/api/v1/me').then((r) => r.json()));
  const grouped = (hex) => hex.toUpperCase().match(/.{4}/g).join(' ');
  assert.equal(await page.locator('[data-testid=acct-username]').innerText(), 'patient');
  assert.equal(await page.locator('[data-testid=acct-role]').innerText(), 'patient');
  assert.equal(await page.locator('[data-testid=acct-enc-fp]').innerText(), grouped(user.enc_fingerprint));
  assert.equal(await page.locator('[data-testid=acct-sign-fp]').innerText(), grouped(user.sign_fingerprint));
  assert.match(await page.locator('main').innerText(), /password change|Changing your password/i);
  assert.match(await page.locator('main').innerText(), /locked \(sign in again to unlock\)/, 'after the reload the keys are locked');
  await axe(page, 'my account');
  await shot(page, 'account');
});

test('signing out everywhere ends every session of the account', { timeout: SLOW }, async () => {
  const { page } = contexts.doctor;
  await page.goto(`${url}/account`); // a reload: the session stays, the keys are locked
  await page.locator('[data-testid=acct-username]').waitFor();
  assert.match(await page.locator('main').innerText(), /locked/);
  await page.getByRole('button', { name: 'Sign out everywhere' }).click();
  const dialog = page.getByRole('dialog', { name: 'Sign out everywhere?' });
  await dialog.waitFor();
  await axe(page, 'confirm dialog');
  await dialog.getByRole('button', { name: 'Sign out everywhere' }).click();
  await page.waitForURL(`${url}/login`);
  assert.equal(await page.evaluate(() => fetch('/api/v1/me').then((r) => r.status)), 401);
});

test('the admin sets, changes and removes a notice e-mail address; a bad one is refused, saying why', { timeout: SLOW }, async () => {
  const { page } = contexts.admin;
  await page.getByRole('link', { name: 'Users' }).click();
  await page.waitForURL(`${url}/admin/users`);
  const cell = (u) => page.locator(`tr[data-user="${u}"] td[data-testid=email]`);
  await cell('patient').filter({ hasText: 'none' }).waitFor();
  const patches = () => requests.filter((r) => r.method === 'PATCH' && r.url.endsWith('/api/v1/users/patient')).length;
  // What the server holds, asked directly (the admin's session; the address is in GET /users/{u} only).
  const held = (u) => page.evaluate((name) => fetch(`/api/v1/users/${name}`).then((r) => r.json()), u);
  assert.equal((await held('patient')).email, null);

  // Set: the dialog, its label, then the address in the row and on the server.
  await page.getByRole('button', { name: 'Set the notice e-mail of patient' }).click();
  const dialog = page.getByRole('dialog', { name: 'Notice e-mail of patient' });
  await dialog.waitFor();
  const field = dialog.getByLabel('E-mail address');
  assert.equal(await field.inputValue(), '');
  assert.equal(await dialog.getByRole('button', { name: 'Remove address' }).count(), 0, 'nothing to remove yet');
  await axe(page, 'notice e-mail dialog');
  await field.fill('pat.one@clinic.example');
  await dialog.getByRole('button', { name: 'Save address' }).click();
  await page.locator('[data-testid=admin-status]').filter({ hasText: 'Notice mails for patient go to pat.one@clinic.example.' }).waitFor();
  assert.equal(await dialog.count(), 0, 'the dialog closed');
  assert.equal(await cell('patient').locator('.mc-email').innerText(), 'pat.one@clinic.example');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Change the notice e-mail of patient', 'the focus is back on the row');
  assert.equal((await held('patient')).email, 'pat.one@clinic.example');

  // The doctor's address stays (for the screenshot of the list).
  await page.getByRole('button', { name: 'Set the notice e-mail of doctor' }).click();
  await page.getByRole('dialog', { name: 'Notice e-mail of doctor' }).getByLabel('E-mail address').fill('  dr.who@hospital-north.example ');
  await page.getByRole('dialog', { name: 'Notice e-mail of doctor' }).getByRole('button', { name: 'Save address' }).click();
  await cell('doctor').filter({ hasText: 'dr.who@hospital-north.example' }).waitFor();
  assert.equal((await held('doctor')).email, 'dr.who@hospital-north.example', 'spaces around it are dropped');

  // After a reload the page reads it from the server again.
  await page.reload();
  await cell('patient').locator('.mc-email').filter({ hasText: 'pat.one@clinic.example' }).waitFor();
  await cell('admin').filter({ hasText: 'none' }).waitFor();

  // Bad addresses are refused in the dialog, each saying what is wrong; nothing is sent.
  const before = patches();
  await page.getByRole('button', { name: 'Change the notice e-mail of patient' }).click();
  await dialog.waitFor();
  assert.equal(await field.inputValue(), 'pat.one@clinic.example', 'the dialog starts from the current address');
  const error = dialog.locator('[data-testid=email-error]');
  for (const [bad, says] of [
    ['pat.one.clinic.example', /has no @/],
    ['pat@@clinic.example', /more than one @/],
    ['Pat One <pat@clinic.example>', /name, quotes or angle brackets/],
    ['pat one@clinic.example', /space/],
    ['pat..one@clinic.example', /two dots in a row before the @/],
    ['pät@clinic.example', /"ä" \(U\+00E4\) before the @/],
    ['pat@clinic_example.org', /"_" in the domain/],
    ['pat@-clinic.example', /starts or ends with a hyphen \("-clinic"\)/],
    ['pat@clinic.example.', /dot at the start or end of the domain/],
    ['', /is empty/],
  ]) {
    await field.fill(bad);
    await dialog.getByRole('button', { name: 'Save address' }).click();
    await error.filter({ hasText: says }).waitFor();
    assert.match(await error.innerText(), /^This address cannot be used: it /);
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('type')), 'email', `the focus goes back to the field (${bad})`);
  }
  await field.fill('pat@@clinic.example');
  await dialog.getByRole('button', { name: 'Save address' }).click();
  await error.filter({ hasText: 'more than one @' }).waitFor();
  await axe(page, 'notice e-mail dialog with an error');
  await shot(page, 'admin-email');
  assert.equal(patches(), before, 'a bad address is not sent');
  // Typing again clears the error.
  await field.fill('pat@clinic.example');
  assert.equal(await error.innerText(), '');
  assert.equal(await field.getAttribute('aria-invalid'), null);
  // The server refuses the same bad address with 400 (API.md §16), and keeps the old one.
  const refused = await page.evaluate(async () => {
    const { csrf_token: csrf } = await fetch('/api/v1/me').then((r) => r.json());
    const r = await fetch('/api/v1/users/patient', { method: 'PATCH', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: JSON.stringify({ email: 'pat@@clinic.example' }) });
    return { status: r.status, error: (await r.json()).error };
  });
  assert.deepEqual(refused, { status: 400, error: 'bad_request' });
  assert.equal((await held('patient')).email, 'pat.one@clinic.example');

  // Change it.
  await field.fill('pat.two@clinic.example');
  await dialog.getByRole('button', { name: 'Save address' }).click();
  await page.locator('[data-testid=admin-status]').filter({ hasText: 'Notice mails for patient go to pat.two@clinic.example.' }).waitFor();
  assert.equal((await held('patient')).email, 'pat.two@clinic.example');

  // Only the admin sees it, and only about one user: not in the listing, not to the user.
  const listing = await page.evaluate(() => fetch('/api/v1/users').then((r) => r.json()));
  assert.ok(listing.users.every((u) => !('email' in u)), 'no address in the listing');
  const asPatient = await contexts.patient.page.evaluate(() => fetch('/api/v1/users/doctor').then((r) => r.json()));
  assert.equal(asPatient.username, 'doctor');
  assert.ok(!('email' in asPatient), 'another user does not see the address');

  // The page's check and the server's agree, address by address (on tech, cleared after).
  const long = (n, c = 'b') => c.repeat(n);
  const cases = ['a@b', "x!#$%&'*+/=?^_`{|}~-y@a-b.c", `${long(64, 'a')}@b`, `a@${long(63)}.c`, `${long(64, 'a')}@${long(63)}.${long(63)}.${long(61)}`,
    `${long(65, 'a')}@b`, `a@${long(64)}.c`, `${long(64, 'a')}@${long(63)}.${long(63)}.${long(62)}`, '.a@b', 'a.@b', 'a..b@c', 'a@b-', 'a@-b',
    'a@b..c', 'a@b.', 'pät@x', 'a@x_y', 'a b@c', '<a@b>', 'a@b,c@d', 'ab', 'a@b@c', '@b', 'a@', 'a@b\r\nBcc: c@d'];
  const answers = await page.evaluate(async (addresses) => {
    const { csrf_token: csrf } = await fetch('/api/v1/me').then((r) => r.json());
    const out = [];
    for (const email of [...addresses, null]) {
      const r = await fetch('/api/v1/users/tech', { method: 'PATCH', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: JSON.stringify({ email }) });
      out.push(r.status);
    }
    return out;
  }, cases);
  assert.equal(answers.pop(), 200, 'tech\'s address cleared');
  assert.deepEqual(cases.map((a, i) => `${a}: ${answers[i]}`), cases.map((a) => `${a}: ${emailProblem(a) === null ? 200 : 400}`));
  assert.equal(answers.filter((x) => x === 200).length, 5, 'five good addresses among them');

  // Remove it: no address, here, after a reload and on the server.
  await page.getByRole('button', { name: 'Change the notice e-mail of patient' }).click();
  await dialog.getByRole('button', { name: 'Remove address' }).click();
  await page.locator('[data-testid=admin-status]').filter({ hasText: 'patient gets no notice mails now: the address is removed.' }).waitFor();
  await cell('patient').filter({ hasText: 'none' }).waitFor();
  assert.equal((await held('patient')).email, null);
  await page.reload();
  await cell('patient').filter({ hasText: 'none' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Set the notice e-mail of patient' }).count(), 1);

  // Cancel changes nothing; the admin's own address may be set (the one change of their own row).
  await page.getByRole('button', { name: 'Change the notice e-mail of doctor' }).click();
  await page.getByRole('dialog', { name: 'Notice e-mail of doctor' }).getByLabel('E-mail address').fill('other@clinic.example');
  await page.getByRole('dialog', { name: 'Notice e-mail of doctor' }).getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await cell('doctor').locator('.mc-email').innerText(), 'dr.who@hospital-north.example');
  assert.equal((await held('doctor')).email, 'dr.who@hospital-north.example');
  await page.getByRole('button', { name: 'Set the notice e-mail of admin' }).click();
  await page.getByRole('dialog', { name: 'Notice e-mail of admin' }).getByLabel('E-mail address').fill('it@clinic.example');
  await page.getByRole('dialog', { name: 'Notice e-mail of admin' }).getByRole('button', { name: 'Save address' }).click();
  await cell('admin').filter({ hasText: 'it@clinic.example' }).waitFor();
  assert.equal(patches(), before + 3, 'the refused PATCH of the check above, one change and one removal');
});

test('the admin changes a role, disables and re-enables a user', { timeout: SLOW }, async () => {
  const { page } = contexts.admin;
  await page.getByRole('link', { name: 'Users' }).click();
  await page.waitForURL(`${url}/admin/users`);
  for (const u of ['admin', 'tech', 'doctor', 'patient']) await page.locator(`tr[data-user="${u}"]`).waitFor();
  await axe(page, 'admin users');
  assert.equal(await page.getByLabel('Role of admin').isDisabled(), true, 'the admin cannot change their own role');

  // Cancel leaves the role as it was; nothing is sent.
  const role = page.getByLabel('Role of tech');
  const patchesBefore = requests.filter((r) => r.method === 'PATCH').length;
  const patches = () => requests.filter((r) => r.method === 'PATCH').length - patchesBefore;
  await role.selectOption('researcher');
  await page.getByRole('dialog', { name: 'Change the role of tech?' }).getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await role.inputValue(), 'technician');
  assert.equal(patches(), 0);
  await role.selectOption('researcher');
  const dialog = page.getByRole('dialog', { name: 'Change the role of tech?' });
  await axe(page, 'role change dialog');
  await dialog.getByRole('button', { name: 'Make researcher' }).click();
  await page.locator('[data-testid=admin-status]').filter({ hasText: 'tech is now a researcher (was technician).' }).waitFor();
  assert.equal(await page.getByLabel('Role of tech').inputValue(), 'researcher');

  // Disable the patient: their session ends at once.
  await page.getByRole('button', { name: 'Disable patient' }).click();
  await page.getByRole('dialog', { name: 'Disable patient?' }).getByRole('button', { name: 'Disable account' }).click();
  await page.locator('[data-testid=admin-status]').filter({ hasText: 'patient is disabled.' }).waitFor();
  assert.match(await page.locator('tr[data-user=patient]').innerText(), /Disabled/);
  assert.equal(await contexts.patient.page.evaluate(() => fetch('/api/v1/me').then((r) => r.status)), 401, 'the disabled user is signed out');

  // Still listed after a reload: the server lists disabled accounts to the admin, marked.
  await page.reload();
  await page.locator('tr[data-user=patient]').filter({ hasText: 'Disabled' }).waitFor();
  assert.match(await page.locator('main').innerText(), /4 accounts, 1 disabled/);
  assert.equal(await page.locator('tr[data-user=patient]').getByRole('button', { name: 'Enable patient' }).count(), 1);
  assert.equal(await page.getByLabel('Role of patient').isDisabled(), true, 'a disabled account\'s role waits');
  await axe(page, 'admin users with a disabled account');
  await shot(page, 'admin-users');

  await page.getByRole('button', { name: 'Enable patient' }).click();
  await page.getByRole('dialog', { name: 'Enable patient?' }).getByRole('button', { name: 'Enable account' }).click();
  await page.locator('[data-testid=admin-status]').filter({ hasText: 'patient is enabled again.' }).waitFor();
  assert.match(await page.locator('tr[data-user=patient]').innerText(), /Active/);
  assert.equal(patches(), 3);
});

test('the audit log shows these events under a verified chain, in pages', { timeout: SLOW }, async () => {
  const { page } = contexts.admin;
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.waitForURL(`${url}/admin/audit`);
  const banner = page.locator('[data-testid=audit-verify]');
  await banner.filter({ hasText: 'Verified chain' }).waitFor();
  const { records } = await page.evaluate(() => fetch('/api/v1/audit/verify').then((r) => r.json()));
  assert.match(await banner.innerText(), new RegExp(`All ${records} records are intact`));
  await page.selectOption('#audit-size', '100');
  await page.locator('[data-testid=audit-range]').filter({ hasText: `Records 1–${records} of ${records}` }).waitFor();
  for (const action of ['register', 'invite', 'invite_cancel', 'role_change', 'disable', 'logout']) {
    assert.ok(await page.locator(`tr[data-action=${action}]`).count() > 0, `an audit row for ${action}`);
  }
  assert.equal(await page.locator('tr[data-action=register]').count(), 4);
  assert.equal(await page.locator('tr[data-action=invite_cancel]').count(), 1);
  assert.equal(await page.locator('tr[data-action=disable]').count(), 2);
  const roleRow = await page.locator('tr[data-action=role_change]').innerText();
  assert.match(roleRow, /admin\s+role_change\s+tech/);
  assert.match(roleRow, /from: technician, to: researcher/);
  // e-mail changes: whether an address was set or cleared, never the address
  const emailRows = (await page.locator('tr[data-action=email_change]').allInnerTexts()).filter((t) => !/email_change\s+tech/.test(t));
  assert.equal(emailRows.length, 5);
  assert.equal(emailRows.filter((t) => /email: set/.test(t)).length, 4);
  assert.equal(emailRows.filter((t) => /admin\s+email_change\s+patient/.test(t) && /email: cleared/.test(t)).length, 1);
  assert.ok(!/@/.test(await page.locator('main').innerText()), 'no address in the audit log');

  // Paging: 10 a page, newest first; Older and Newer.
  await page.selectOption('#audit-size', '10');
  const range = page.locator('[data-testid=audit-range]');
  await range.filter({ hasText: `Records ${records - 9}–${records} of ${records}` }).waitFor();
  assert.equal(await page.locator('tbody tr').first().getAttribute('data-seq'), String(records));
  await page.getByRole('button', { name: 'Older →' }).click();
  assert.ok(records > 10, `over 10 records (${records})`);
  await range.filter({ hasText: `Records ${Math.max(0, records - 20) + 1}–${records - 10} of ${records}` }).waitFor();
  assert.equal(await page.locator('tbody tr').count(), Math.min(10, records - 10));
  assert.equal(await page.locator('tbody tr').first().getAttribute('data-seq'), String(records - 10));
  assert.equal(await page.getByRole('button', { name: '← Newer' }).isDisabled(), false);
  await page.getByRole('button', { name: '← Newer' }).click();
  await range.filter({ hasText: `Records ${records - 9}–${records}` }).waitFor();
  assert.equal(await page.getByRole('button', { name: '← Newer' }).isDisabled(), true);
  await axe(page, 'admin audit');
  await page.selectOption('#audit-size', '25');
  await range.filter({ hasText: 'of' }).waitFor();
  await shot(page, 'admin-audit');
});

test('signing in shows its progress; a wrong password, the proof of work and the lockout are said plainly', { timeout: SLOW * 2 }, async () => {
  const page = await newPage('signin');
  await page.goto(`${url}/login`);
  await page.locator('#login-username').waitFor();
  await axe(page, 'login');
  await page.fill('#login-username', 'doctor');
  await shot(page, 'login');

  // Every step the page showed, as text, in order.
  const watch = () => page.evaluate(() => {
    window.mcSteps = [];
    const box = document.querySelector('[data-testid=progress]');
    new MutationObserver(() => {
      const t = box.innerText.trim();
      if (t && window.mcSteps.at(-1) !== t) window.mcSteps.push(t);
    }).observe(box, { subtree: true, childList: true, characterData: true });
  });
  const steps = () => page.evaluate(() => window.mcSteps.join('\n'));

  await watch();
  await page.fill('#login-password', pw('doctor'));
  await page.click('button[type=submit]');
  await page.waitForURL(`${url}/inbox`, { timeout: SLOW });
  assert.match(await steps(), /Deriving keys from your password \(Argon2id\)/);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${url}/login`);

  const error = page.locator('#login-error');
  for (let failure = 1; failure <= 3; failure++) {
    await page.fill('#login-username', 'doctor');
    await page.fill('#login-password', `not the password ${failure}`);
    await watch();
    await page.click('button[type=submit]');
    await error.filter({ hasText: 'Wrong user name or password' }).waitFor({ timeout: SLOW });
    assert.equal(await page.locator('#login-password').inputValue(), '', 'the wrong password is cleared');
    if (failure === 1) await shot(page, 'login-error');
  }
  // From the 3rd failure the server asks for a proof of work: the page says so.
  await page.fill('#login-password', 'not the password 4');
  await watch();
  await page.click('button[type=submit]');
  await error.filter({ hasText: 'Wrong user name or password' }).waitFor({ timeout: SLOW });
  assert.match(await steps(), /proof of work/i);
  // The 5th failure locks: the message says for how long and the button waits.
  await page.fill('#login-password', 'not the password 5');
  await page.click('button[type=submit]');
  await error.filter({ hasText: 'Sign-in is locked for a while' }).waitFor({ timeout: SLOW });
  assert.match(await error.innerText(), /Try again in \d+ seconds \(at \d\d:\d\d:\d\d\)/);
  assert.equal(await page.locator('button[type=submit]').isDisabled(), true);
  await axe(page, 'login (locked)');
  await shot(page, 'login-locked');
});

test('no request carried a password or a recovery code, nor an invitation code in its URL', () => {
  assert.ok(requests.length > 50, `requests recorded (${requests.length})`);
  const bodies = requests.map((r) => r.body).filter(Boolean);
  assert.ok(bodies.some((b) => b.includes('"auth_key"')), 'the recorder saw the login bodies');
  for (const p of secrets.passwords) {
    for (const form of [p, JSON.stringify(p).slice(1, -1)]) {
      assert.ok(!bodies.some((b) => b.includes(form)), `a request body holds the password ${JSON.stringify(p)}`);
    }
  }
  assert.equal(secrets.recoveryCodes.length, 4);
  for (const code of secrets.recoveryCodes) {
    const bare = code.replaceAll('-', '');
    assert.ok(!bodies.some((b) => b.includes(code) || b.toUpperCase().includes(bare)), 'a request body holds a recovery code');
  }
  assert.equal(secrets.invitations.length, 5);
  for (const code of secrets.invitations) {
    assert.ok(!requests.some((r) => r.url.toUpperCase().includes(code)), 'a request URL holds an invitation code');
  }
});
