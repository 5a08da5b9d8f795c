/**
 * images.js: what the inbox, the view page and the directory share: the image and user routes of
 * docs/API.md §15–16 over the session's Connection, opening an image's header (IMAGE.header and
 * the caller's IMAGE.wrap, no payload) with the user's private key, the summary a list shows
 * from the decrypted metadata, and the formatting of sizes, dates and fingerprints. Everything
 * decrypted stays in memory; nothing here writes to storage.
 */
import { AccountKind, b64decode, b64encode } from '../account/index.js';
import { McError, importRecipient, parseMetadata, pemBlocks, previewType, readHeader, toHex, unlock } from '../container/index.js';
import { session } from './session.js';

/** Roles a sharer may give an image to (docs/API.md §14; the server decides, this only filters the list). */
export const SHARE_TO = Object.freeze({
  doctor: ['doctor', 'patient', 'researcher'],
  patient: ['doctor'],
});

/** GET /api/v1/images: a page of IMAGE, newest first; `before` an id (paging). */
export async function listImages({ before, limit = 50 } = {}) {
  const q = new URLSearchParams({ limit: String(limit) });
  if (before) q.set('before', before);
  const { body } = await session.connection.request('GET', `/api/v1/images?${q}`, { what: 'listing your images' });
  return Array.isArray(body?.images) ? body.images : [];
}

/** GET /api/v1/images/{id}: one IMAGE. */
export async function getImage(id) {
  const { body } = await session.connection.request('GET', `/api/v1/images/${encodeURIComponent(id)}`, { what: 'fetching the image' });
  return body;
}

let directory = null; // {at, users}: the directory, kept for a minute

/**
 * GET /api/v1/users: every enabled user (USER of §13), cached for 60 s unless `fresh`. The
 * admin's answer also lists disabled accounts (§16); they are left out here, as for everyone else
 * (the admin pages read the whole list themselves).
 */
export async function loadDirectory({ fresh = false } = {}) {
  if (!fresh && directory && Date.now() - directory.at < 60_000) return directory.users;
  const { body } = await session.connection.request('GET', '/api/v1/users', { what: 'reading the user directory' });
  directory = { at: Date.now(), users: Array.isArray(body?.users) ? body.users.filter((u) => u.disabled !== true) : [] };
  return directory.users;
}

/** Forgets the cached directory (at sign-out, or after a share changed who is listed where). */
export function forgetDirectory() {
  directory = null;
}

/**
 * The header of an IMAGE with the caller's wrap added, unlocked with the session's identity:
 * an UnlockedHeader (metadata, preview, wrapFor). The caller wipes it. McError: header, no
 * match (no wrap for this key), mac; misuse when the keys are not in this page.
 */
export async function unlockImage(image) {
  if (!session.identity) throw new McError('misuse', 'your keys are locked: sign in again to open images');
  if (!image.wrap) throw new McError('no match', 'there is no wrap for you: this image was not shared with your key');
  const header = await readHeader(b64decode(image.header));
  header.addDetachedWrap(b64decode(image.wrap));
  return unlock(header, session.identity);
}

/** A DICOM person name (Family^Given^Middle) as people write it: "Family, Given Middle". */
export function personName(value) {
  if (typeof value !== 'string' || !value.trim()) return '';
  const [family = '', given = '', middle = ''] = value.split('=')[0].split('^');
  const rest = [given, middle].filter(Boolean).join(' ');
  return [family, rest].filter(Boolean).join(', ');
}

/** A DICOM date (YYYYMMDD) as YYYY-MM-DD, or '' when it is not one. */
export function dicomDate(value) {
  const m = typeof value === 'string' ? /^(\d{4})(\d{2})(\d{2})$/.exec(value.trim()) : null;
  return m ? `${m[1]}-${m[2]}-${m[3]}` : '';
}

/** The image's date: the study date when the metadata has one, else the upload day (UTC). */
export function imageDate(meta, created) {
  return dicomDate(meta?.StudyDate) || (created ? new Date(created * 1000).toISOString().slice(0, 10) : '');
}

/**
 * What a list shows of an image from its decrypted metadata (a JSON object or null): patient
 * name and id, date, modality (the DICOM Modality, else the format's name), the file's name.
 */
export function summarize(meta, created) {
  const m = meta ?? {};
  const text = (v) => (typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : '');
  const format = text(m.format).toLowerCase();
  return {
    patientName: personName(text(m.PatientName)),
    patientId: text(m.PatientID),
    date: imageDate(m, created),
    modality: text(m.Modality) || ({ dicom: 'DICOM', png: 'PNG', jpeg: 'JPEG' }[format] ?? ''),
    format,
    file: text(m.file),
    description: text(m.StudyDescription) || text(m.SeriesDescription),
  };
}

/**
 * The de-identification claim of decrypted metadata (the member "deidentified", docs/FORMAT.md's
 * convention of issue 12: {profile, checked, pixels, tool, time}, signed by the file's signature),
 * with every field as text, or null when the metadata carries none (or not an object).
 */
