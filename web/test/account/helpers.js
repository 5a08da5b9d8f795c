/**
 * helpers.js: what the account tests share: the C client's §13 vectors read from
 * tests/unit/test_account.c (one source for both implementations; account_vectors.py computed
 * them with the argon2 tool and python3-cryptography), and an in-memory storage for memory.js.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../helpers.js';

/** The byte arrays, the salt, the C strings of test_account.c: `{bytes: {name: Uint8Array}, weak: [...], strong}`. */
export function cVectors() {
  const src = readFileSync(join(REPO, 'tests', 'unit', 'test_account.c'), 'utf8');
  const bytes = {};
  for (const m of src.matchAll(/static const uint8_t (\w+)\[(\d+)\] = \{([^}]*)\};/g)) {
    const values = m[3].split(',').map((x) => Number.parseInt(x.trim(), 16));
    if (values.length !== Number(m[2])) throw new Error(`${m[1]}: ${values.length} values, declared ${m[2]}`);
    bytes[m[1]] = Uint8Array.from(values);
  }
  const salt = /static const uint8_t SALT\[16\] = "([^"]{16})";/.exec(src);
  if (!salt) throw new Error('no SALT in test_account.c');
  bytes.SALT = new TextEncoder().encode(salt[1]);
  const weak = /const char \*weak\[\] = \{([^}]*)\};/.exec(src);
  const strong = /const char \*strong = "([^"]*)";/.exec(src);
  if (!weak || !strong) throw new Error('no password policy lists in test_account.c');
  return { bytes, weak: [...weak[1].matchAll(/"([^"]*)"/g)].map((m) => m[1]), strong: strong[1] };
}

/** A memory.js storage over a Map (what a browser does over localStorage). */
export function mapStorage() {
  const map = new Map();
  return { get: (k) => map.get(k), set: (k, v) => void map.set(k, v), map };
}
