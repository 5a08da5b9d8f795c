/**
 * offload.test.js: seal() with `offload`, ChaCha20-Poly1305 chunks sealed by "helper threads"
 * (src/worker/chacha-pool.js in the browser). Here the pool is a stand-in with the same contract
 * that answers batches late and out of order and moves (detaches) the plaintext buffers it is
 * given, as postMessage with a transfer list does: the container must still write a file that
 * opens, byte for byte, in JavaScript and in `medcrypt open`, never hand the pool a buffer the
 * input still uses, and wipe the pool's key copies. Then the real ChaChaPool with stand-in
 * workers: helpers that never load, or die halfway through a file, must not stall the seal (the
 * pool seals on the calling thread instead, the batches they held included).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { importRecipient, openBytes, readAll, seal } from '../src/container/index.js';
import { ChaChaPool } from '../src/worker/chacha-pool.js';
import { CHUNK_PT } from '../src/container/format.js';
import { VECTOR_KEYS, pattern, publicKeyFile, sha256hex, vectorIdentity } from './helpers.js';

let alice;
let aliceR;
before(async () => {
  alice = await vectorIdentity('alice.key');
  aliceR = await importRecipient(publicKeyFile(join(VECTOR_KEYS, 'alice.pub')));
});

/** A pool with the contract of ChaChaPool, its batches answered after random delays. */
function fakePool(size) {
  const keys = [];
  const pool = {
    size,
    batches: 0,
    keys,
    async open(key) {
      const copy = structuredClone(key); // what postMessage does
      keys.push(copy);
      let closed = false;
      return {
        sealBatch: (items) => {
          if (closed) return Promise.reject(new Error('closed'));
          pool.batches++;
          // move the buffers, as a transfer list does: the caller's views go empty
          const moved = structuredClone(items, { transfer: items.map((it) => it.plaintext.buffer) });
          return new Promise((resolve) => setTimeout(() => {
            resolve(moved.map(({ nonce, plaintext }) => chacha20poly1305(copy, nonce).encrypt(plaintext)));
          }, Math.random() * 5));
        },
        close: () => {
          closed = true;
          copy.fill(0);
        },
      };
    },
  };
  return pool;
}

test('offloaded ChaCha20-Poly1305 seals open in JavaScript, for every size class', async () => {
  for (const size of [0, 1, CHUNK_PT - 1, CHUNK_PT, CHUNK_PT + 1, 16 * CHUNK_PT, 16 * CHUNK_PT + 1, 5_000_000]) {
    const pt = pattern(`off${size}`, size);
    const pool = fakePool(3);
    // the input in odd pieces, so chunks are views into pieces the reader still holds
    const pieces = [];
    for (let off = 0; off < size; off += 40_000) pieces.push(pt.slice(off, off + 40_000));
    const sealed = await readAll(await seal(pieces, { recipients: [aliceR], cipher: 'chacha20', offload: pool }));
    const r = await openBytes(sealed, { identity: alice });
    assert.equal(sha256hex(r.plaintext), sha256hex(pt), `size ${size}`);
    const chunks = Math.max(1, Math.ceil(size / CHUNK_PT));
    assert.equal(pool.batches, Math.ceil(chunks / 16), `size ${size}: batches of 16 chunks`);
    assert.ok(pool.keys.every((k) => k.every((b) => b === 0)), 'every helper\'s key copy is wiped at the end');
  }
});

