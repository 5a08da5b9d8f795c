/**
 * consent.js: consent requests (docs/API.md §16c, issue 12) on the client. A doctor's request is
 * a sealed container for exactly the patient's and the doctor's current keys, signed by the
 * doctor, whose payload is the UTF-8 JSON `{"type": "medcrypt-consent-request", "scope":
 * "all"|"study"|"range", "study": UID, "from": "YYYYMMDD", "to": "YYYYMMDD", "reason": TEXT}`: the
 * server stores it and never reads the scope or the reason. The patient's client opens it (the
 * signature checked against the doctor's key in the directory), selects its own images about
 * itself that match the scope by decrypting their metadata here (all; StudyInstanceUID equal;
 * StudyDate within from..to, inclusive), unwraps each file key with the patient's private key and
 * wraps it for the doctor's key: the approval is made of those wraps. Images that arrive after an
 * approval are not covered: the doctor asks again.
 *
 * The pure parts (makeRequest, parseRequest, matchesScope, scopeText) run in node too
 * (test/consent.test.js); the rest needs the session.
 */
import { b64decode, b64encode } from '../account/index.js';
import { McError, fingerprint, openBytes, pemBlocks, readAll, seal, toHex } from '../container/index.js';
import { directoryRecipient, metadataObject, unlockImage } from './images.js';
import { session } from './session.js';

export const REQUEST_TYPE = 'medcrypt-consent-request';
export const REASON_MAX = 4096; // bytes of UTF-8
const DATE = /^\d{8}$/;

const utf8 = new TextEncoder();

/** A real calendar date YYYYMMDD. */
function isDate(d) {
  if (!DATE.test(d ?? '')) return false;
  const t = new Date(Date.UTC(+d.slice(0, 4), +d.slice(4, 6) - 1, +d.slice(6)));
  return t.getUTCFullYear() === +d.slice(0, 4) && t.getUTCMonth() === +d.slice(4, 6) - 1 && t.getUTCDate() === +d.slice(6);
}

/**
 * The request's plaintext object from the form's values, or an Error saying what is wrong:
 * {scope, study, from, to, reason}. Dates are YYYYMMDD (a "YYYY-MM-DD" is accepted and converted).
 */
export function makeRequest({ scope, study = '', from = '', to = '', reason = '' }) {
  const r = { type: REQUEST_TYPE, scope };
  const reasonText = String(reason).trim();
  const bytes = utf8.encode(reasonText).length;
  if (bytes < 1) throw new Error('Give a reason: the patient reads it before deciding.');
  if (bytes > REASON_MAX) throw new Error(`The reason is ${bytes} bytes; at most ${REASON_MAX}.`);
  if (scope === 'study') {
    const uid = String(study).trim();
    if (!/^[0-9]+(\.[0-9]+)*$/.test(uid) || uid.length > 64) throw new Error('A study instance UID is digits and dots, at most 64 characters.');
    r.study = uid;
  } else if (scope === 'range') {
    const f = String(from).replaceAll('-', '');
    const t = String(to).replaceAll('-', '');
    if (!isDate(f) || !isDate(t)) throw new Error('Give both dates of the range.');
    if (f > t) throw new Error('The range starts after it ends.');
    r.from = f;
    r.to = t;
  } else if (scope !== 'all') {
    throw new Error('Choose what the request covers.');
  }
  r.reason = reasonText;
  return r;
}

/** A decrypted request payload (bytes) as {scope, study, from, to, reason}; McError payload when it is not one. */
export function parseRequest(bytes) {
  let r;
  try {
    r = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new McError('payload', 'the request is not UTF-8 JSON');
  }
  const bad = (why) => {
    throw new McError('payload', `not a consent request: ${why}`);
  };
  if (!r || typeof r !== 'object' || Array.isArray(r)) bad('not an object');
  if (r.type !== REQUEST_TYPE) bad('wrong type');
  if (typeof r.reason !== 'string' || !r.reason || utf8.encode(r.reason).length > REASON_MAX) bad('no reason');
  if (r.scope === 'study') {
    if (typeof r.study !== 'string' || !r.study) bad('no study');
  } else if (r.scope === 'range') {
    if (!isDate(r.from) || !isDate(r.to) || r.from > r.to) bad('bad range');
  } else if (r.scope !== 'all') bad('unknown scope');
  return { scope: r.scope, study: r.study ?? null, from: r.from ?? null, to: r.to ?? null, reason: r.reason };
}

const showDate = (d) => `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6)}`;

/** The scope in words. */
export function scopeText(r) {
  if (r.scope === 'study') return `the study ${r.study}`;
  if (r.scope === 'range') return `images of studies from ${showDate(r.from)} to ${showDate(r.to)}`;
  return 'all your images';
}

/** Whether decrypted metadata (an object or null) falls under the request's scope. */
export function matchesScope(meta, r) {
  if (r.scope === 'all') return true;
  if (!meta) return false;
  if (r.scope === 'study') return typeof meta.StudyInstanceUID === 'string' && meta.StudyInstanceUID.trim() === r.study;
  const d = typeof meta.StudyDate === 'string' ? meta.StudyDate.trim() : '';
  return DATE.test(d) && d >= r.from && d <= r.to;
}

