/**
 * container.test.js: the JavaScript container against itself and against the spec's rules that
 * the vectors do not reach: round trips of every size class and both ciphers, input and ciphertext
 * cut into odd pieces, the final chunk withheld until the signature verified, detached wraps and
 * sharing, the writer's refusals, identity checks, and a 1 GiB file that must stream in bounded
 * memory.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { before, test } from 'node:test';
import {
  Kind, McError, importIdentity, importRecipient, open, openBytes, parseMetadata, previewType, readAll, readHeader, seal,
  toHex, unlock,
} from '../src/container/index.js';
import { CHUNK_CT, CHUNK_PT } from '../src/container/format.js';
import { VECTOR_KEYS, pattern, pemFile, publicKeyFile, sha256hex, vectorIdentity } from './helpers.js';

let alice; // identity: alice.key (encryption) + signer_ed25519 (signing)
let bob;
let pssSigner;
let aliceR;
let bobR;
let carolR;
const PNG = Uint8Array.from(Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010800000000', 'hex'));

before(async () => {
  const der = (name) => pemFile(join(VECTOR_KEYS, name), 'PRIVATE KEY')[0];
  alice = await importIdentity({
    encryptionKey: der('alice.key'),
    encryptionPublicKey: publicKeyFile(join(VECTOR_KEYS, 'alice.pub')),
    signingKey: der('signer_ed25519.key'),
    signingPublicKey: publicKeyFile(join(VECTOR_KEYS, 'signer_ed25519.pub')),
  });
  bob = await vectorIdentity('bob.key');
  pssSigner = await vectorIdentity('signer_pss.key', 'signing');
  aliceR = await importRecipient(publicKeyFile(join(VECTOR_KEYS, 'alice.pub')));
  bobR = await importRecipient(publicKeyFile(join(VECTOR_KEYS, 'bob.pub')));
  carolR = await importRecipient(publicKeyFile(join(VECTOR_KEYS, 'carol4096.pub')));
});

/** Yields bytes in pieces of the given sizes, cycling. */
async function* pieces(bytes, sizes) {
  for (let off = 0, i = 0; off < bytes.length; i++) {
    const n = sizes[i % sizes.length];
    yield bytes.slice(off, off + n);
    off += n;
  }
}

async function rejectsWith(promise, kind) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof McError, `not an McError: ${e}`);
    assert.equal(e.kind, kind, e.message);
    return true;
  });
}

for (const cipher of ['chacha20', 'aes']) {
  for (const [signerName, signer] of [['unsigned', () => null], ['Ed25519', () => alice], ['RSA-PSS', () => pssSigner]]) {
    test(`round trip, ${cipher}, ${signerName}: sizes 0 .. 3 chunks + 1`, async () => {
      for (const size of [0, 1, 15, 16, CHUNK_PT - 1, CHUNK_PT, CHUNK_PT + 1, 2 * CHUNK_PT, 3 * CHUNK_PT + 1]) {
        const pt = pattern(`rt-${size}`, size);
        const sealed = await readAll(await seal(pt, { recipients: [aliceR, bobR], signer: signer(), cipher }));
        const chunks = Math.max(1, Math.ceil(size / CHUNK_PT));
        const sigLen = signer() ? (signer().signing.sigAlg === 1 ? 64 : 384) : 0;
        const hdr = await readHeader(sealed);
        assert.equal(sealed.length, hdr.length + size + 16 * chunks + sigLen, `size ${size}: ciphertext length`);
        for (const who of [alice, bob]) {
          const r = await openBytes(sealed, { identity: who, trustedSigners: signer() ? [signer().signing.spki] : [] });
          assert.equal(sha256hex(r.plaintext), sha256hex(pt), `size ${size}`);
          assert.equal(r.chunks, chunks);
          assert.deepEqual(r.signer, signer() ? signer().signing.fingerprint : null);
        }
      }
    });
  }
}

test('metadata and preview round trip; header info without the payload', async () => {
  const meta = { PatientID: 'JS-0001', Modality: 'MR', Description: 'Thörax — ü' };
  const sealed = await readAll(await seal(pattern('mp', 1000), { recipients: [carolR, aliceR], metadata: meta, preview: PNG, cipher: 'aes' }));
  const r = await openBytes(sealed, { identity: alice });
  assert.deepEqual(parseMetadata(r.metadata), meta);
  assert.deepEqual(r.preview, PNG);
  assert.equal(previewType(r.preview), 'png');
  assert.equal(r.header.cipher, 2);
  assert.equal(r.header.wraps.length, 2);
  // The header alone (as the server's GET /api/v1/images gives it) unlocks the sections.
  const header = await readHeader(sealed);
  const u = await unlock(header, alice);
  assert.deepEqual(parseMetadata(u.metadata), meta);
  u.wipe();
});

