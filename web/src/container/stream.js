/**
 * stream.js: the chunked payload of docs/FORMAT.md §7, sealed and opened one chunk at a time.
 * The plaintext is cut into 64 KiB chunks, chunk i sealed under nonce_i = i (11 bytes) || last,
 * so truncation, extension, reordering and any flipped bit fail the AEAD. Only one chunk (plus one
 * piece of the input, plus the signature held back at the end) is in memory at a time; the
 * JavaScript twin of lib/stream.c.
 */
import { Kind, fail } from './errors.js';
import { ByteReader } from './bytes.js';
import { CHUNK_CT, CHUNK_PT, MAX_CHUNKS, TAG_LEN, chunkNonce } from './format.js';

/** Chunks sealed by one Aead.sealBatch call (1 MiB of plaintext). */
const BATCH = 16;

/**
 * Seals a plaintext source chunk by chunk: yields `{index, last, wire}` with wire = the sealed
 * chunk, in order. A full chunk is sealed only once a byte after it is seen, so the last one
 * carries the flag ([MC-PAY-1]: the empty plaintext is one empty chunk). Chunks go to the AEAD in
 * batches of 16, and up to `aead.threads` + 1 batches are being sealed while the next is read, so
 * that WebCrypto's AES-GCM and ChaCha20-Poly1305 on helper threads (Aead.offloadTo) keep several
 * cores busy; at most that many MiB of the input are held.
 * @param input anything ByteReader accepts
 * @param {import('./primitives.js').Aead} aead keyed by K_payload
 */
export async function* sealPayload(input, aead) {
  const reader = input instanceof ByteReader ? input : new ByteReader(input);
  const inFlight = aead.threads + 1;
  const own = aead.movesInput; // each plaintext then needs a buffer of its own
  const queue = []; // [{sealed: Promise<wire[]>, first, last}], oldest first
  try {
    let batch = [];
    for (let index = 0; ; index++) {
      const have = await reader.fill(CHUNK_PT + 1);
      const last = have <= CHUNK_PT;
      if (index >= MAX_CHUNKS) fail(Kind.MISUSE, 'the plaintext is too long: 2^32 chunks ([MC-PAY-6])');
      const plaintext = reader.take(last ? have : CHUNK_PT);
      batch.push({ nonce: chunkNonce(index, last), plaintext: own ? plaintext.slice() : plaintext });
      if (batch.length < BATCH && !last) continue;
      const sealed = aead.sealBatch(batch);
      sealed.catch(() => {}); // a failure is thrown where the batch is awaited, in order
      queue.push({ sealed, first: index + 1 - batch.length, last });
      batch = [];
      while (queue.length >= inFlight || (last && queue.length)) {
        const q = queue.shift();
        const wires = await q.sealed;
        for (let k = 0; k < wires.length; k++) yield { index: q.first + k, last: q.last && k === wires.length - 1, wire: wires[k] };
      }
      if (last) return;
    }
  } finally {
    await reader.close();
  }
}

/**
 * Opens the payload that follows the header in `reader`, chunk by chunk: yields
 * `{index, last, wire, plaintext}` for each chunk once its tag verified ([MC-PAY-5]). The final
 * `trailerLen` bytes of the input (the signature) are held back ([MC-PAY-3]) and stored in
 * `result.trailer`, with `result.chunks` = n, before the last chunk is yielded.
 * Every failure is McError(payload): a chunk that does not authenticate, a final chunk shorter
 * than 16 bytes or empty after full ones, a missing payload, fewer bytes than the signature.
 */
export async function* openPayload(reader, aead, trailerLen, result) {
  for (let index = 0; ; index++) {
    // A full chunk is not the last exactly when at least one payload byte follows it.
    const have = await reader.fill(CHUNK_CT + trailerLen + 1);
    if (have > CHUNK_CT + trailerLen) {
      if (index + 1 >= MAX_CHUNKS) fail(Kind.PAYLOAD, 'the payload has 2^32 chunks or more ([MC-PAY-6])');
      const wire = reader.take(CHUNK_CT);
      const plaintext = await aead.open(chunkNonce(index, false), wire);
      if (!plaintext) fail(Kind.PAYLOAD, `chunk ${index} does not authenticate: the file was altered or truncated`);
      yield { index, last: false, wire, plaintext };
      continue;
    }
    if (have < trailerLen) fail(Kind.PAYLOAD, 'the file is truncated: it ends inside its signature');
    const finalLen = have - trailerLen;
    if (finalLen === 0) fail(Kind.PAYLOAD, 'the file is truncated: no payload');
    if (finalLen < TAG_LEN) fail(Kind.PAYLOAD, `the final chunk of ${finalLen} bytes is shorter than a tag`);
    const wire = reader.take(finalLen);
    const trailer = reader.take(trailerLen);
    const plaintext = await aead.open(chunkNonce(index, true), wire);
    if (!plaintext) {
      fail(Kind.PAYLOAD, `chunk ${index} does not authenticate as the final chunk: the file was altered, truncated or extended`);
    }
    if (plaintext.length === 0 && index > 0) fail(Kind.PAYLOAD, 'an empty final chunk after full ones ([MC-PAY-1])');
    result.trailer = trailer;
    result.chunks = index + 1;
    yield { index, last: true, wire, plaintext };
    return;
  }
}