/* ---- the routes ---- */

const request = (method, path, opts = {}) => session.connection.request(method, path, opts);

/** GET /api/v1/consents[?status=S]: CONSENT list, newest first. */
export async function listConsents(status) {
  const { body } = await request('GET', `/api/v1/consents${status ? `?status=${encodeURIComponent(status)}` : ''}`, { what: 'listing consent requests' });
  return Array.isArray(body?.consents) ? body.consents : [];
}

/** A user's signing key (SPKI DER) from the directory entry, checked against its fingerprint. */
async function signingKey(user) {
  const block = pemBlocks(user?.sign_public_key ?? '').find((b) => b.label === 'PUBLIC KEY');
  if (!block) throw new McError('key', `the directory has no signing key for ${user?.username}`);
  if (toHex(await fingerprint(block.der)) !== String(user.sign_fingerprint).toLowerCase()) {
    throw new McError('key', `the signing key of ${user.username} does not match its fingerprint in the directory`);
  }
  return block.der;
}

/**
 * Opens CONSENT.sealed with the session's keys, its signature checked against the doctor's
 * current signing key in the directory (`users`): the parsed request. McError otherwise.
 */
export async function openConsent(consent, users) {
  const doctor = users.find((u) => u.username === consent.doctor);
  if (!doctor) throw new McError('key', `${consent.doctor} is not in the directory: the request cannot be checked`);
  const signer = await signingKey(doctor);
  const opened = await openBytes(b64decode(consent.sealed), { identity: session.identity, trustedSigners: [signer] });
  try {
    return parseRequest(opened.plaintext);
  } finally {
    opened.plaintext.fill(0);
  }
}

/**
 * The doctor's side: seals the request for the patient's and the doctor's own keys, signed by the
 * doctor, and posts it. `patient` a directory USER. → CONSENT.
 */
export async function sendConsentRequest(patient, values, expiresIn) {
  const plain = makeRequest(values);
  const recipient = await directoryRecipient(patient);
  const bytes = utf8.encode(JSON.stringify(plain));
  const sealed = await readAll(await seal(bytes, {
    recipients: [recipient, session.identity.encryption.spki],
    signer: session.identity,
    metadata: { type: 'consent-request' },
  }));
  bytes.fill(0);
  const { body } = await request('POST', '/api/v1/consents', {
    json: { patient: patient.username, sealed: b64encode(sealed), expires_in: expiresIn },
    expect: [201],
    what: 'sending the request',
  });
  return body;
}

/** Every IMAGE about `username` the caller sees (GET /api/v1/images?patient=U, all pages). */
export async function imagesAbout(username) {
  const out = [];
  let before = null;
  for (;;) {
    const q = new URLSearchParams({ patient: username, limit: '1000' });
    if (before) q.set('before', before);
    const { body } = await request('GET', `/api/v1/images?${q}`, { what: 'listing your images' });
    const page = Array.isArray(body?.images) ? body.images : [];
    out.push(...page.filter((i) => i.patient === undefined || i.patient === username));
    if (page.length < 1000) return out;
    before = page[page.length - 1].id;
  }
}

/**
 * The patient's side of an approval: for each of `images` (IMAGE with the caller's wrap), the
 * header unlocked with the patient's private key, the metadata matched against `req`, the file
 * key wrapped for `doctor` (a directory USER). Several at once (WebCrypto runs them off the page's
 * thread). onProgress({done, total, matched}). Resolves to {wraps: [{image, wrap (base64)}],
 * skipped: [{id, why}]}. Nothing is sent.
 */
export async function wrapsForDoctor(images, req, doctor, { onProgress, signal, parallel = 8 } = {}) {
  const recipient = await directoryRecipient(doctor);
  const wraps = [];
  const skipped = [];
  let done = 0;
  let next = 0;
  const worker = async () => {
    while (next < images.length) {
      if (signal?.aborted) throw new Error('Cancelled: nothing was sent.');
      const image = images[next++];
      let unlocked = null;
      try {
        if (!image.wrap) throw new Error('you hold no wrap of it');
        unlocked = await unlockImage(image);
        const meta = metadataObject(unlocked.metadata);
        if (matchesScope(meta, req)) wraps.push({ image: image.id, wrap: b64encode(await unlocked.wrapFor(recipient)) });
      } catch (e) {
        skipped.push({ id: image.id, why: e?.message ?? String(e) });
      } finally {
        unlocked?.wipe();
      }
      done++;
      onProgress?.({ done, total: images.length, matched: wraps.length });
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, Math.max(1, images.length)) }, worker));
  return { wraps, skipped };
}

/** POST /api/v1/consents/{id}/{approve|deny|withdraw}. → CONSENT. */
export async function decideConsent(id, action, json = {}) {
  const { body } = await request('POST', `/api/v1/consents/${encodeURIComponent(id)}/${action}`, {
    json,
    expect: [200],
    what: `${action === 'approve' ? 'approving' : action === 'deny' ? 'denying' : 'withdrawing'} the request`,
  });
  return body;
}
