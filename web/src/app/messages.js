/**
 * messages.js: sealed messages (docs/API.md §16b, issue 12) on the client. A message is the UTF-8
 * JSON envelope {"text", "image", "in_reply_to"} sealed with the container format for exactly the
 * recipient's and the sender's current encryption keys, with the metadata {"type":"message"},
 * signed by the sender: what `medcrypt msg` makes, so either side reads the other's. The server
 * stores the sealed bytes and never the text. Opening checks the signature against the sender's
 * current signing key in the directory.
 */
import { b64decode, b64encode } from '../account/index.js';
import { McError, fingerprint, openBytes, pemBlocks, readAll, seal, toHex } from '../container/index.js';
import { directoryRecipient } from './images.js';
import { session } from './session.js';

export const TEXT_MAX = 64 * 1024; // bytes of UTF-8
const utf8 = new TextEncoder();

/** The envelope's bytes for a text (1 to 64 KiB of UTF-8), an image id or null, a reply id or null. */
export function envelopeBytes(text, { image = null, inReplyTo = null } = {}) {
  const n = utf8.encode(text).length;
  if (n === 0 || !text.trim()) throw new Error('Write something first.');
  if (n > TEXT_MAX) throw new Error(`The message is ${n} bytes; at most ${TEXT_MAX}.`);
  return utf8.encode(JSON.stringify({ text, image, in_reply_to: inReplyTo }));
}

/** A decrypted envelope as {text, image, inReplyTo}; McError payload when it is not one. */
export function parseEnvelope(bytes) {
  let e;
  try {
    e = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new McError('payload', 'the message is not UTF-8 JSON');
  }
  if (!e || typeof e !== 'object' || Array.isArray(e) || typeof e.text !== 'string') throw new McError('payload', 'not a message envelope');
  return { text: e.text, image: typeof e.image === 'string' ? e.image : null, inReplyTo: typeof e.in_reply_to === 'string' ? e.in_reply_to : null };
}

const request = (method, path, opts = {}) => session.connection.request(method, path, opts);

/** GET /api/v1/messages: MESSAGE list (newest first), of one thread when given. */
export async function listMessages({ thread, limit = 1000 } = {}) {
  const q = new URLSearchParams({ limit: String(limit) });
  if (thread) q.set('thread', thread);
  const { body } = await request('GET', `/api/v1/messages?${q}`, { what: 'listing your messages' });
  return Array.isArray(body?.messages) ? body.messages : [];
}

/** The user's signing key (SPKI DER) from the directory, checked against its fingerprint. */
async function signingKey(user) {
  const block = pemBlocks(user?.sign_public_key ?? '').find((b) => b.label === 'PUBLIC KEY');
  if (!block || toHex(await fingerprint(block.der)) !== String(user.sign_fingerprint).toLowerCase()) {
    throw new McError('key', `no valid signing key for ${user?.username} in the directory`);
  }
  return block.der;
}

/**
 * GET /api/v1/messages/{id} opened with the session's keys, signed by `from` (a directory USER):
 * {text, image, inReplyTo}. McError when it does not open or verify.
 */
export async function openMessage(id, from) {
  const { body } = await request('GET', `/api/v1/messages/${encodeURIComponent(id)}`, { what: 'fetching the message' });
  const opened = await openBytes(b64decode(body.sealed), { identity: session.identity, trustedSigners: [await signingKey(from)] });
  try {
    return parseEnvelope(opened.plaintext);
  } finally {
    opened.plaintext.fill(0);
  }
}

/** Seals `text` for `to` (a directory USER) and the sender, signed, and posts it. → {id, thread, ...}. */
export async function sendMessage(to, text, { replyTo = null } = {}) {
  const bytes = envelopeBytes(text, { inReplyTo: replyTo });
  const sealed = await readAll(await seal(bytes, {
    recipients: [await directoryRecipient(to), session.identity.encryption.spki],
    signer: session.identity,
    metadata: { type: 'message' },
  }));
  bytes.fill(0);
  const { body } = await request('POST', '/api/v1/messages', {
    json: { to: to.username, reply_to: replyTo, sealed: b64encode(sealed) },
    expect: [201],
    what: `sending a message to ${to.username}`,
  });
  return body;
}

/** POST /api/v1/messages/{id}/read. */
export async function markRead(id) {
  await request('POST', `/api/v1/messages/${encodeURIComponent(id)}/read`, { expect: [204], as: 'none', what: 'marking a message read' });
}