test('offloaded seals open with medcrypt open', async () => {
  const bin = process.env.MEDCRYPT_BIN;
  assert.ok(bin, 'MEDCRYPT_BIN is not set: it must name the medcrypt binary (e.g. build/src/medcrypt/medcrypt)');
  const dir = mkdtempSync(join(tmpdir(), 'mc-offload-'));
  try {
    const pt = pattern('cli', 3 * 16 * CHUNK_PT + 12345);
    const signer = await vectorIdentity('signer_ed25519.key', 'signing');
    const sealed = await readAll(await seal(pt, { recipients: [aliceR], signer, cipher: 'chacha20', offload: fakePool(2) }));
    writeFileSync(join(dir, 'x.mcf'), sealed);
    execFileSync(bin, ['open', '-k', join(VECTOR_KEYS, 'alice.key'), '-o', join(dir, 'x.out'), join(dir, 'x.mcf')], { stdio: 'pipe' });
    assert.equal(sha256hex(readFileSync(join(dir, 'x.out'))), sha256hex(pt));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('AES-256-GCM ignores the pool; a failing pool fails the seal stream', async () => {
  const pool = fakePool(2);
  const pt = pattern('aes', 40 * CHUNK_PT);
  const sealed = await readAll(await seal(pt, { recipients: [aliceR], cipher: 'aes', offload: pool }));
  assert.equal(sha256hex((await openBytes(sealed, { identity: alice })).plaintext), sha256hex(pt));
  assert.equal(pool.batches, 0);
  const broken = {
    size: 2,
    open: async () => ({ sealBatch: () => Promise.reject(new Error('a sealing thread stopped')), close: () => {} }),
  };
  await assert.rejects(readAll(await seal(pt, { recipients: [aliceR], cipher: 'chacha20', offload: broken })), /a sealing thread stopped/);
});

/**
 * A stand-in for a Worker of src/worker/chacha.js: an EventTarget that answers `seal` messages as
 * the helper does, after a short delay, until it has answered `lives` of them (Infinity: always);
 * then it fires `error` (as a Worker whose script failed to load or that died) and answers nothing.
 */
function standInWorker(lives, counts) {
  return () => {
    const w = new EventTarget();
    const keys = new Map();
    let answered = 0;
    let dead = false;
    const die = () => {
      if (dead) return;
      dead = true;
      w.dispatchEvent(new Event('error'));
    };
    if (lives === 0) setTimeout(die, 1);
    w.terminate = () => { dead = true; };
    w.postMessage = (data) => {
      if (dead) return;
      if (data.type === 'key') keys.set(data.id, data.key);
      else if (data.type === 'forget') keys.delete(data.id);
      else if (data.type === 'seal') {
        if (answered >= lives) return void setTimeout(die, 2); // this batch is held, never answered
        answered++;
        counts.byHelpers++;
        const wires = data.items.map(({ nonce, plaintext }) => chacha20poly1305(keys.get(data.id), nonce).encrypt(plaintext));
        setTimeout(() => {
          if (dead) return;
          const ev = new Event('message');
          ev.data = { type: 'sealed', seq: data.seq, wires };
          w.dispatchEvent(ev);
        }, Math.random() * 3);
      }
    };
    return w;
  };
}

for (const [what, lives] of [['helpers that work', Infinity], ['helpers that never load', 0], ['helpers that die halfway', 3]]) {
  test(`ChaChaPool with ${what}: the seal completes and opens`, async () => {
    const counts = { byHelpers: 0 };
    const pool = new ChaChaPool(2, 'chacha-worker.js', standInWorker(lives, counts));
    const warn = console.warn;
    console.warn = () => {}; // the pool says once that it seals on this thread
    try {
      const pt = pattern(`pool-${lives}`, 8 * 16 * CHUNK_PT + 777); // 9 batches of up to 16 chunks
      const sealed = await readAll(await seal(pt, { recipients: [aliceR], cipher: 'chacha20', offload: pool }));
      assert.equal(sha256hex((await openBytes(sealed, { identity: alice })).plaintext), sha256hex(pt));
      if (lives === Infinity) {
        assert.equal(pool.fallback, null, 'working helpers are kept');
        assert.equal(counts.byHelpers, 9, 'every batch went to a helper');
      } else {
        assert.match(pool.fallback, /a sealing thread stopped/, 'the pool says why it seals here');
        assert.equal(counts.byHelpers, lives === 0 ? 0 : 2 * lives, 'the helpers sealed what they answered, no more');
        // and the next file, on the same pool, does not wait for helpers either
        const again = await readAll(await seal(pt.subarray(0, 3 * CHUNK_PT), { recipients: [aliceR], cipher: 'chacha20', offload: pool }));
        assert.equal(sha256hex((await openBytes(again, { identity: alice })).plaintext), sha256hex(pt.subarray(0, 3 * CHUNK_PT)));
      }
    } finally {
      console.warn = warn;
    }
  });
}
