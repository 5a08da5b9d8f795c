/**
 * helpers.js: what the web tests share: where the repository's vectors and keys are, reading
 * PEM key files into identities (node:crypto decrypts passphrase-protected PKCS#8 here; the
 * library itself uses WebCrypto only), and the plaintext patterns the tests seal.
 */
import { createHash, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importIdentity, pemBlocks } from '../src/container/index.js';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const VECTORS = join(REPO, 'tests', 'vectors');
export const VECTOR_KEYS = join(VECTORS, 'keys');

/** SHA-256 hex of bytes (node:crypto: the check is independent of the library's WebCrypto). */
export function sha256hex(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The DER of every PEM block with this label in a file. */
export function pemFile(path, label) {
  return pemBlocks(readFileSync(path, 'latin1'))
    .filter((b) => b.label === label)
    .map((b) => b.der);
}

/** The one SPKI of a vector `.pub` (or the first of an identity `.pub`). */
export function publicKeyFile(path) {
  const [der] = pemFile(path, 'PUBLIC KEY');
  if (!der) throw new Error(`no PUBLIC KEY in ${path}`);
  return der;
}

/** An identity from an unencrypted PKCS#8 PEM (a vector key): its one key as encryption key, or as
 *  signing key when `as` is 'signing' (then the `.pub` beside it gives the public half). */
export async function vectorIdentity(name, as = 'encryption') {
  const [der] = pemFile(join(VECTOR_KEYS, name), 'PRIVATE KEY');
  if (as === 'encryption') return importIdentity({ encryptionKey: der });
  const pub = publicKeyFile(join(VECTOR_KEYS, name.replace(/\.key$/, '.pub')));
  return importIdentity({ signingKey: der, signingPublicKey: pub });
}

/**
 * The identity of a `medcrypt keygen` NAME.key ([MC-KEY-2]: two ENCRYPTED PRIVATE KEY blocks,
 * then the two PUBLIC KEY blocks): node:crypto decrypts the PKCS#8 with the passphrase, as
 * WebCrypto cannot; the library imports the plain PKCS#8 non-extractable and checks it against
 * the public blocks.
 */
export async function cliIdentity(path, passphrase) {
  const text = readFileSync(path, 'latin1');
  const blocks = text.match(/-----BEGIN ENCRYPTED PRIVATE KEY-----[\s\S]*?-----END ENCRYPTED PRIVATE KEY-----/g);
  if (!blocks || blocks.length !== 2) throw new Error(`${path} is not a medcrypt identity`);
  const [encPub, signPub] = pemFile(path, 'PUBLIC KEY');
  const plain = blocks.map((pem) => createPrivateKey({ key: pem, format: 'pem', passphrase }).export({ type: 'pkcs8', format: 'der' }));
  try {
    return await importIdentity({
      encryptionKey: plain[0],
      encryptionPublicKey: encPub,
      signingKey: plain[1],
      signingPublicKey: signPub,
    });
  } finally {
    for (const p of plain) p.fill(0);
  }
}

/** A deterministic plaintext of n bytes (SHA-256 in counter mode of a label). */
export function pattern(label, n) {
  const out = new Uint8Array(n);
  for (let off = 0, i = 0; off < n; off += 32, i++) {
    const h = createHash('sha256').update(`${label}:${i}`).digest();
    out.set(h.subarray(0, Math.min(32, n - off)), off);
  }
  return out;
}

/** Parses a vector file (FORMAT.md §12): `{head: {key: value}, data}`. */
export function readVector(path) {
  const file = readFileSync(path);
  const sep = file.indexOf('\n\n');
  if (sep < 0) throw new Error(`${path}: no empty line after the head`);
  const head = {};
  for (const line of file.subarray(0, sep).toString('utf8').split('\n')) {
    const i = line.indexOf(': ');
    if (i < 0) throw new Error(`${path}: bad head line ${line}`);
    head[line.slice(0, i)] = line.slice(i + 2);
  }
  return { head, data: new Uint8Array(file.buffer, file.byteOffset + sep + 2, file.length - sep - 2) };
}

/* ---- PNG chunks, for hand-made PNG fixtures (web/test/redact.test.js, e2e/) ---- */

const CRC = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 of buf (ISO 3309, as PNG uses it). */
export function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One PNG chunk: length, type, data (bytes), CRC. */
export function pngChunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, Buffer.from(data), crc]);
}
