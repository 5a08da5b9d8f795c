/**
 * send.js (worker): the send page's work off the page's thread (src/pages/send.js talks to it
 * through src/send/client.js). Two jobs:
 *
 *   {type: 'send:inspect', id, file, preview}  → {type: 'send:inspected', id, type, metadata,
 *       preview (PNG bytes | null), note} or {type: 'send:failed', id, reason, message}
 *   {type: 'send:upload', id, file, metadata, preview, recipients (SPKI DER list, the sender's
 *       own among them), signing (the sender's non-extractable signing key, as importIdentity
 *       made it), cipher, csrf, maxUpload, endpoint, regions (optional: [{x, y, w, h}] to hide),
 *       patient (the username the image is about: tus Upload-Metadata `patient`), names
 *       ({username: display name}, for the refusal's sentence, src/send/refusal.js), deidentified
 *       (a doctor's de-identified copy of a PNG or JPEG the sender confirmed: no patient; the claim
 *       of src/send/claim.js joins the metadata and Upload-Metadata carries `deidentified` 1), kind}
 *       → {type: 'send:progress', id, phase, sent, total}… then {type: 'send:done', id, image}
 *         or {type: 'send:failed', id, reason, message}
 *   {type: 'send:cancel', id}
 *
 * With regions, the image (PNG or native DICOM) is first redacted in memory (src/redact,
 * FORMAT.md §13: black, the originals sealed for the same recipients and signed by the sender,
 * inside the image), its pixelated preview made again from the redacted pixels, and the redacted
 * image is what is sealed and sent; a refusal fails the file before anything is uploaded.
 *
 * An upload reads File.stream(), seals it chunk by chunk with src/container seal() and hands the
 * ciphertext to tus-js-client (POST /api/v1/uploads, then PATCHes of at most `chunk` bytes,
 * docs/API.md §15a) as it is made: the whole sealed file is never held. The sealed size is exact
 * before the first byte is sent (header + plaintext + 16 bytes a chunk + the signature), since
 * tus needs Upload-Length. A dropped PATCH is retried from the server's offset (HEAD). Any
 * failure terminates the upload (DELETE), so nothing half-sent stays on the server. A server
 * without /api/v1/uploads gets the sealed file in one POST /api/v1/images (small files only).
 */
import { Upload } from 'tus-js-client';
import { seal } from '../container/index.js';
import { CHUNK_PT, TAG_LEN } from '../container/format.js';
import { signatureLength } from '../container/signature.js';
import { InspectError, inspectFile } from '../send/inspect.js';
import { makePreview } from '../send/preview.js';
import { formatSize } from '../app/format.js';
import { redact } from '../redact/index.js';
import { refusal } from '../send/refusal.js';
import { jpegHasRegions, pictureClaim } from '../send/claim.js';
import { hasRegions } from '../redact/detect.js';
import { ChaChaPool } from './chacha-pool.js';

/** The largest sealed file sent in one POST when the server has no tus endpoint. */
const FALLBACK_MAX = 64 * 1024 * 1024;

const running = new Map(); // id -> {cancel()}

let pool; // ChaCha20-Poly1305's helper threads, made on the first send that needs them
const chachaPool = () => (pool === undefined ? (pool = ChaChaPool.forThisMachine()) : pool);

/** The exact size of the sealed file whose header is headerLen bytes. */
export function sealedSize(headerLen, plaintextLen, signing) {
  const chunks = Math.max(1, Math.ceil(plaintextLen / CHUNK_PT));
  return headerLen + plaintextLen + chunks * TAG_LEN + (signing ? signatureLength(signing.sigAlg, signing.bits) : 0);
}

/** The PATCH size: about a sixteenth of the file, 1 to 32 MiB, a power of two. */
export function patchSize(total) {
  let size = 1 << 20;
  while (size < 32 * (1 << 20) && size * 16 < total) size *= 2;
  return size;
}

