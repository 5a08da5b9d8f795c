/**
 * vectors.test.js: every vector of tests/vectors/ (docs/FORMAT.md §12) opened by the JavaScript
 * container code, with the class it expects: success with the plaintext's and the metadata's
 * SHA-256, or exactly the failure class (McError.kind). Also the worked example of §12.1, value
 * by value, and the fingerprints of the vector keys.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { EXPECT_KIND, McError, fingerprint, importRecipient, openBytes, toHex } from '../src/container/index.js';
import { CIPHER_AES_256_GCM, CIPHER_CHACHA20_POLY1305, chunkNonce } from '../src/container/format.js';
import { KeySchedule } from '../src/container/keyschedule.js';
import { REPO, VECTORS, VECTOR_KEYS, publicKeyFile, readVector, sha256hex, vectorIdentity } from './helpers.js';

const names = readdirSync(VECTORS).filter((n) => n.endsWith('.vec')).sort();
const identities = new Map();
const identity = (name) => {
  if (!identities.has(name)) identities.set(name, vectorIdentity(name));
  return identities.get(name);
};

test('the vector directory holds the scenarios', () => {
  assert.ok(names.length >= 120, `only ${names.length} vectors in ${VECTORS}`);
});

for (const name of names) {
  test(`vector ${name}`, async () => {
    const { head, data } = readVector(join(VECTORS, name));
    const expect = head.expect;
    assert.ok(expect === 'success' || EXPECT_KIND[expect], `unknown expect ${expect}`);
    const options = { identity: await identity(head.identity) };
    if (head.trust) options.trustedSigners = [publicKeyFile(join(VECTOR_KEYS, head.trust))];
    let got;
    try {
      got = await openBytes(data, options);
    } catch (e) {
      if (!(e instanceof McError)) throw e;
      assert.equal(e.kind, EXPECT_KIND[expect], `${head.comment}: expected ${expect}, got ${e.kind}: ${e.message}`);
      return;
    }
    assert.equal(expect, 'success', `${head.comment}: expected ${expect}, but it opened`);
    assert.equal(sha256hex(got.plaintext), head.payload, 'plaintext hash');
    assert.equal(got.metadata === null ? undefined : sha256hex(got.metadata), head.metadata, 'metadata hash');
  });
}

test('FORMAT.md §12.1: the key schedule and one chunk, value by value', async () => {
  const md = readFileSync(join(REPO, 'docs', 'FORMAT.md'), 'utf8');
  const block = md.split('### 12.1')[1].split('```')[1];
  const values = {};
  let cipher = 0;
  for (const line of block.split('\n')) {
    const m = line.match(/^(\w+)\s*=\s*([0-9a-f]+)/);
    const c = line.match(/^cipher (\d)/);
    if (c) cipher = Number(c[1]);
    else if (m) values[cipher ? `${m[1]}_${cipher}` : m[1]] = Buffer.from(m[2], 'hex');
  }
  assert.ok(values.file_key && values.chunk_0_2, 'the worked example was not found in FORMAT.md');
  for (const c of [CIPHER_CHACHA20_POLY1305, CIPHER_AES_256_GCM]) {
    const ks = await KeySchedule.create(values.file_key, values.file_id, c);
    for (const [label, key] of [['header', 'K_header'], ['payload', 'K_payload'], ['metadata', 'K_meta'], ['preview', 'K_preview']]) {
      assert.equal(toHex(await ks.raw(label)), values[`${key}_${c}`].toString('hex'), `${key}, cipher ${c}`);
    }
    assert.equal(toHex(chunkNonce(0, true)), values[`nonce_0_${c}`].toString('hex'));
    const aead = await ks.aead('payload');
    assert.equal(toHex(await aead.seal(chunkNonce(0, true), values.plaintext)), values[`chunk_0_${c}`].toString('hex'), `chunk_0, cipher ${c}`);
  }
});

test('fingerprints: SHA-256 of the SPKI, the same from the public and the private key', async () => {
  for (const name of ['alice', 'bob', 'carol4096']) {
    const spki = publicKeyFile(join(VECTOR_KEYS, `${name}.pub`));
    const want = sha256hex(spki);
    assert.equal(toHex(await fingerprint(spki)), want);
    assert.equal(toHex((await importRecipient(spki)).fingerprint), want);
    assert.equal(toHex((await identity(`${name}.key`)).encryption.fingerprint), want);
  }
});
