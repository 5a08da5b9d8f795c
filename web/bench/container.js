/**
 * bench/container.js: seal and open throughput of the JavaScript container in node, on one
 * in-memory buffer (64 MiB by default; MiB as the first argument), for both ciphers, unsigned and
 * Ed25519-signed. Each case runs three times after a warm-up; prints the best MB/s (10^6 bytes per
 * second) and the median. Run: node bench/container.js [MiB]
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { importIdentity, importRecipient, open, pemBlocks, seal } from '../src/container/index.js';
import { REPO } from '../test/helpers.js';

const mib = Number(process.argv[2] ?? 64);
const keys = join(REPO, 'tests', 'vectors', 'keys');
const pem = (name, label) => pemBlocks(readFileSync(join(keys, name), 'latin1')).find((b) => b.label === label).der;
const identity = await importIdentity({
  encryptionKey: pem('alice.key', 'PRIVATE KEY'),
  signingKey: pem('signer_ed25519.key', 'PRIVATE KEY'),
  signingPublicKey: pem('signer_ed25519.pub', 'PUBLIC KEY'),
});
const recipient = await importRecipient(pem('alice.pub', 'PUBLIC KEY'));
const plaintext = new Uint8Array(mib * 1024 * 1024);
for (let off = 0; off < plaintext.length; off += 65536) globalThis.crypto.getRandomValues(plaintext.subarray(off, off + 65536));
const want = createHash('sha256').update(plaintext).digest('hex');

async function drain(stream) {
  const parts = [];
  for await (const p of stream) parts.push(p);
  return Buffer.concat(parts);
}

const mbps = (ms) => plaintext.length / 1e6 / (ms / 1000);
const fmt = (runs) => {
  const sorted = [...runs].sort((a, b) => b - a);
  return `${sorted[0].toFixed(0)} MB/s (median ${sorted[1].toFixed(0)})`;
};

async function once(cipher, signed) {
  let t = performance.now();
  const sealed = await drain(await seal(plaintext, { recipients: [recipient], cipher, signer: signed ? identity : null }));
  const sealMs = performance.now() - t;
  t = performance.now();
  const opened = await drain((await open(sealed, { identity })).plaintext);
  const openMs = performance.now() - t;
  if (createHash('sha256').update(opened).digest('hex') !== want) throw new Error('round trip differs');
  return [mbps(sealMs), mbps(openMs)];
}

console.log(`node ${process.version}, ${mib} MiB plaintext`);
for (const cipher of ['chacha20', 'aes']) await once(cipher, true); // warm-up
for (const cipher of ['chacha20', 'aes']) {
  for (const signed of [false, true]) {
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await once(cipher, signed));
    console.log(`${cipher.padEnd(8)} ${(signed ? 'Ed25519' : 'unsigned').padEnd(8)}: seal ${fmt(runs.map((r) => r[0]))}, open ${fmt(runs.map((r) => r[1]))}`);
  }
}