export function deidentificationClaim(meta) {
  const c = meta?.deidentified;
  if (!c || typeof c !== 'object' || Array.isArray(c)) return null;
  const text = (v) => (typeof v === 'string' ? v.trim() : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '');
  const item = (v) => (typeof v === 'string' ? v : JSON.stringify(v));
  return {
    profile: text(c.profile),
    checked: Array.isArray(c.checked) ? c.checked.slice(0, 200).map(item).filter(Boolean) : [],
    pixels: text(c.pixels),
    tool: text(c.tool),
    time: text(c.time),
  };
}

/**
 * What the pages say of an image's patient and de-identification, from IMAGE (the server's
 * record: `patient`, `deidentified`) and the decrypted metadata (the signed claim):
 * {patient (username or null), claim (deidentificationClaim or null), state}, state one of
 *   'identified'     about a patient account, no claim;
 *   'deidentified'   marked by the server and claimed in the signed metadata;
 *   'missing-claim'  marked by the server, but the metadata has no claim: the loud warning,
 *                    since nobody vouched that identifying data was removed;
 *   'unmarked-claim' a claim in the metadata the server did not record (shown, not trusted more);
 *   'unknown'        neither a patient nor a mark (an image from before patients were recorded).
 */
export function aboutImage(image, meta) {
  const claim = deidentificationClaim(meta);
  const patient = typeof image?.patient === 'string' && image.patient ? image.patient : null;
  const marked = image?.deidentified === true;
  let state;
  if (marked) state = claim ? 'deidentified' : 'missing-claim';
  else if (claim) state = 'unmarked-claim';
  else state = patient ? 'identified' : 'unknown';
  return { patient, claim, state };
}

/** A user as people read it: "Display Name (username)", the username alone when that is all. */
export function userLabel(username, users) {
  const u = users?.find?.((x) => x.username === username);
  const name = u?.display_name;
  return name && name !== username ? `${name} (${username})` : String(username ?? '');
}

/** Decrypted metadata bytes as an object, or null (not a JSON object: not shown, [MC-CORE-10]). */
export function metadataObject(bytes) {
  return bytes ? parseMetadata(bytes) : null;
}

/** A blob: URL for a decrypted preview (PNG or JPEG only), or null. The caller revokes it. */
export function previewUrl(bytes) {
  const type = bytes && previewType(bytes);
  return type ? URL.createObjectURL(new Blob([bytes], { type: `image/${type}` })) : null;
}

/** The kind of a decrypted file by its first bytes: 'dicom', 'png', 'jpeg' or null. */
export function fileKind(bytes) {
  if (bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d) return 'dicom';
  return previewType(bytes);
}

export { formatSize } from './format.js';

/** A time (seconds since the epoch) as "YYYY-MM-DD HH:MM" in the browser's zone. */
export function formatTime(t) {
  if (!t) return '';
  const d = new Date(t * 1000);
  const p = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** A fingerprint (64 hex digits) in groups of four, to read out over the phone. */
export function groupFingerprint(hex) {
  return typeof hex === 'string' ? hex.replace(/(.{4})(?=.)/g, '$1 ') : '';
}

/** A fingerprint's bytes as hex. */
export const fingerprintHex = (bytes) => (bytes ? toHex(bytes) : '');

/**
 * A user's encryption key from the directory, imported for wrapping, after checking that its
 * fingerprint is the one the directory shows (McError key otherwise).
 */
export async function directoryRecipient(user) {
  const block = pemBlocks(user.enc_public_key ?? '').find((b) => b.label === 'PUBLIC KEY');
  if (!block) throw new McError('key', `the directory has no encryption key for ${user.username}`);
  const recipient = await importRecipient(block.der);
  if (toHex(recipient.fingerprint) !== user.enc_fingerprint) {
    throw new McError('key', `the key of ${user.username} does not match its fingerprint in the directory`);
  }
  return recipient;
}

/** POST /api/v1/images/{id}/shares with a detached wrap for `to`. */
export async function postShare(id, to, wrap) {
  const { body } = await session.connection.request('POST', `/api/v1/images/${encodeURIComponent(id)}/shares`, {
    json: { to, wrap: b64encode(wrap) },
    expect: [201],
    what: `sharing with ${to}`,
  });
  return body;
}

/** DELETE /api/v1/images/{id}/shares/{username}. */
export async function deleteShare(id, username) {
  await session.connection.request('DELETE', `/api/v1/images/${encodeURIComponent(id)}/shares/${encodeURIComponent(username)}`, {
    expect: [204],
    as: 'none',
    what: `revoking ${username}'s access`,
  });
}

/** Whether an error is the server's 401 reauth_required (share and revoke need a fresh password). */
export const needsReauth = (e) => e?.kind === AccountKind.REAUTH_REQUIRED;

/** A short sentence for an error, for people: no stack, no internals. */
export function errorText(e) {
  const kind = e?.kind;
  const known = {
    'no match': 'Your key does not open this image.',
    mac: 'The image header does not authenticate: it was altered, or the wrap holds another file\'s key.',
    header: 'This is not a well-formed sealed file.',
    unsupported: 'This file uses a format or algorithm this client does not support.',
    payload: 'The image data was altered or cut short: it does not decrypt.',
    signature: 'The signature does not verify: the image was altered after it was signed.',
  }[kind];
  if (known) return `${known} (${e.message})`;
  return e?.message ?? String(e);
}
