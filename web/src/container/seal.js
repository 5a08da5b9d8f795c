/**
 * seal.js: writing a container (docs/FORMAT.md §1–8), the JavaScript twin of lib/seal.c. seal()
 * makes a fresh file key and file id, wraps the key for every recipient, writes the core with the
 * encrypted metadata and preview and its MAC, then streams the payload chunk by chunk and ends
 * with the signature. The plaintext is read only as fast as the ciphertext is consumed.
 */
import { Kind, McError, fail } from './errors.js';
import { ByteReader, concat, iteratorStream, u16, wipe } from './bytes.js';
import {
  CIPHER_AES_256_GCM, CIPHER_CHACHA20_POLY1305, CIPHER_NAMES, FILE_ID_LEN, KEY_LEN, MAX_WRAPS, SIG_NONE,
  WRAP_RSA_OAEP, encodeCoreWithoutMac, encodePrefix, encodeWrap,
} from './format.js';
import { importRecipient } from './keys.js';
import { KeySchedule } from './keyschedule.js';
import { hmac, oaepWrap, randomBytes } from './primitives.js';
import { checkPreview, encodeMetadata } from './sections.js';
import { PayloadDigest, headerDigest, signMessage, signatureMessage } from './signature.js';
import { sealPayload } from './stream.js';

/** The cipher number of a name ('chacha20', 'aes') or number (1, 2). */
export function cipherNumber(cipher) {
  const c = typeof cipher === 'string' ? CIPHER_NAMES[cipher.toLowerCase()] : cipher;
  if (c !== CIPHER_CHACHA20_POLY1305 && c !== CIPHER_AES_256_GCM) fail(Kind.MISUSE, `unknown cipher ${cipher}`);
  return c;
}

/**
 * Seals a plaintext for recipients.
 *
 *   const ciphertext = await seal(plaintext, {recipients, signer, cipher, metadata, preview})
 *
 * - plaintext: a ReadableStream, an (async) iterable of Uint8Array, a Uint8Array or a Blob.
 * - recipients: 1 to 1024 recipient keys (importRecipient's results, or SPKI DER to import), no
 *   key twice ([MC-WRAP-3], [MC-WRAP-4]). Add the sender to open the file again.
 * - signer: an identity with a signing key (importIdentity), or null/absent for unsigned.
 * - cipher: 'chacha20' (default, ChaCha20-Poly1305) or 'aes' (AES-256-GCM), or 1 / 2.
 * - metadata: a JSON object (or its UTF-8 bytes), at most 1 MiB; preview: PNG or JPEG bytes, at
 *   most 8 MiB. Absent: the section is empty.
 * - offload: optional, for ChaCha20-Poly1305: helper threads that seal the payload's chunks
 *   (src/worker/chacha-pool.js in the browser; {size, open(key)}, see Aead.offloadTo). The bytes
 *   are the same with or without.
 *
 * Resolves, once the header is made, to a ReadableStream of the container bytes; arguments are
 * checked first (McError misuse/key). Cancelling the stream cancels the plaintext input. The
 * file key is wiped when the header is made; the payload key when the stream ends.
 */
export async function seal(plaintext, { recipients, signer = null, cipher = 'chacha20', metadata = null, preview = null, offload = null } = {}) {
  const c = cipherNumber(cipher);
  if (!Array.isArray(recipients) || recipients.length === 0) fail(Kind.MISUSE, 'seal needs at least one recipient');
  if (recipients.length > MAX_WRAPS) fail(Kind.MISUSE, `more than ${MAX_WRAPS} recipients`);
  const keys = [];
  for (const r of recipients) keys.push(r?.key && r?.fingerprint ? r : await importRecipient(r));
  const seen = new Set();
  for (const k of keys) {
    const hex = k.fingerprint.join(',');
    if (seen.has(hex)) fail(Kind.MISUSE, 'a recipient is given twice');
    seen.add(hex);
  }
  const signing = signer ? (signer.signing ?? signer) : null;
  if (signer && !signing?.privateKey) fail(Kind.MISUSE, 'the signer has no signing key');
  const metaPt = metadata == null ? null : encodeMetadata(metadata);
  const previewPt = preview == null ? null : checkPreview(preview);

  const fileKey = randomBytes(KEY_LEN); // [MC-KDF-1]
  const fileId = randomBytes(FILE_ID_LEN); // [MC-CORE-3]
  let schedule;
  let header;
  let signed = null;
  try {
    const wraps = [];
    for (const k of keys) {
      wraps.push({ type: WRAP_RSA_OAEP, recipient: k.fingerprint, body: await oaepWrap(k.key, fileKey) }); // [MC-WRAP-2]
    }
    schedule = await KeySchedule.create(fileKey, fileId, c);
    const meta = await sealSection(schedule, 'metadata', metaPt);
    const prev = await sealSection(schedule, 'preview', previewPt);
    const prefix = encodePrefix();
    const coreWithoutMac = encodeCoreWithoutMac({
      cipher: c,
      fileId,
      sigAlg: signing ? signing.sigAlg : SIG_NONE,
      signer: signing ? signing.spki : new Uint8Array(0),
      meta,
      preview: prev,
    });
    const mac = await hmac(await schedule.headerKey(), concat(prefix, coreWithoutMac)); // [MC-CORE-7]
    const core = concat(coreWithoutMac, mac);
    header = concat(prefix, u16(wraps.length), ...wraps.map(encodeWrap), core);
    if (signing) signed = { signing, headerDigest: await headerDigest(prefix, core) };
  } finally {
    wipe(fileKey);
  }
  const aead = await schedule.aead('payload');
  try {
    await aead.offloadTo(offload);
  } catch (e) {
    aead.wipe();
    throw e;
  }
  const source = new ByteReader(plaintext);
  return iteratorStream(sealStream(header, source, aead, signed), async () => {
    aead.wipe();
    await source.close();
  });
}

async function sealSection(schedule, label, plaintext) {
  if (!plaintext) return new Uint8Array(0);
  const aead = await schedule.aead(label);
  try {
    return await aead.seal(new Uint8Array(12), plaintext); // all-zero nonce: one message per key
  } finally {
    aead.wipe();
  }
}

async function* sealStream(header, plaintext, aead, signed) {
  try {
    yield header;
    const digest = signed ? new PayloadDigest() : null;
    let n = 0;
    for await (const { wire } of sealPayload(plaintext, aead)) {
      if (digest) await digest.add(wire); // [MC-SIG-2]
      n++;
      yield wire;
    }
    if (signed) {
      const message = signatureMessage(signed.headerDigest, n, await digest.digest());
      yield await signMessage(signed.signing, message);
    }
  } catch (e) {
    throw e instanceof McError ? e : new McError(Kind.IO, `sealing failed: ${e?.message ?? e}`, { cause: e });
  } finally {
    aead.wipe();
  }
}


