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

// pieceSource: the same pieces as a tus-js-client source, the next one made while the current
// one is sent, and the current one kept for a PATCH sent again from the server's offset.
import { pieceSource } from '../src/worker/send.js';

function counted(values) {
  const r = readerOf(values);
  let reads = 0;
  return {
    read: () => {
      reads++;
      return r.read();
    },
    cancel: r.cancel,
    get reads() {
      return reads;
    },
    get cancelled() {
      return r.cancelled;
    },
  };
}

const bytes = (n) => Uint8Array.from({ length: n }, (_, k) => k & 0xff);
const flush = () => new Promise((r) => setTimeout(r, 0));

test('pieceSource hands out every byte in order, the next piece read ahead', async () => {
  const all = bytes(10);
  const r = counted([all.slice(0, 3), all.slice(3, 7), all.slice(7)]);
  const src = pieceSource(r, 4);
  await flush();
  assert.equal(r.reads, 2, 'the first piece is made before tus asks for it');
  assert.deepEqual(await src.slice(0, 4), { done: false, value: all.slice(0, 4) });
  await flush();
  assert.equal(r.reads, 3, 'the second piece is made while the first is sent');
  assert.deepEqual((await src.slice(4, 8)).value, all.slice(4, 8));
  assert.deepEqual((await src.slice(8, 12)).value, all.slice(8, 10));
  assert.deepEqual(await src.slice(10, 14), { done: true, value: null });
});

test('pieceSource resends from any offset inside the current piece', async () => {
  const all = bytes(12);
  const src = pieceSource(counted([all]), 4);
  await src.slice(0, 4);
  await src.slice(4, 8);
  // the PATCH of 4..8 broke after 2 bytes: the server holds 6, tus asks from there
  assert.deepEqual((await src.slice(6, 10)).value, all.slice(6, 8), 'the rest of the piece, no further');
  assert.deepEqual((await src.slice(8, 12)).value, all.slice(8, 12));
  await assert.rejects(src.slice(2, 6), /byte 2/, 'bytes of a piece already passed are gone');
  await assert.rejects(src.slice(16, 20), /byte 16/, 'a gap is refused');
});

test('pieceSource reports a failure of the seal stream when tus reaches it, and close cancels it', async () => {
  let n = 0;
  const failing = {
    read: async () => {
      if (n++ === 0) return { done: false, value: bytes(4) };
      throw new Error('MAC failure of the input');
    },
    cancel: async () => {},
  };
  const src = pieceSource(failing, 4);
  assert.equal((await src.slice(0, 4)).value.length, 4);
  await flush(); // the read ahead has failed by now: no unhandled rejection
  await assert.rejects(src.slice(4, 8), /MAC failure/);
  const r = counted([bytes(8)]);
  pieceSource(r, 4).close();
  await flush();
  assert.ok(r.cancelled);
});

// The server's refusals of an upload under the patient rules (issue 12) as sentences for the
// send page's item (src/send/refusal.js): each names who, and what to do.
import { refusal } from '../src/send/refusal.js';

test('refusals name the patient or the doctor and say what to do', () => {
  const ctx = { patient: 'pat', names: { pat: 'Jane Doe', doc2: 'Dr. Alan Turing', res: 'Rita Research' } };
  const cases = [
    [400, { error: 'patient_required' }, 'patient', /choose the patient/],
    [400, { error: 'unknown_patient', user: 'pat' }, 'patient', /Jane Doe \(pat\) is not an enabled patient account/],
    [400, { error: 'patient_not_recipient' }, 'patient', /Jane Doe \(pat\), must be one of the recipients/],
    [403, { error: 'not_appointed', user: 'doc2' }, 'appointment', /Dr\. Alan Turing \(doc2\) is not one of the doctors Jane Doe \(pat\) appointed: untick Dr\. Alan Turing \(doc2\)/],
    [403, { error: 'not_appointed', user: 'pat' }, 'appointment', /Jane Doe \(pat\) has not appointed you/],
    [403, { error: 'not_deidentified', user: 'res' }, 'researcher', /Rita Research \(res\) is a researcher: researchers receive only de-identified copies/],
    [403, { error: 'forbidden' }, 'forbidden', /refused their role/],
    [403, { error: 'csrf' }, 'session', /reload the page/],
    [401, null, 'session', /sign in again/],
    [500, { error: 'internal' }, 'server', /answered 500 \(internal\)/],
  ];
  for (const [status, body, reason, text] of cases) {
    const [r, sentence] = refusal(status, body, ctx);
    assert.equal(r, reason, `${status} ${body?.error}`);
    assert.match(sentence, text);
  }
  // without names: the usernames
  assert.match(refusal(403, { error: 'not_appointed', user: 'doc9' }, { patient: 'p1' })[1], /^doc9 is not one of the doctors p1 appointed/);
});

// The de-identification claim of a doctor's confirmed PNG/JPEG copy (src/send/claim.js), as the
// CLI's --confirm-deidentified makes it, and the JPEG region-encryption probe it uses.
import { jpegHasRegions, pictureClaim } from '../src/send/claim.js';

test('pictureClaim: sender confirmation, regions cleaned when the image carries them', () => {
  const now = new Date('2026-12-07T10:11:12.345Z');
  assert.deepEqual(pictureClaim({ now }), {
    profile: 'sender confirmation',
    checked: ['the sender confirmed that nothing in the image identifies the patient (on the send page)'],
    pixels: 'confirmed by sender',
    tool: 'medcrypt web client',
    time: '2026-12-07T10:11:12Z',
  });
  const withRegions = pictureClaim({ regions: true, now });
  assert.equal(withRegions.pixels, 'regions cleaned');
  assert.equal(withRegions.checked.length, 2);
  const app11 = (payload) => Uint8Array.of(0xff, 0xeb, 0, payload.length + 2, ...payload);
  const id = [...'medcrypt-region\0'].map((c) => c.charCodeAt(0));
  const jpeg = (...segments) => Uint8Array.of(0xff, 0xd8, ...segments.flatMap((s) => [...s]), 0xff, 0xda, 0, 2);
  assert.ok(jpegHasRegions(jpeg(app11([...id, 1, 2, 3]))));
  assert.ok(!jpegHasRegions(jpeg(app11([...'other-app11-data'].map((c) => c.charCodeAt(0))))));
  assert.ok(!jpegHasRegions(jpeg()));
});
