// The worker's regrouping of the seal stream into whole tus PATCH pieces (src/worker/send.js
// wholePieces): every byte once, in order, pieces of exactly the PATCH size but the last.
import test from 'node:test';
import assert from 'node:assert/strict';
import { wholePieces } from '../src/worker/send.js';

function readerOf(values) {
  let i = 0;
  let cancelled = false;
  return {
    read: async () => (i < values.length ? { done: false, value: values[i++] } : { done: true, value: undefined }),
    cancel: async () => {
      cancelled = true;
    },
    get cancelled() {
      return cancelled;
    },
  };
}

async function drain(reader) {
  const out = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

test('pieces of the PATCH size, every byte once and in order', async () => {
  for (const [sizes, piece] of [
    [[10, 65552, 65552, 65552, 7], 65536],
    [[3, 3, 3], 4],
    [[1000], 100],
    [[100], 100],
    [[], 16],
    [[0, 5, 0, 5], 4],
  ]) {
    let n = 0;
    const values = sizes.map((len) => Uint8Array.from({ length: len }, () => n++ & 0xff));
    const pieces = await drain(wholePieces(readerOf(values), piece));
    const all = Uint8Array.from(pieces.flatMap((p) => [...p]));
    assert.deepEqual(all, Uint8Array.from({ length: n }, (_, k) => k & 0xff), `sizes ${sizes}`);
    pieces.slice(0, -1).forEach((p) => assert.equal(p.length, piece, `sizes ${sizes}`));
    if (pieces.length) assert.ok(pieces.at(-1).length > 0 && pieces.at(-1).length <= piece);
    assert.equal(pieces.length, Math.ceil(n / piece));
  }
});

test('cancel reaches the seal stream', async () => {
  const r = readerOf([new Uint8Array(8)]);
  await wholePieces(r, 4).cancel();
  assert.ok(r.cancelled);
});
