/**
 * interop.test.js: the JavaScript container against the C command-line tool. Files sealed by
 * `medcrypt seal` (both ciphers; unsigned, Ed25519 and RSA-PSS; 0, 1, 65535, 65536, 65537 and
 * 5,000,000 bytes; --meta and --preview-file) are opened by the JavaScript with identical
 * plaintext, and files sealed by the JavaScript are opened by `medcrypt open` and checked by
 * `medcrypt verify`; sharing works both ways. The identities come from `medcrypt keygen`.
 *
 * MEDCRYPT_BIN must name the medcrypt binary (tests/run-all sets it to BUILD/src/medcrypt/medcrypt);
 * without it every test here fails.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { Kind, McError, importRecipient, openBytes, parseMetadata, readAll, readHeader, seal, toHex, unlock } from '../src/container/index.js';
import { cliIdentity, pattern, pemFile, sha256hex } from './helpers.js';

const BIN = process.env.MEDCRYPT_BIN ? resolve(process.env.MEDCRYPT_BIN) : undefined; // the tests run medcrypt in a temporary directory
const PASSPHRASE = 'violet harbour copper lantern 47 web';
const SIZES = [0, 1, 65535, 65536, 65537, 5_000_000];
const CIPHERS = ['chacha20', 'aes'];
const SIGNERS = ['unsigned', 'alice', 'lab']; // alice signs with Ed25519, lab with RSA-PSS
const EXIT = { header: 4, unsupported: 5, 'no match': 6, mac: 7, payload: 8, signature: 9 };
// A 1x1 grey PNG (what medcrypt preview would make, in small).
const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b550000000a4944415478da63f80f00010101' +
    '00d6d6a5a10000000049454e44ae426082',
  'hex',
);

let dir;
const ids = {}; // name -> JS identity
const recipients = {}; // name -> JS recipient key
const signingSpki = {};

/** Runs medcrypt; resolves to {code, stdout, stderr} (never rejects on a non-zero exit). */
function medcrypt(...args) {
  return new Promise((resolve, reject) => {
    execFile(BIN, args, { cwd: dir, env: { ...process.env, MEDCRYPT_PASSPHRASE: PASSPHRASE }, maxBuffer: 1 << 26 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') reject(err);
      else resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

async function medcryptOk(...args) {
  const r = await medcrypt(...args);
  assert.equal(r.code, 0, `medcrypt ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

/** Runs the jobs at most two at a time (the CI machine has two cores). */
async function twoAtATime(jobs) {
  const queue = [...jobs];
  const lane = async () => {
    while (queue.length) await queue.shift()();
  };
  await Promise.all([lane(), lane()]);
}

const input = (size) => pattern(`interop-${size}`, size);

before(async () => {
  assert.ok(BIN, 'MEDCRYPT_BIN is not set: it must name the medcrypt binary (e.g. build/src/medcrypt/medcrypt)');
  await access(BIN, constants.X_OK).catch(() => assert.fail(`MEDCRYPT_BIN=${BIN} is not an executable file`));
  dir = await mkdtemp(join(tmpdir(), 'medcrypt-web-'));
  await twoAtATime([
    () => medcryptOk('keygen', '-o', 'alice'),
    () => medcryptOk('keygen', '-o', 'bob'),
    () => medcryptOk('keygen', '-o', 'lab', '--sign', 'rsa-pss'),
  ]);
  for (const name of ['alice', 'bob', 'lab']) {
    ids[name] = await cliIdentity(join(dir, `${name}.key`), PASSPHRASE);
    const [enc, sign] = pemFile(join(dir, `${name}.pub`), 'PUBLIC KEY');
    recipients[name] = await importRecipient(enc);
    signingSpki[name] = sign;
  }
  for (const size of SIZES) await writeFile(join(dir, `in-${size}`), input(size));
  await writeFile(join(dir, 'meta.json'), JSON.stringify({ PatientID: 'WEB-0001', Modality: 'CT', Note: 'Thörax' }));
  await writeFile(join(dir, 'preview.png'), PNG);
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('fingerprints agree with `medcrypt fingerprint`', async () => {
  for (const name of ['alice', 'bob', 'lab']) {
    const { stdout } = await medcryptOk('fingerprint', '--json', `${name}.pub`);
    const fps = JSON.stringify(JSON.parse(stdout));
    assert.ok(fps.includes(toHex(ids[name].encryption.fingerprint)), `${name}: encryption fingerprint not in ${fps}`);
    assert.ok(fps.includes(toHex(ids[name].signing.fingerprint)), `${name}: signing fingerprint not in ${fps}`);
    assert.equal(toHex(recipients[name].fingerprint), toHex(ids[name].encryption.fingerprint));
  }
  assert.equal(ids.alice.signing.sigAlg, 1);
  assert.equal(ids.lab.signing.sigAlg, 2);
});

for (const cipher of CIPHERS) {
  for (const signer of SIGNERS) {
    test(`medcrypt seal → JS open: ${cipher}, ${signer}, sizes ${SIZES.join(', ')}`, async () => {
      const out = `c-${cipher}-${signer}`;
      await mkdir(join(dir, out));
      const sign = signer === 'unsigned' ? [] : ['--sign', `${signer}.key`];
      await medcryptOk('seal', '-r', 'alice.pub', '-r', 'bob.pub', ...sign, '--cipher', cipher, '-o', out, ...SIZES.map((s) => `in-${s}`));
      for (const size of SIZES) {
        const sealed = await readFile(join(dir, out, `in-${size}.medcrypt`));
        const trust = signer === 'unsigned' ? [] : [signingSpki[signer]];
        const r = await openBytes(sealed, { identity: ids.alice, trustedSigners: trust });
        assert.equal(sha256hex(r.plaintext), sha256hex(input(size)), `size ${size}`);
        assert.equal(r.header.cipher, cipher === 'aes' ? 2 : 1);
        assert.equal(r.signer && toHex(r.signer), signer === 'unsigned' ? null : toHex(ids[signer].signing.fingerprint));
        assert.equal(r.metadata, null);
        if (size === 65537) {
          // bob, from the blob and his detached wrap, as a browser gets them from the server
          const header = await readHeader(sealed);
          const i = header.wraps.findIndex((w) => toHex(w.recipient) === toHex(recipients.bob.fingerprint));
          const wrap = header.detachedWrap(i);
          while (header.wraps.length) header.removeRecipient(header.wraps[0].recipient);
          const blob = Buffer.concat([header.encode(), sealed.subarray(header.length)]);
          const rb = await openBytes(blob, { identity: ids.bob, wraps: [wrap], trustedSigners: trust });
          assert.equal(sha256hex(rb.plaintext), sha256hex(input(size)));
          // and a flipped bit in the last chunk is a payload failure
          const bad = Buffer.from(sealed);
          bad[sealed.length - (signer === 'unsigned' ? 0 : signer === 'alice' ? 64 : 384) - 3] ^= 4;
          await assert.rejects(openBytes(bad, { identity: ids.alice }), (e) => e instanceof McError && e.kind === Kind.PAYLOAD);
        }
      }
    });
  }
  test(`medcrypt seal --meta --preview-file → JS open: ${cipher}`, async () => {
    const out = `c-${cipher}-meta`;
    await mkdir(join(dir, out));
    await medcryptOk('seal', '-r', 'alice.pub', '--sign', 'alice.key', '--cipher', cipher, '--meta', 'meta.json',
      '--preview-file', 'preview.png', '-o', out, 'in-65537');
    const sealed = await readFile(join(dir, out, 'in-65537.medcrypt'));
    const r = await openBytes(sealed, { identity: ids.alice, trustedSigners: [signingSpki.alice] });
    assert.equal(sha256hex(r.plaintext), sha256hex(input(65537)));
    assert.deepEqual(parseMetadata(r.metadata), JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')));
    assert.deepEqual(Buffer.from(r.preview), PNG);
    // an untrusted signer is a signature failure
    await assert.rejects(openBytes(sealed, { identity: ids.alice, trustedSigners: [signingSpki.lab] }),
      (e) => e instanceof McError && e.kind === Kind.SIGNATURE);
  });
}

for (const cipher of CIPHERS) {
  for (const signer of SIGNERS) {
    test(`JS seal → medcrypt open: ${cipher}, ${signer}, sizes ${SIZES.join(', ')}`, async () => {
      const jobs = SIZES.map((size) => async () => {
        const name = `j-${cipher}-${signer}-${size}`;
        const stream = await seal(input(size), {
          recipients: [recipients.alice, recipients.bob],
          signer: signer === 'unsigned' ? null : ids[signer],
          cipher,
        });
        await writeFile(join(dir, `${name}.medcrypt`), await readAll(stream));
        const trust = signer === 'unsigned' ? [] : ['--trust', `${signer}.pub`];
        const { stdout } = await medcryptOk('open', '-k', 'alice.key', ...trust, '--json', '-o', `${name}.out`, `${name}.medcrypt`);
        const info = JSON.parse(stdout);
        assert.equal(sha256hex(await readFile(join(dir, `${name}.out`))), sha256hex(input(size)), `size ${size}`);
        assert.equal(info.plaintext_bytes, size);
        assert.equal(info.signed, signer !== 'unsigned');
        if (signer !== 'unsigned') assert.equal(info.signer, toHex(ids[signer].signing.fingerprint));
      });
      await twoAtATime(jobs);
    });
  }
  test(`JS seal with metadata and preview → medcrypt open --meta-out --preview-out, verify: ${cipher}`, async () => {
    const name = `j-${cipher}-meta`;
    const meta = { PatientID: 'WEB-0002', StudyDate: '20260101', Note: 'Thörax — ü' };
    const stream = await seal(input(65537), { recipients: [recipients.bob], signer: ids.lab, cipher, metadata: meta, preview: PNG });
    await writeFile(join(dir, `${name}.medcrypt`), await readAll(stream));
    await medcryptOk('open', '-k', 'bob.key', '--trust', 'lab.pub', '--meta-out', `${name}.json`, '--preview-out', `${name}.png`,
      '-o', `${name}.out`, `${name}.medcrypt`);
    assert.equal(sha256hex(await readFile(join(dir, `${name}.out`))), sha256hex(input(65537)));
    assert.deepEqual(JSON.parse(await readFile(join(dir, `${name}.json`), 'utf8')), meta);
    assert.deepEqual(await readFile(join(dir, `${name}.png`)), PNG);
    await medcryptOk('verify', '--trust', 'lab.pub', `${name}.medcrypt`);
    // the C reader's failure classes for JS files: untrusted signer, altered chunk, altered header
    assert.equal((await medcrypt('verify', '--trust', 'alice.pub', `${name}.medcrypt`)).code, EXIT.signature);
    const sealed = await readFile(join(dir, `${name}.medcrypt`));
    const header = await readHeader(sealed);
    const chunk = Buffer.from(sealed);
    chunk[header.length + 100] ^= 1;
    await writeFile(join(dir, `${name}-chunk.medcrypt`), chunk);
    assert.equal((await medcrypt('open', '-k', 'bob.key', '-o', `${name}-chunk.out`, `${name}-chunk.medcrypt`)).code, EXIT.payload);
    const mac = Buffer.from(sealed);
    mac[header.length - 1] ^= 1;
    await writeFile(join(dir, `${name}-mac.medcrypt`), mac);
    assert.equal((await medcrypt('open', '-k', 'bob.key', '-o', `${name}-mac.out`, `${name}-mac.medcrypt`)).code, EXIT.mac);
    assert.equal((await medcrypt('open', '-k', 'alice.key', '-o', `${name}-alice.out`, `${name}.medcrypt`)).code, EXIT['no match']);
  });
}

test('sharing both ways: a JS wrap opens in C, a `medcrypt share` wrap opens in JS', async () => {
  // JS: alice shares her file with bob from the header alone; the payload is copied as is.
  const sealed = await readAll(await seal(input(65536), { recipients: [recipients.alice], signer: ids.alice }));
  const header = await readHeader(sealed);
  const unlocked = await unlock(header, ids.alice);
  const wrap = await unlocked.addRecipient(recipients.bob);
  unlocked.wipe();
  assert.equal(wrap.length, 35 + 384);
  await writeFile(join(dir, 'js-shared.medcrypt'), Buffer.concat([header.encode(), sealed.subarray(header.length)]));
  await medcryptOk('open', '-k', 'bob.key', '--trust', 'alice.pub', '-o', 'js-shared.out', 'js-shared.medcrypt');
  assert.equal(sha256hex(await readFile(join(dir, 'js-shared.out'))), sha256hex(input(65536)));

  // C: alice shares a file sealed by the JS (to her only) with lab.
  await writeFile(join(dir, 'js-only-alice.medcrypt'), sealed);
  await medcryptOk('share', '-k', 'alice.key', '-r', 'lab.pub', '-o', 'c-shared.medcrypt', 'js-only-alice.medcrypt');
  const r = await openBytes(await readFile(join(dir, 'c-shared.medcrypt')), { identity: ids.lab, trustedSigners: [signingSpki.alice] });
  assert.equal(sha256hex(r.plaintext), sha256hex(input(65536)));
});
