/**
 * redact.test.js: region encryption in JavaScript (src/redact, docs/FORMAT.md §13) against the C
 * command-line tool. PNGs made here (8-bit RGB, RGBA, 16-bit grey, an 8-bit palette with tRNS,
 * an Adam7-interlaced grey; every PNG filter type used) and native DICOM files (16-bit signed
 * multi-frame explicit VR, 8-bit implicit VR, 8-bit RGB with planar configuration 0 and 1) are:
 *
 *   - redacted by the JavaScript and restored by `medcrypt restore` (PNG: the original samples;
 *     DICOM: the original file byte for byte), the side data signed and --trust checked;
 *   - redacted by `medcrypt redact` and restored by the JavaScript, the same way;
 *   - refused by both when the side data or the image was altered after redaction, for another
 *     key, another signer, a region outside the image, an image redacted twice or never,
 *     compressed DICOM and JPEG.
 *
 * The §13.7 worked example is checked byte for byte. The keys are tests/vectors/keys (not
 * passphrase-protected). MEDCRYPT_BIN must name the medcrypt binary (tests/run-all sets it, in
 * the web-container suite); without it the interop tests fail.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { decode as decodePng, encode as encodePng } from 'fast-png';
import { Kind, McError, importIdentity, openBytes, toHex } from '../src/container/index.js';
import { hasRegions, parseEnvelope, pngChunks, redact, redactDicom, redactPng, restore, walkDicom } from '../src/redact/index.js';
import { VECTOR_KEYS, crc32, pemFile, publicKeyFile, pngChunk, sha256hex, vectorIdentity } from './helpers.js';

const BIN = process.env.MEDCRYPT_BIN ? resolve(process.env.MEDCRYPT_BIN) : undefined;
const EXIT = { misuse: 2, header: 4, unsupported: 5, 'no match': 6, payload: 8, signature: 9 };
const K = (name) => join(VECTOR_KEYS, name);

let dir;
let alice; // encryption (alice.key) + signing (signer_ed25519.key): the JS sender
let bob;
let carol;
let aliceSpki;
let bobSpki;
let signerSpki;
let pssSpki;

/** Runs medcrypt in the temporary directory; resolves to {code, stdout, stderr}. */
function medcrypt(...args) {
  return new Promise((res, rej) => {
    execFile(BIN, args, { cwd: dir, env: { ...process.env, MEDCRYPT_PASSPHRASE: 'unused' }, maxBuffer: 1 << 26 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') rej(err);
      else res({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}
async function medcryptOk(...args) {
  const r = await medcrypt(...args);
  assert.equal(r.code, 0, `medcrypt ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}
async function medcryptFails(code, what, ...args) {
  const r = await medcrypt(...args);
  assert.equal(r.code, code, `${what}: medcrypt ${args.join(' ')} exited ${r.code}, expected ${code}: ${r.stderr}`);
  return r;
}

/** Rejects with an McError of this kind (and, optionally, a message matching re). */
async function rejectsKind(promise, kind, re) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof McError, `not an McError: ${e?.stack ?? e}`);
    assert.equal(e.kind, kind, `kind ${e.kind} (${e.message}), expected ${kind}`);
    if (re) assert.match(e.message, re);
    return true;
  });
}

/* ---- PNG fixtures ---- */

const SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Rows of samples filtered with filter type (row mod 5): None, Sub, Up, Average, Paeth. */
function filterRows(samples, rowBytes, bpp) {
  const rows = samples.length / rowBytes;
  const out = Buffer.alloc(rows * (rowBytes + 1));
  for (let y = 0; y < rows; y++) {
    const type = y % 5;
    out[y * (rowBytes + 1)] = type;
    for (let i = 0; i < rowBytes; i++) {
      const x = samples[y * rowBytes + i];
      const a = i >= bpp ? samples[y * rowBytes + i - bpp] : 0;
      const b = y > 0 ? samples[(y - 1) * rowBytes + i] : 0;
      const c = y > 0 && i >= bpp ? samples[(y - 1) * rowBytes + i - bpp] : 0;
      const p = a + b - c;
      const pa = Math.abs(p - a);
      const pb = Math.abs(p - b);
      const pc = Math.abs(p - c);
      const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      const pred = [0, a, b, (a + b) >> 1, paeth][type];
      out[y * (rowBytes + 1) + 1 + i] = (x - pred) & 0xff;
    }
  }
  return out;
}

/** A PNG and its samples (the PNG's own format: 16-bit big endian, palette indices). */
function makePng({ w, h, colorType, depth, seed, palette = null, extra = [] }) {
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType];
  const bpp = (channels * depth) / 8;
  const samples = Buffer.alloc(w * h * bpp);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let s = 0; s < bpp; s++) {
        const v = (x * 7 + y * 13 + s * 29 + seed * 31 + ((x * y) % 11)) & 0xff;
        samples[(y * w + x) * bpp + s] = colorType === 3 ? v % (palette.length / 3) : v;
      }
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([depth, colorType, 0, 0, 0], 8);
  const idat = deflateSync(filterRows(samples, w * bpp, bpp));
  const half = Math.floor(idat.length / 2); // two IDATs
  const png = Buffer.concat([
    SIG, pngChunk('IHDR', ihdr),
    pngChunk('tEXt', Buffer.from('Comment\0region test fixture', 'latin1')),
    palette ? pngChunk('PLTE', palette) : Buffer.alloc(0),
    ...extra.map(([t, d]) => pngChunk(t, d)),
    pngChunk('IDAT', idat.subarray(0, half)), pngChunk('IDAT', idat.subarray(half)),
    pngChunk('IEND', Buffer.alloc(0)),
    Buffer.from('trailing bytes are ignored'),
  ]);
  return { png: new Uint8Array(png), samples: new Uint8Array(samples), w, h, bpp, colorType, depth };
}

/** A PNG's decoded samples in its own format (independent of src/redact's conversion). */
function samplesOf(png) {
  const d = decodePng(png);
  if (d.depth !== 16) return new Uint8Array(d.data);
  const out = new Uint8Array(d.data.length * 2);
  for (let i = 0; i < d.data.length; i++) {
    out[2 * i] = d.data[i] >> 8;
    out[2 * i + 1] = d.data[i] & 0xff;
  }
  return out;
}

const PALETTE = Buffer.from([...Array(16)].flatMap((_, i) => [40 + i * 10, 200 - i * 9, 90 + (i % 4) * 30]));
const FIXTURES = {
  rgb8: makePng({ w: 61, h: 47, colorType: 2, depth: 8, seed: 1 }),
  rgba8: makePng({ w: 50, h: 40, colorType: 6, depth: 8, seed: 2, extra: [['pHYs', Buffer.from([0, 0, 11, 19, 0, 0, 11, 19, 1])]] }),
  grey16: makePng({ w: 45, h: 33, colorType: 0, depth: 16, seed: 3 }),
  palette8: makePng({ w: 48, h: 36, colorType: 3, depth: 8, seed: 4, palette: PALETTE,
    extra: [['tRNS', Buffer.from([255, 128, 0])], ['hIST', Buffer.alloc(32, 1)]] }),
};
{
  // Adam7-interlaced 8-bit grey, as fast-png writes it (and a tIME, copied byte for byte)
  const w = 37;
  const h = 29;
  const data = new Uint8Array(w * h).map((_, i) => (i * 37) & 0xff);
  const enc = encodePng({ width: w, height: h, data, depth: 8, channels: 1 }, { interlace: 'Adam7' });
  const chunks = pngChunks(enc);
  const png = Buffer.concat([SIG, ...chunks.map((c) => Buffer.from(enc.subarray(c.start, c.end)))
    .flatMap((b, i) => (i === 0 ? [b, pngChunk('tIME', Buffer.from([7, 232, 3, 1, 10, 15, 30]))] : [b]))]);
  FIXTURES.adam7 = { png: new Uint8Array(png), samples: data, w, h, bpp: 1, colorType: 0, depth: 8 };
}
const REGIONS = [{ x: 3, y: 4, w: 20, h: 12 }, { x: 15, y: 10, w: 16, h: 14 }]; // overlapping

/** Whether pixel (x, y) is inside any region. */
const inside = (regions, x, y) => regions.some((g) => x >= g.x && x < g.x + g.w && y >= g.y && y < g.y + g.h);

/** The samples outside the regions are unchanged; inside, black ones are black (alpha opaque). */
function checkHidden(f, redactedSamples, fill) {
  let changed = 0;
  for (let y = 0; y < f.h; y++) {
    for (let x = 0; x < f.w; x++) {
      const at = (y * f.w + x) * f.bpp;
      const px = redactedSamples.subarray(at, at + f.bpp);
      const orig = f.samples.subarray(at, at + f.bpp);
      if (!inside(REGIONS, x, y)) {
        assert.deepEqual(px, orig, `pixel ${x},${y} outside the regions changed`);
        continue;
      }
      if (px.some((v, i) => v !== orig[i])) changed++;
      if (fill !== 'black') continue;
      const sb = f.depth / 8;
      const alpha = f.colorType === 4 || f.colorType === 6;
      const colour = alpha ? px.subarray(0, f.bpp - sb) : px;
      if (f.colorType === 3) assert.equal(px[0], 0, 'the darkest palette entry (index 0 here)');
      else assert.ok(colour.every((v) => v === 0), `pixel ${x},${y} is not black`);
      if (alpha) assert.ok(px.subarray(f.bpp - sb).every((v) => v === 255), 'alpha at its maximum');
    }
  }
  assert.ok(changed > 200, `only ${changed} hidden pixels changed`);
}

/* ---- DICOM fixtures (the element writer of tests/cli/redact_test.sh's mkdcm.py) ---- */

function dcmElement(g, e, vr, value, explicit) {
  let v = Buffer.from(value);
  if (v.length % 2) v = Buffer.concat([v, Buffer.from([vr === 'UI' || vr === 'OB' ? 0 : 0x20])]);
  if (!explicit) {
    const head = Buffer.alloc(8);
    head.writeUInt16LE(g, 0);
    head.writeUInt16LE(e, 2);
    head.writeUInt32LE(v.length, 4);
    return Buffer.concat([head, v]);
  }
  const long = ['OB', 'OW', 'SQ', 'UN', 'UT'].includes(vr);
  const head = Buffer.alloc(long ? 12 : 8);
  head.writeUInt16LE(g, 0);
  head.writeUInt16LE(e, 2);
  head.write(vr, 4, 'latin1');
  if (long) head.writeUInt32LE(v.length, 8);
  else head.writeUInt16LE(v.length, 6);
  return Buffer.concat([head, v]);
}
const us = (n) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};

/** A Part 10 file: rows x cols, bits 8 or 16, spp samples, frames, (ex|im)plicit VR, planar. */
function makeDicom({ rows, cols, bits, spp = 1, frames = 1, explicit = true, planar = 0, pi = 'MONOCHROME2', pixrep = 0, seed = 1 }) {
  const x = explicit;
  const meta = Buffer.concat([
    dcmElement(2, 1, 'OB', Buffer.from([0, 1]), true),
    dcmElement(2, 2, 'UI', '1.2.840.10008.5.1.4.1.1.7', true),
    dcmElement(2, 3, 'UI', `1.2.826.0.1.3680043.2.1143.${seed}`, true),
    dcmElement(2, 0x10, 'UI', x ? '1.2.840.10008.1.2.1' : '1.2.840.10008.1.2', true),
  ]);
  const parts = [
    dcmElement(8, 0x16, 'UI', '1.2.840.10008.5.1.4.1.1.7', x), dcmElement(8, 0x18, 'UI', `1.2.826.0.1.3680043.2.1143.${seed}`, x),
    dcmElement(0x10, 0x10, 'PN', 'Test^Fake', x), dcmElement(0x10, 0x20, 'LO', 'FAKE-0001', x),
    dcmElement(0x28, 2, 'US', us(spp), x), dcmElement(0x28, 4, 'CS', pi, x),
  ];
  if (spp === 3) parts.push(dcmElement(0x28, 6, 'US', us(planar), x));
  if (frames > 1) parts.push(dcmElement(0x28, 8, 'IS', String(frames), x));
  parts.push(dcmElement(0x28, 0x10, 'US', us(rows), x), dcmElement(0x28, 0x11, 'US', us(cols), x), dcmElement(0x28, 0x100, 'US', us(bits), x),
    dcmElement(0x28, 0x101, 'US', us(bits === 8 ? 8 : 12), x), dcmElement(0x28, 0x102, 'US', us(bits === 8 ? 7 : 11), x),
    dcmElement(0x28, 0x103, 'US', us(pixrep), x));
  const n = rows * cols * spp * frames;
  const px = Buffer.alloc(n * (bits / 8));
  for (let i = 0; i < n; i++) {
    const v = (i * 2654435761 + seed * 97) >>> 0;
    if (bits === 8) px[i] = v & 0xff;
    else px.writeUInt16LE(v % 4096, 2 * i);
  }
  parts.push(dcmElement(0x7fe0, 0x10, bits === 8 ? 'OB' : 'OW', px, x));
  const group = Buffer.alloc(4);
  group.writeUInt32LE(meta.length);
  return new Uint8Array(Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), dcmElement(2, 0, 'UL', group, true), meta, ...parts]));
}

const DICOMS = {
  d16: makeDicom({ rows: 30, cols: 44, bits: 16, frames: 3, explicit: true, pixrep: 1, seed: 2 }),
  d8: makeDicom({ rows: 40, cols: 50, bits: 8, explicit: false, seed: 3 }),
  drgb0: makeDicom({ rows: 20, cols: 36, bits: 8, spp: 3, frames: 2, explicit: true, planar: 0, pi: 'RGB', seed: 4 }),
  drgb1: makeDicom({ rows: 20, cols: 36, bits: 8, spp: 3, explicit: false, planar: 1, pi: 'RGB', seed: 5 }),
};
const DREGIONS = [{ x: 2, y: 3, w: 12, h: 8 }, { x: 10, y: 10, w: 9, h: 9 }];

/** A redacted DICOM without its two private elements (what [MC-RGN-5]'s redacted digest covers). */
function withoutPrivateBlock(file) {
  let start = -1;
  let end = -1;
  walkDicom(file, {
    element: (el) => {
      if (el.depth !== 0 || el.group !== 0x7fd1) return;
      if (el.element === 0x0010) start = el.offset;
      else end = el.valueOffset + el.length;
    },
  });
  assert.ok(start > 0 && end > start, 'the private block is there');
  return Buffer.concat([file.subarray(0, start), file.subarray(end)]);
}

before(async () => {
  assert.ok(BIN, 'MEDCRYPT_BIN is not set: it must name the medcrypt binary (e.g. build/src/medcrypt/medcrypt)');
  await access(BIN, constants.X_OK).catch(() => assert.fail(`MEDCRYPT_BIN=${BIN} is not an executable file`));
  dir = await mkdtemp(join(tmpdir(), 'medcrypt-web-redact-'));
  const der = (name) => pemFile(K(name), 'PRIVATE KEY')[0];
  alice = await importIdentity({
    encryptionKey: der('alice.key'),
    signingKey: der('signer_ed25519.key'),
    signingPublicKey: publicKeyFile(K('signer_ed25519.pub')),
  });
  bob = await vectorIdentity('bob.key');
  carol = await vectorIdentity('carol4096.key');
  aliceSpki = publicKeyFile(K('alice.pub'));
  bobSpki = publicKeyFile(K('bob.pub'));
  signerSpki = publicKeyFile(K('signer_ed25519.pub'));
  pssSpki = publicKeyFile(K('signer_pss.pub'));
  for (const [name, f] of Object.entries(FIXTURES)) await writeFile(join(dir, `${name}.png`), f.png);
  for (const [name, d] of Object.entries(DICOMS)) await writeFile(join(dir, `${name}.dcm`), d);
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the §13.7 worked example: the record sealed in the mcRG chunk, byte for byte', async () => {
  const w = 4;
  const h = 2;
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) for (let i = 0; i < w * 3; i++) raw[y * (w * 3 + 1) + 1 + i] = y * w * 3 + i;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const png = new Uint8Array(Buffer.concat([SIG, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', Buffer.alloc(0))]));
  const { image } = await redactPng(png, { regions: [{ x: 1, y: 0, w: 2, h: 1 }], recipients: [aliceSpki] });
  const chunks = pngChunks(image);
  assert.deepEqual(chunks.map((c) => c.type), ['IHDR', 'IDAT', 'mcRG', 'IEND'], '[MC-RGN-3] mcRG immediately before IEND');
  const side = chunks[2].data;
  assert.equal(toHex(side.subarray(0, 8)), '4d43524701010000', 'the envelope: MCRG, version 1, PNG, reserved 0');
  const { plaintext, signer } = await openBytes(parseEnvelope(side, 1), { identity: alice });
  assert.equal(signer, null, 'no signer given: unsigned');
  assert.equal(toHex(plaintext), '4d435244010101010000000400000002020800000000000100000000000000020000000' +
    '11d64add2a6388367c9bc2d1f1b384b069a6ef382cdaaa89771dd103e28613a2524586a642475ddc3852a56d45177d50f996983fc6098e1180a23a4a88f1cc4ac030405060708');
  assert.equal(plaintext.length, 106);
});

for (const [name, f] of Object.entries(FIXTURES)) {
  test(`PNG ${name}: JS redact → medcrypt restore gives the original samples (black, pixelate, noise)`, async () => {
    for (const fill of ['black', 'pixelate', 'noise']) {
      const { image, info } = await redact(f.png, { regions: REGIONS, fill, recipients: [aliceSpki, bobSpki], signer: alice });
      assert.equal(info.kind, 'png');
      assert.equal(info.sealedLength > 0, true);
      const types = pngChunks(image).map((c) => c.type);
      assert.equal(types.at(-2), 'mcRG');
      if (name !== 'adam7') assert.ok(types.includes('tEXt'), '[MC-RGN-11] tEXt copied');
      assert.ok(!types.includes('hIST'), '[MC-RGN-11] hIST dropped');
      if (name === 'palette8') assert.ok(types.includes('PLTE') && types.includes('tRNS'));
      if (name === 'adam7') assert.ok(types.includes('tIME'));
      assert.equal(image[8 + 8 + 12], 0, 'written non-interlaced');
      assert.equal(image[8 + 8 + 9], f.colorType, 'the colour type is kept');
      assert.equal(image[8 + 8 + 8], f.depth, 'the bit depth is kept');
      checkHidden(f, samplesOf(image), fill);
      assert.ok(hasRegions(image) && !hasRegions(f.png));
      const red = `${name}-${fill}.js.png`;
      await writeFile(join(dir, red), image);
      const r = await medcryptOk('restore', '-k', K('bob.key'), '--trust', K('signer_ed25519.pub'), '-o', `${red}.back.png`, red);
      assert.match(r.stderr, /good signature by [0-9a-f]{64} \(trusted\)/);
      const back = await readFile(join(dir, `${red}.back.png`));
      assert.deepEqual(samplesOf(back), f.samples, `${name} ${fill}: the CLI restored other samples`);
      assert.ok(!pngChunks(back).some((c) => c.type === 'mcRG'), 'restored: no mcRG');
    }
  });

  test(`PNG ${name}: medcrypt redact → JS restore gives the original samples`, async () => {
    for (const fill of ['black', 'pixelate']) {
      const red = `${name}-${fill}.cli.png`;
      await medcryptOk('redact', '--region', '3,4,20,12', '--region', '15,10,16,14', '--fill', fill, '-r', K('alice.pub'), '-r', K('bob.pub'),
        '-k', K('signer_ed25519.key'), '-o', red, `${name}.png`);
      const redacted = new Uint8Array(await readFile(join(dir, red)));
      checkHidden(f, samplesOf(redacted), fill);
      const { image, info } = await restore(redacted, { identity: bob, trustedSigners: [signerSpki] });
      assert.deepEqual(samplesOf(image), f.samples);
      assert.equal(toHex(info.signer), toHex(alice.signing.fingerprint), 'the signer is reported');
      assert.deepEqual(info.regions, REGIONS);
      // the JS reads the CLI's output with its own key, too
      const mine = await restore(redacted, { identity: alice });
      assert.deepEqual(samplesOf(mine.image), f.samples);
    }
  });
}

test('PNG: altered side data, altered pixels, another key, another signer: refused by both', async () => {
  const f = FIXTURES.rgb8;
  const { image } = await redact(f.png, { regions: REGIONS, recipients: [aliceSpki], signer: alice });
  const mc = pngChunks(image).find((c) => c.type === 'mcRG');
  // a bit flipped inside the sealed container: the chunk's CRC fails (header)...
  const crc = Buffer.from(image);
  crc[mc.end - 4 - 64 - 30] ^= 1; // in the last chunk, before the 64-byte Ed25519 signature
  await rejectsKind(restore(new Uint8Array(crc), { identity: alice }), Kind.HEADER, /CRC/);
  await writeFile(join(dir, 'crc.png'), crc);
  await medcryptFails(EXIT.header, 'mcRG CRC', 'restore', '-k', K('alice.key'), '-o', 'x.png', 'crc.png');
  // ...and with the CRC fixed, the container fails to open (payload)
  const fixed = Buffer.from(crc);
  fixed.writeUInt32BE(crc32(fixed.subarray(mc.start + 4, mc.end - 4)), mc.end - 4);
  await rejectsKind(restore(new Uint8Array(fixed), { identity: alice }), Kind.PAYLOAD);
  await writeFile(join(dir, 'fixed.png'), fixed);
  await medcryptFails(EXIT.payload, 'altered container', 'restore', '-k', K('alice.key'), '-o', 'x.png', 'fixed.png');
  // one pixel outside the regions changed, the sealed data carried over: [MC-RGN-9]
  const samples = samplesOf(image);
  samples[(40 * f.w + 55) * 3] ^= 0x80;
  const reencoded = encodePng({ width: f.w, height: f.h, data: samples, depth: 8, channels: 3 });
  const rc = pngChunks(reencoded);
  const altered = new Uint8Array(Buffer.concat([Buffer.from(reencoded.subarray(0, rc.at(-1).start)), Buffer.from(image.subarray(mc.start, mc.end)),
    Buffer.from(reencoded.subarray(rc.at(-1).start))]));
  await rejectsKind(restore(altered, { identity: alice }), Kind.PAYLOAD, /altered after it was redacted/);
  await writeFile(join(dir, 'altered.png'), altered);
  await medcryptFails(EXIT.payload, 'pixels altered', 'restore', '-k', K('alice.key'), '-o', 'x.png', 'altered.png');
  // another key, another signer
  await writeFile(join(dir, 'good.png'), image);
  await rejectsKind(restore(image, { identity: carol }), Kind.NO_MATCH);
  await medcryptFails(EXIT['no match'], 'another key', 'restore', '-k', K('carol4096.key'), '-o', 'x.png', 'good.png');
  await rejectsKind(restore(image, { identity: alice, trustedSigners: [pssSpki] }), Kind.SIGNATURE);
  await medcryptFails(EXIT.signature, 'another signer', 'restore', '-k', K('alice.key'), '--trust', K('signer_pss.pub'), '-o', 'x.png', 'good.png');
  // the CLI's output tampered the same way is refused by the JS
  await medcryptOk('redact', '--region', '0,0,10,10', '-r', K('alice.pub'), '-o', 'cli.png', 'rgb8.png');
  const cli = Buffer.from(await readFile(join(dir, 'cli.png')));
  const cmc = pngChunks(new Uint8Array(cli)).find((c) => c.type === 'mcRG');
  cli[cmc.end - 4 - 40] ^= 1;
  await rejectsKind(restore(new Uint8Array(cli), { identity: alice }), Kind.HEADER, /CRC/);
  cli.writeUInt32BE(crc32(cli.subarray(cmc.start + 4, cmc.end - 4)), cmc.end - 4);
  await rejectsKind(restore(new Uint8Array(cli), { identity: alice }), Kind.PAYLOAD);
  await rejectsKind(restore(new Uint8Array(await readFile(join(dir, 'cli.png'))), { identity: bob }), Kind.NO_MATCH);
});

test('PNG: regions outside or empty, too many, twice, never redacted, other depths, JPEG: refused by both', async () => {
  const png = FIXTURES.rgb8.png;
  const opts = { recipients: [aliceSpki] };
  await rejectsKind(redact(png, { ...opts, regions: [{ x: 50, y: 40, w: 12, h: 2 }] }), Kind.MISUSE, /region 1 \(50,40,12,2\) is not inside the 61x47 image/);
  await medcryptFails(EXIT.misuse, 'outside', 'redact', '--region', '50,40,12,2', '-r', K('alice.pub'), '-o', 'x.png', 'rgb8.png');
  await rejectsKind(redact(png, { ...opts, regions: [{ x: 0, y: 0, w: 1, h: 1 }, { x: 3, y: 3, w: 0, h: 4 }] }), Kind.MISUSE, /region 2 .* is empty/);
  await medcryptFails(EXIT.misuse, 'empty', 'redact', '--region', '3,3,0,4', '-r', K('alice.pub'), '-o', 'x.png', 'rgb8.png');
  await rejectsKind(redact(png, { ...opts, regions: Array.from({ length: 65 }, () => ({ x: 0, y: 0, w: 1, h: 1 })) }), Kind.MISUSE, /at most 64/);
  await rejectsKind(redact(png, { ...opts, regions: [] }), Kind.MISUSE);
  await rejectsKind(redact(png, { ...opts, regions: [{ x: 0, y: 0, w: 1, h: 1 }], fill: 'blur' }), Kind.MISUSE);
  const { image } = await redact(png, { ...opts, regions: [{ x: 0, y: 0, w: 1, h: 1 }] });
  await rejectsKind(redact(image, { ...opts, regions: [{ x: 0, y: 0, w: 1, h: 1 }] }), Kind.UNSUPPORTED, /already carries sealed regions/);
  await writeFile(join(dir, 'once.png'), image);
  await medcryptFails(EXIT.unsupported, 'twice', 'redact', '--region', '0,0,1,1', '-r', K('alice.pub'), '-o', 'x.png', 'once.png');
  await rejectsKind(restore(png, { identity: alice }), Kind.HEADER, /no mcRG/);
  // an mcRG chunk twice
  const mc = pngChunks(image).find((c) => c.type === 'mcRG');
  const twice = new Uint8Array(Buffer.concat([Buffer.from(image.subarray(0, mc.end)), Buffer.from(image.subarray(mc.start))]));
  await rejectsKind(restore(twice, { identity: alice }), Kind.HEADER, /more than one mcRG/);
  // a 1-bit image, a truncated one, an unknown critical chunk
  const ihdr = Buffer.from([0, 0, 0, 8, 0, 0, 0, 8, 1, 0, 0, 0, 0]);
  const mono = new Uint8Array(Buffer.concat([SIG, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(Buffer.alloc(16))), pngChunk('IEND', Buffer.alloc(0))]));
  await rejectsKind(redact(mono, { ...opts, regions: [{ x: 0, y: 0, w: 1, h: 1 }] }), Kind.UNSUPPORTED, /bit depth 1/);
  await rejectsKind(redact(png.subarray(0, 200), { ...opts, regions: [{ x: 0, y: 0, w: 1, h: 1 }] }), Kind.HEADER, /past the end of the file/);
  const crit = new Uint8Array(Buffer.concat([Buffer.from(png.subarray(0, 33)), pngChunk('ABCD', Buffer.alloc(2)), Buffer.from(png.subarray(33))]));
  await rejectsKind(redact(crit, { ...opts, regions: [{ x: 0, y: 0, w: 1, h: 1 }] }), Kind.UNSUPPORTED, /ABCD chunk/);
  // JPEG: the command-line tool's job
  const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16]);
  await rejectsKind(redact(jpeg, { ...opts, regions: [{ x: 0, y: 0, w: 1, h: 1 }] }), Kind.UNSUPPORTED, /medcrypt redact/);
  await rejectsKind(redact(new TextEncoder().encode('not an image at all'), { ...opts, regions: [{ x: 0, y: 0, w: 1, h: 1 }] }), Kind.UNSUPPORTED, /neither PNG, JPEG nor DICOM/);
});

for (const [name, file] of Object.entries(DICOMS)) {
  test(`DICOM ${name}: JS redact → medcrypt restore is the original byte for byte, and the other way round`, async () => {
    for (const fill of ['black', 'pixelate', 'noise']) {
      const { image, info } = await redact(file, { regions: DREGIONS, fill, recipients: [aliceSpki, bobSpki], signer: alice });
      assert.equal(info.kind, 'dicom');
      const red = `${name}-${fill}.js.dcm`;
      await writeFile(join(dir, red), image);
      const r = await medcryptOk('restore', '-k', K('bob.key'), '--trust', K('signer_ed25519.pub'), '-o', `${red}.back.dcm`, red);
      assert.match(r.stderr, /good signature/);
      assert.equal(sha256hex(await readFile(join(dir, `${red}.back.dcm`))), sha256hex(file), `${name} ${fill}: not the original`);
      // the CLI's redaction of the same file, same regions
      const cred = `${name}-${fill}.cli.dcm`;
      await medcryptOk('redact', '--region', '2,3,12,8', '--region', '10,10,9,9', '--fill', fill, '-r', K('alice.pub'), '-k', K('signer_ed25519.key'), '-o', cred, `${name}.dcm`);
      const cliRedacted = new Uint8Array(await readFile(join(dir, cred)));
      const back = await restore(cliRedacted, { identity: alice, trustedSigners: [signerSpki] });
      assert.equal(sha256hex(back.image), sha256hex(file), `${name} ${fill}: the JS restored something else`);
      assert.equal(toHex(back.info.signer), toHex(alice.signing.fingerprint));
      const mine = withoutPrivateBlock(image);
      const theirs = withoutPrivateBlock(cliRedacted);
      assert.equal(mine.length, file.length, 'only the private block was added');
      if (fill !== 'noise') {
        assert.equal(sha256hex(mine), sha256hex(theirs), `${name} ${fill}: the JS and the CLI hide the regions alike`);
        // and the block sits where the CLI puts it
        assert.equal(Buffer.from(image).indexOf('MEDCRYPT REGIONS'), Buffer.from(cliRedacted).indexOf('MEDCRYPT REGIONS'));
      }
    }
  });
}

test('DICOM: black is the lowest stored value; refusals agree with the CLI', async () => {
  const { image } = await redactDicom(DICOMS.d16, { regions: DREGIONS, recipients: [aliceSpki] });
  const plain = withoutPrivateBlock(image);
  // d16: signed, 12 bits stored: -2048, sign-extended into 16 bits (0xF800), in all 3 frames
  const pixelStart = plain.length - 30 * 44 * 3 * 2;
  for (const f of [0, 2]) assert.equal(plain.readUInt16LE(pixelStart + ((f * 30 + 5) * 44 + 4) * 2), 0xf800);
  await writeFile(join(dir, 'd16.red.dcm'), image);
  // an attribute changed after redaction: payload, both
  const renamed = Buffer.from(image);
  renamed.set(Buffer.from('FAKE-0009'), renamed.indexOf('FAKE-0001'));
  await rejectsKind(restore(new Uint8Array(renamed), { identity: alice }), Kind.PAYLOAD, /altered after it was redacted/);
  await writeFile(join(dir, 'renamed.dcm'), renamed);
  await medcryptFails(EXIT.payload, 'attribute altered', 'restore', '-k', K('alice.key'), '-o', 'x.dcm', 'renamed.dcm');
  // a bit flipped in the side data: payload (the container's AEAD)
  const flipped = Buffer.from(image);
  const value = flipped.indexOf('MEDCRYPT REGIONS') + 16 + 12; // (7FD1,1001) OB: tag, VR, 0, length
  flipped[value + 4 + flipped.readUInt32BE(value) - 30] ^= 1; // in the last chunk (unsigned)
  await rejectsKind(restore(new Uint8Array(flipped), { identity: alice }), Kind.PAYLOAD);
  await writeFile(join(dir, 'flipped.dcm'), flipped);
  await medcryptFails(EXIT.payload, 'side data altered', 'restore', '-k', K('alice.key'), '-o', 'x.dcm', 'flipped.dcm');
  await rejectsKind(restore(image, { identity: bob }), Kind.NO_MATCH);
  await medcryptFails(EXIT['no match'], 'another key', 'restore', '-k', K('bob.key'), '-o', 'x.dcm', 'd16.red.dcm');
  await rejectsKind(redact(image, { regions: [{ x: 0, y: 0, w: 1, h: 1 }], recipients: [aliceSpki] }), Kind.UNSUPPORTED, /already carries sealed regions/);
  await rejectsKind(restore(DICOMS.d8, { identity: alice }), Kind.HEADER, /no sealed regions/);
  await medcryptFails(EXIT.header, 'never redacted', 'restore', '-k', K('alice.key'), '-o', 'x.dcm', 'd8.dcm');
  await rejectsKind(redact(DICOMS.d8, { regions: [{ x: 0, y: 0, w: 51, h: 1 }], recipients: [aliceSpki] }), Kind.MISUSE, /not inside the 50x40 image/);
  await medcryptFails(EXIT.misuse, 'outside', 'redact', '--region', '0,0,51,1', '-r', K('alice.pub'), '-o', 'x.dcm', 'd8.dcm');
  // encapsulated (JPEG baseline transfer syntax, one fragment): a clear refusal
  const enc = Buffer.from(DICOMS.d8);
  const tsAt = enc.indexOf('1.2.840.10008.1.2\0');
  const meta = Buffer.concat([
    dcmElement(2, 1, 'OB', Buffer.from([0, 1]), true), dcmElement(2, 2, 'UI', '1.2.840.10008.5.1.4.1.1.7', true),
    dcmElement(2, 3, 'UI', '1.2.826.0.1.3680043.2.1143.9', true), dcmElement(2, 0x10, 'UI', '1.2.840.10008.1.2.4.50', true)]);
  const group = Buffer.alloc(4);
  group.writeUInt32LE(meta.length);
  const pixelHead = Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x42, 0, 0, 0xff, 0xff, 0xff, 0xff]);
  const item = (bytes) => {
    const h = Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0, 0, 0, 0]);
    h.writeUInt32LE(bytes.length, 4);
    return Buffer.concat([h, bytes]);
  };
  const compressed = new Uint8Array(Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), dcmElement(2, 0, 'UL', group, true), meta,
    dcmElement(0x28, 2, 'US', us(1), true), dcmElement(0x28, 0x10, 'US', us(8), true), dcmElement(0x28, 0x11, 'US', us(8), true),
    dcmElement(0x28, 0x100, 'US', us(8), true), pixelHead, item(Buffer.alloc(0)), item(Buffer.from([0xff, 0xd8, 0xff, 0xd9])),
    Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0])]));
  assert.ok(tsAt > 0);
  await rejectsKind(redact(compressed, { regions: [{ x: 0, y: 0, w: 1, h: 1 }], recipients: [aliceSpki] }), Kind.UNSUPPORTED, /1\.2\.840\.10008\.1\.2\.4\.50 is not supported.*decompress/);
  await writeFile(join(dir, 'compressed.dcm'), compressed);
  await medcryptFails(EXIT.unsupported, 'compressed', 'redact', '--region', '0,0,1,1', '-r', K('alice.pub'), '-o', 'x.dcm', 'compressed.dcm');
  // truncated
  await rejectsKind(redact(DICOMS.d8.subarray(0, DICOMS.d8.length - 100), { regions: [{ x: 0, y: 0, w: 1, h: 1 }], recipients: [aliceSpki] }), Kind.HEADER, /truncated/);
});
