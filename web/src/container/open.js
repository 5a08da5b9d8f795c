/**
 * open.js: reading a container (docs/FORMAT.md §3–9), the JavaScript twin of the open path of
 * lib/file.c. open() reads and unlocks the header, checks the signer against the trusted set,
 * then hands back the plaintext as a stream that releases each chunk once its tag verified and
 * the final chunk only after the signature verified ([MC-PAY-5], [MC-SIG-4]). Every failure is
 * an McError of the first class met, in the order of the spec (§9).
 */
import { Kind, McError, fail } from './errors.js';
import { ByteReader, asBytes, concat, equal, iteratorStream } from './bytes.js';
import { SIG_NONE } from './format.js';
import { readHeader, unlock } from './header.js';
import { importSigner } from './keys.js';
import { PayloadDigest, headerDigest, signatureMessage, verifyMessage } from './signature.js';
import { openPayload } from './stream.js';

/** The fingerprints of the trusted signers: SPKI DER, or objects that carry a `fingerprint`. */
async function trustedFingerprints(trusted) {
  const out = [];
  for (const t of trusted ?? []) {
    if (t?.fingerprint) out.push(t.fingerprint);
    else out.push((await importSigner(asBytes(t, 'a trusted signer'))).fingerprint);
  }
  return out;
}

/**
 * [MC-SIG-4], first half, as lib/file.c does it: the trust set is decided by the header alone,
 * so a file from an untrusted signer (or an unsigned one) is refused before a single chunk is
 * released. An empty set trusts any signer and unsigned files.
 */
function checkTrust(header, fps) {
  if (fps.length === 0) return;
  if (header.sigAlg === SIG_NONE) fail(Kind.SIGNATURE, 'the file is not signed, but a trusted signer was required');
  if (!fps.some((fp) => equal(fp, header.signer.fingerprint))) {
    fail(Kind.SIGNATURE, 'signed by a key that is not trusted');
  }
}

/**
 * Opens a container.
 *
 *   const r = await open(ciphertext, {identity, trustedSigners, wraps})
 *
 * - ciphertext: a ReadableStream, an (async) iterable of Uint8Array, a Uint8Array or a Blob.
 * - identity: importIdentity's result (its encryption key opens the file).
 * - trustedSigners: optional SPKI DER keys (or importSigner results); when given, the file must
 *   be signed by one of them (signature failure otherwise).
 * - wraps: optional detached wraps to add first: a blob from the server plus the caller's wrap.
 *
 * Resolves once the header is unlocked to `{header, metadata, preview, signer, plaintext, done}`:
 * header = Header.info(); metadata and preview are the decrypted sections (Uint8Array, or null);
 * signer = the signer's fingerprint or null; plaintext = a ReadableStream of the plaintext, which
 * errors with McError(payload | signature) when a chunk or the signature fails — what was read
 * before must then be discarded; done = a promise of `{chunks, plaintextLength, signer}` once the
 * last chunk and the signature verified.
 * Rejects with McError header, unsupported, no match, mac, signature (untrusted signer).
 */
export async function open(ciphertext, { identity, trustedSigners = [], wraps = [] } = {}) {
  const reader = new ByteReader(ciphertext);
  let unlocked = null;
  try {
    const header = await readHeader(reader);
    for (const w of wraps) header.addDetachedWrap(w);
    unlocked = await unlock(header, identity);
    checkTrust(header, await trustedFingerprints(trustedSigners));
    const aead = await unlocked.keys.aead('payload');
    const hd = header.sigAlg !== SIG_NONE ? await headerDigest(header.prefix, header.core) : null;
    let settle;
    const done = new Promise((resolve, reject) => (settle = { resolve, reject }));
    done.catch(() => {}); // a caller that only reads the stream sees the error there
    const result = {
      header: header.info(),
      metadata: unlocked.metadata,
      preview: unlocked.preview,
      signer: header.signer ? header.signer.fingerprint : null,
      plaintext: iteratorStream(openStream(reader, header, aead, hd, settle), async () => {
        aead.wipe();
        await reader.close();
        settle.reject(new McError(Kind.IO, 'the plaintext stream was cancelled'));
      }),
      done,
    };
    return result;
  } catch (e) {
    await reader.close().catch(() => {});
    throw e;
  } finally {
    unlocked?.wipe(); // the payload key is derived; the file key is not needed any more
  }
}

async function* openStream(reader, header, aead, hd, settle) {
  const result = {};
  const digest = header.sigAlg !== SIG_NONE ? new PayloadDigest() : null;
  let length = 0;
  try {
    for await (const chunk of openPayload(reader, aead, header.signatureLength, result)) {
      if (digest) await digest.add(chunk.wire);
      length += chunk.plaintext.length;
      if (chunk.last && digest) {
        const message = signatureMessage(hd, result.chunks, await digest.digest());
        if (!(await verifyMessage(header.signer, result.trailer, message))) {
          fail(Kind.SIGNATURE, 'the signature does not verify: the file was altered after signing');
        }
      }
      yield chunk.plaintext;
    }
    settle.resolve({ chunks: result.chunks, plaintextLength: length, signer: header.signer?.fingerprint ?? null });
  } catch (e) {
    const err = e instanceof McError ? e : new McError(Kind.IO, `opening failed: ${e?.message ?? e}`, { cause: e });
    settle.reject(err);
    throw err;
  } finally {
    aead.wipe();
    await reader.close();
  }
}

/**
 * open() for a whole file in memory: resolves to `{header, metadata, preview, signer, plaintext,
 * chunks}` with plaintext as one Uint8Array, only after every check passed. For small files and
 * tests; a large file should be read from open()'s stream.
 */
export async function openBytes(ciphertext, options) {
  const r = await open(ciphertext, options);
  const parts = [];
  const rd = r.plaintext.getReader();
  for (;;) {
    const { done, value } = await rd.read();
    if (done) break;
    parts.push(value);
  }
  const info = await r.done;
  return { ...r, plaintext: concat(...parts), done: undefined, chunks: info.chunks };
}