/**
 * reader's values regrouped into pieces of size bytes (the last one shorter), each byte copied
 * once. tus-js-client's stream source appends every value it reads to its buffer by copying the
 * whole buffer: fed the seal stream's 64 KiB chunks, one 32 MiB PATCH cost 512 growing copies,
 * about 8 GiB of memcpy, and the upload crawled at ~1 MB/s (bench/web.mjs). Given whole
 * PATCH-sized pieces it copies each one once.
 */
export function wholePieces(reader, size) {
  let carry = null; // the rest of a value that overran the last piece
  let ended = false;
  return {
    read: async () => {
      const piece = new Uint8Array(size);
      let filled = 0;
      while (filled < size) {
        let value = carry;
        carry = null;
        if (!value) {
          if (ended) break;
          const r = await reader.read();
          if (r.done) {
            ended = true;
            break;
          }
          value = r.value;
        }
        const take = Math.min(value.length, size - filled);
        piece.set(take === value.length ? value : value.subarray(0, take), filled);
        filled += take;
        if (take < value.length) carry = value.subarray(take);
      }
      if (filled === 0) return { done: true, value: undefined };
      return { done: false, value: filled === size ? piece : piece.slice(0, filled) };
    },
    cancel: () => reader.cancel(),
  };
}

/**
 * The seal stream as a tus-js-client source (its `fileReader` option): pieces of `size` bytes
 * from wholePieces, the next one sealed while the current one is on the wire, so that sealing
 * (this worker) and sending (the browser's network process) run side by side instead of in
 * turn. The piece last handed out is kept until tus asks past it: a PATCH that failed is sent
 * again from the server's offset (HEAD), which may fall anywhere inside it. At most two pieces
 * are held at once (the one being sent and the one being sealed).
 */
export function pieceSource(reader, size) {
  const pieces = wholePieces(reader, size);
  let current = null; // {start, bytes}
  let end = 0; // the offset just after `current`
  const ahead = () => {
    const p = pieces.read();
    p.catch(() => {}); // a failure surfaces when tus asks for that piece
    return p;
  };
  let next = ahead();
  return {
    size: null, // tus gets uploadSize instead
    async slice(start, stop) {
      if (current && start >= current.start && start < end) {
        return { done: false, value: current.bytes.subarray(start - current.start, Math.min(stop, end) - current.start) };
      }
      if (start !== end) throw new Error(`the upload asked for byte ${start}, but the sealed stream is at byte ${end}`);
      const r = await next;
      if (r.done) return { done: true, value: null };
      current = { start, bytes: r.value };
      end = start + r.value.length;
      next = ahead();
      return { done: false, value: r.value.subarray(0, Math.min(stop, end) - start) };
    },
    close() {
      pieces.cancel().catch(() => {});
    },
  };
}

const fail = (id, reason, message) => self.postMessage({ type: 'send:failed', id, reason, message });

async function inspect({ id, file, preview }) {
  try {
    const { type, metadata } = await inspectFile(file, file.name);
    let png = null;
    let note = null;
    if (preview && type !== 'dicom') {
      try {
        png = await makePreview(file, metadata.Width, metadata.Height);
      } catch {
        note = 'No preview: the browser could not decode this image.';
      }
    } else if (preview) {
      note = 'No preview for DICOM: its pixel data is not decoded in the browser. Use `medcrypt seal --preview` for one.';
    }
    self.postMessage({ type: 'send:inspected', id, kind: type, metadata, preview: png, note }, png ? [png.buffer] : []);
  } catch (e) {
    if (e instanceof InspectError) fail(id, e.reason, e.message);
    else fail(id, 'unreadable', `The file could not be read: ${e?.message ?? e}`);
  }
}

/**
 * The file to seal: the file itself, or with regions its redacted copy (a Blob) and a preview
 * made again from it (the one the page holds shows the regions, coarsely).
 */