test('input and ciphertext in odd pieces give the same result', async () => {
  const pt = pattern('odd', 3 * CHUNK_PT + 12345);
  const whole = await readAll(await seal(pt, { recipients: [aliceR], signer: alice }));
  const sealed = await readAll(await seal(pieces(pt, [1, 7, 65537, 3, 100000]), { recipients: [aliceR], signer: alice }));
  assert.equal(sealed.length, whole.length);
  for (const sizes of [[997], [5, 65551, 65553, 2], [CHUNK_CT], [CHUNK_CT + 64]]) {
    const r = await openBytes(pieces(sealed, sizes), { identity: alice });
    assert.equal(sha256hex(r.plaintext), sha256hex(pt), `pieces ${sizes}`);
  }
  // A ReadableStream source works too.
  const r = await openBytes(new Blob([sealed]).stream(), { identity: alice });
  assert.equal(sha256hex(r.plaintext), sha256hex(pt));
});

test('the final chunk is withheld until the signature verified', async () => {
  const pt = pattern('withheld', 2 * CHUNK_PT + 500);
  const sealed = await readAll(await seal(pt, { recipients: [aliceR], signer: alice }));
  const bad = sealed.slice();
  bad[bad.length - 1] ^= 1; // the signature's last byte
  const r = await open(bad, { identity: alice });
  const reader = r.plaintext.getReader();
  let released = 0;
  await assert.rejects(
    (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        released += value.length;
      }
    })(),
    (e) => e instanceof McError && e.kind === Kind.SIGNATURE,
  );
  assert.equal(released, 2 * CHUNK_PT, 'the two verified full chunks only');
  await rejectsWith(r.done, Kind.SIGNATURE);
});

test('a truncated stream errors the plaintext stream with a payload failure', async () => {
  const sealed = await readAll(await seal(pattern('trunc', 2 * CHUNK_PT), { recipients: [aliceR] }));
  for (const cut of [1, 16, CHUNK_CT, CHUNK_CT + 1]) {
    await rejectsWith(openBytes(sealed.subarray(0, sealed.length - cut), { identity: alice }), Kind.PAYLOAD);
  }
  await rejectsWith(openBytes(new Uint8Array([...sealed, 0]), { identity: alice }), Kind.PAYLOAD);
});

test('trust: another signer or an unsigned file is refused before any chunk', async () => {
  const signed = await readAll(await seal(pattern('t', 10), { recipients: [aliceR], signer: alice }));
  const unsigned = await readAll(await seal(pattern('t', 10), { recipients: [aliceR] }));
  await rejectsWith(open(signed, { identity: alice, trustedSigners: [pssSigner.signing.spki] }), Kind.SIGNATURE);
  await rejectsWith(open(unsigned, { identity: alice, trustedSigners: [alice.signing] }), Kind.SIGNATURE);
  assert.ok(await openBytes(signed, { identity: alice, trustedSigners: [pssSigner.signing, alice.signing.spki] }));
});

test('blob and detached wraps: share without re-encrypting, as the server stores it', async () => {
  const pt = pattern('share', CHUNK_PT + 5);
  const sealed = await readAll(await seal(pt, { recipients: [aliceR], signer: alice, metadata: { a: 1 } }));
  const header = await readHeader(sealed);
  const payload = sealed.subarray(header.length);
  const aliceWrap = header.detachedWrap(0);
  assert.equal(aliceWrap.length, 35 + 384);

  // Alice makes bob's wrap from her own, from the header alone.
  const u = await unlock(header, alice);
  const bobWrap = await u.wrapFor(bobR);
  u.wipe();

  // The blob: wrap_count 0. Nobody opens it without a wrap.
  assert.ok(header.removeRecipient(aliceR.fingerprint));
  assert.equal(header.removeRecipient(aliceR.fingerprint), false);
  const blob = new Uint8Array([...header.encode(), ...payload]);
  assert.equal(blob.length, sealed.length - aliceWrap.length);
  await rejectsWith(open(blob, { identity: alice }), Kind.NO_MATCH);
  for (const [who, wrap] of [[alice, aliceWrap], [bob, bobWrap]]) {
    const r = await openBytes(blob, { identity: who, wraps: [wrap] });
    assert.equal(sha256hex(r.plaintext), sha256hex(pt));
  }
  // The same wrap twice, trailing bytes, a truncated wrap: header failures.
  await rejectsWith(open(blob, { identity: bob, wraps: [bobWrap, bobWrap] }), Kind.HEADER);
  await rejectsWith(open(blob, { identity: bob, wraps: [new Uint8Array([...bobWrap, 0])] }), Kind.HEADER);
  await rejectsWith(open(blob, { identity: bob, wraps: [bobWrap.subarray(0, 100)] }), Kind.HEADER);
  // A wrap of another file's key for bob: the header MAC catches it ([MC-WRAP-6]).
  const other = await readHeader(await readAll(await seal(pt, { recipients: [bobR] })));
  await rejectsWith(open(blob, { identity: bob, wraps: [other.detachedWrap(0)] }), Kind.MAC);

  // addRecipient rewrites only the header; the signature still verifies.
  const h2 = await readHeader(sealed);
  const u2 = await unlock(h2, alice);
  await u2.addRecipient(bobR);
  await rejectsWith(u2.addRecipient(bobR), Kind.MISUSE);
  u2.wipe();
  const reshared = new Uint8Array([...h2.encode(), ...payload]);
  const r = await openBytes(reshared, { identity: bob, trustedSigners: [alice.signing] });
  assert.equal(sha256hex(r.plaintext), sha256hex(pt));
  assert.deepEqual(parseMetadata(r.metadata), { a: 1 });
});