async function redacted(file, regions, { recipients, signing, cipher, preview, metadata }) {
  if (!regions?.length) return { blob: file, preview };
  const bytes = new Uint8Array(await file.arrayBuffer());
  let image;
  try {
    ({ image } = await redact(bytes, { regions, fill: 'black', recipients, signer: { signing }, cipher }));
  } finally {
    bytes.fill(0);
  }
  const blob = new Blob([image], { type: file.type || 'application/octet-stream' });
  image.fill(0);
  let again = null;
  if (preview && metadata?.Width) again = await makePreview(blob, metadata.Width, metadata.Height).catch(() => null);
  return { blob, preview: again };
}

async function upload(msg) {
  const { id, recipients, signing, cipher, csrf, maxUpload, endpoint, regions, patient = null, names = {}, deidentified = false, kind } = msg;
  let { metadata } = msg;
  // Who the image is about, or the de-identified mark: the only things Upload-Metadata carries
  // (§15a: it is not encrypted; the server learns the patient's account, never a metadata value).
  const about = deidentified ? { deidentified: '1' } : patient ? { patient } : {};
  const refused = (status, body) => refusal(status, body, { patient, names });
  let { file, preview } = msg;
  let cancelled = false;
  let tus = null;
  let source = null;
  const cleanup = async () => {
    try {
      await source?.cancel();
    } catch {
      // the seal stream is gone already
    }
    if (tus) await tus.abort(true).catch(() => {}); // DELETE: nothing half-sent stays
  };
  running.set(id, {
    cancel: async () => {
      cancelled = true;
      await cleanup();
      fail(id, 'cancelled', 'Cancelled: nothing was stored.');
    },
  });
  try {
    if (regions?.length) {
      self.postMessage({ type: 'send:progress', id, phase: 'redacting', sent: 0, total: file.size });
      try {
        ({ blob: file, preview } = await redacted(file, regions, { recipients, signing, cipher, preview, metadata }));
      } catch (e) {
        fail(id, 'redact', `The regions could not be hidden (${e?.kind ?? 'error'}): ${e?.message ?? e}. Nothing was sent.`);
        return;
      }
      if (cancelled) return;
    }
    if (deidentified) {
      if (kind !== 'png' && kind !== 'jpeg') {
        fail(id, 'deidentify', 'A DICOM file is marked de-identified only once it is checked against DICOM PS3.15 Table E.1-1, which this page does not do yet: de-identify it with `medcrypt deid` and send it with `medcrypt send --deidentified`. Nothing was sent.');
        return;
      }
      const bytes = new Uint8Array(await file.arrayBuffer());
      const withRegions = kind === 'png' ? hasRegions(bytes) : jpegHasRegions(bytes);
      bytes.fill(0);
      metadata = { ...metadata, deidentified: pictureClaim({ regions: withRegions }) };
    }
    self.postMessage({ type: 'send:progress', id, phase: 'sealing', sent: 0, total: file.size });
    const stream = await seal(file.stream(), { recipients, signer: { signing }, cipher, metadata, preview: preview ?? null, offload: chachaPool() });
    source = stream.getReader();
    const first = await source.read(); // the header: wraps, core, encrypted metadata and preview
    const header = first.value;
    const total = sealedSize(header.length, file.size, signing);
    if (total > maxUpload) {
      await cleanup();
      fail(id, 'too-large', `Too large: sealed it would be ${formatSize(total)}; the server accepts at most ${formatSize(maxUpload)}.`);
      return;
    }
    if (cancelled) return;
    // A reader for tus: the header we already hold, then the rest of the seal stream.
    let pending = header;
    const reader = {
      read: async () => {
        if (pending) {
          const value = pending;
          pending = null;
          return { done: false, value };
        }
        return source.read();
      },
      cancel: () => source.cancel(),
    };
    if (endpoint === null) {
      await fallbackPost(id, reader, total, csrf, { about, refused });
      return;
    }
    const chunkSize = patchSize(total);
    const result = await new Promise((resolve, reject) => {
      let last = 0;
      const piecesOfSeal = pieceSource(reader, chunkSize);
      tus = new Upload(reader, {
        endpoint,
        fileReader: { openFile: async () => piecesOfSeal },
        uploadSize: total,
        chunkSize,
        retryDelays: [0, 1000, 3000, 5000],
        headers: { 'X-CSRF-Token': csrf },
        metadata: about, // not encrypted (§15a): the patient's username, nothing about the file
        storeFingerprintForResuming: false,
        removeFingerprintOnSuccess: true,
        onShouldRetry: (err) => {
          const status = err?.originalResponse?.getStatus?.() ?? 0;
          return !cancelled && (status === 0 || status === 409 || status === 423 || status >= 500);
        },
        onProgress: (sent, all) => {
          const now = performance.now();
          if (now - last < 100 && sent < all) return;
          last = now;
          self.postMessage({ type: 'send:progress', id, phase: 'uploading', sent, total: all });
        },
        onSuccess: ({ lastResponse }) => resolve(lastResponse),
        onError: reject,
      });
      tus.start();
    });
    let image = null;
    try {
      image = JSON.parse(result.getBody());
    } catch {
      image = null;
    }
    if (result.getStatus() !== 201 || !image?.id) throw Object.assign(new Error('unexpected answer'), { originalResponse: result });
    self.postMessage({ type: 'send:progress', id, phase: 'uploading', sent: total, total });
    self.postMessage({ type: 'send:done', id, image });
  } catch (e) {
    if (cancelled) return;
    // The server's answer is read before cleanup(): aborting the upload aborts its last request
    // too, and an aborted XMLHttpRequest forgets its status and body (status 0).
    const res = e?.originalResponse;
    const status = res?.getStatus?.() ?? 0;
    let body = null;
    try {
      body = res ? JSON.parse(res.getBody()) : null;
    } catch {
      body = null;
    }
    await cleanup();
    if (res && status) {
      const [reason, message] = refused(status, body);
      fail(id, reason, `${message} Nothing was stored.`);
    } else if (e?.kind) {
      fail(id, 'seal', `Sealing failed (${e.kind}): ${e.message}. Nothing was stored.`);
    } else {
      fail(id, 'network', `The upload failed: ${e?.message ?? e}. Nothing was stored.`);
    }
  } finally {
    running.delete(id);
  }
}