test('the writer refuses what the spec forbids', async () => {
  const weak = publicKeyFile(join(VECTOR_KEYS, 'weak2048.pub'));
  await rejectsWith(seal(new Uint8Array(1), { recipients: [] }), Kind.MISUSE);
  await rejectsWith(seal(new Uint8Array(1), { recipients: [aliceR, aliceR] }), Kind.MISUSE);
  await rejectsWith(seal(new Uint8Array(1), { recipients: [weak] }), Kind.KEY); // [MC-WRAP-3]
  await rejectsWith(seal(new Uint8Array(1), { recipients: [aliceR], cipher: 'des' }), Kind.MISUSE);
  await rejectsWith(seal(new Uint8Array(1), { recipients: [aliceR], metadata: [1, 2] }), Kind.MISUSE);
  await rejectsWith(seal(new Uint8Array(1), { recipients: [aliceR], metadata: new TextEncoder().encode('"x"') }), Kind.MISUSE);
  await rejectsWith(seal(new Uint8Array(1), { recipients: [aliceR], metadata: { p: 'a'.repeat(1 << 20) } }), Kind.MISUSE);
  await rejectsWith(seal(new Uint8Array(1), { recipients: [aliceR], preview: new Uint8Array(100) }), Kind.MISUSE);
  await rejectsWith(seal(new Uint8Array(1), { recipients: [aliceR], signer: bob }), Kind.MISUSE); // no signing key
  // The 1 MiB limit is inclusive.
  const big = new TextEncoder().encode(`{"p":"${'a'.repeat((1 << 20) - 8)}"}`);
  assert.equal(big.length, 1 << 20);
  const r = await openBytes(await readAll(await seal(new Uint8Array(1), { recipients: [aliceR], metadata: big })), { identity: alice });
  assert.equal(r.metadata.length, 1 << 20);
});

test('identities: halves that differ, small RSA keys, non-extractable private keys', async () => {
  const der = (name) => pemFile(join(VECTOR_KEYS, name), 'PRIVATE KEY')[0];
  const bobPub = publicKeyFile(join(VECTOR_KEYS, 'bob.pub'));
  await rejectsWith(importIdentity({ encryptionKey: der('alice.key'), encryptionPublicKey: bobPub }), Kind.KEY);
  await rejectsWith(importIdentity({ encryptionKey: der('weak2048.key') }), Kind.KEY);
  await rejectsWith(importIdentity({ encryptionKey: der('signer_ed25519.key') }), Kind.KEY);
  await rejectsWith(importIdentity({ signingKey: der('signer_ed25519.key') }), Kind.MISUSE); // no public half
  await rejectsWith(
    importIdentity({ signingKey: der('signer_ed25519.key'), signingPublicKey: publicKeyFile(join(VECTOR_KEYS, 'signer_pss.pub')) }),
    Kind.KEY,
  );
  await rejectsWith(importRecipient(publicKeyFile(join(VECTOR_KEYS, 'signer_ed25519.pub'))), Kind.KEY);
  assert.equal(alice.encryption.privateKey.extractable, false);
  assert.equal(alice.signing.privateKey.extractable, false);
  assert.equal(pssSigner.signing.privateKey.extractable, false);
  await assert.rejects(globalThis.crypto.subtle.exportKey('pkcs8', alice.encryption.privateKey));
  assert.equal(toHex(alice.signing.fingerprint), sha256hex(publicKeyFile(join(VECTOR_KEYS, 'signer_ed25519.pub'))));
});

test('a 1 GiB plaintext streams through seal and open in bounded memory', async () => {
  const total = 1 << 30;
  const block = pattern('gib', 1 << 20);
  async function* source() {
    for (let off = 0; off < total; off += block.length) {
      const b = block.slice();
      b[0] = off / block.length; // every MiB differs
      yield b;
    }
  }
  const want = createHash('sha256');
  for await (const b of source()) want.update(b);
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const sealed = await seal(source(), { recipients: [aliceR], signer: alice, cipher: 'aes' });
  const r = await open(sealed, { identity: alice, trustedSigners: [alice.signing] });
  const got = createHash('sha256');
  let n = 0;
  for await (const p of r.plaintext) {
    got.update(p);
    if ((n += p.length) % (64 << 20) === 0) peak = Math.max(peak, process.memoryUsage().rss);
  }
  const info = await r.done;
  assert.equal(info.plaintextLength, total);
  assert.equal(info.chunks, total / CHUNK_PT);
  assert.equal(got.digest('hex'), want.digest('hex'));
  assert.ok(peak - rss0 < 256 << 20, `memory grew by ${((peak - rss0) / 2 ** 20).toFixed(0)} MiB while streaming 1 GiB`);
});