/** POST /api/v1/images with the whole sealed file, for a server without tus (§15). */
async function fallbackPost(id, reader, total, csrf, { about, refused }) {
  if (total > FALLBACK_MAX) {
    await reader.cancel();
    fail(id, 'too-large', 'The server does not offer resumable uploads, and the file is too large to send in one piece.');
    return;
  }
  const parts = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  self.postMessage({ type: 'send:progress', id, phase: 'uploading', sent: 0, total });
  const res = await fetch(Object.keys(about).length ? `/api/v1/images?${new URLSearchParams(about)}` : '/api/v1/images', {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream', 'X-CSRF-Token': csrf, Accept: 'application/json' },
    body: new Blob(parts),
    credentials: 'same-origin',
    redirect: 'error',
    cache: 'no-store',
  });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (res.status !== 201 || !body?.id) {
    const [reason, message] = refused(res.status, body);
    fail(id, reason, `${message} Nothing was stored.`);
    return;
  }
  self.postMessage({ type: 'send:progress', id, phase: 'uploading', sent: total, total });
  self.postMessage({ type: 'send:done', id, image: body });
}


/** Handles a send-page message; false for a message of another type. */
export function handleSendMessage(message) {
  switch (message?.type) {
    case 'send:inspect':
      inspect(message);
      return true;
    case 'send:upload':
      upload(message);
      return true;
    case 'send:cancel':
      running.get(message.id)?.cancel();
      return true;
    default:
      return false;
  }
}
