/**
 * memory.js: what the client remembers of each account's KDF, so a server cannot quietly
 * lower the work an offline guess at the password costs (docs/SECURITY.md, accounts). After a
 * successful login or registration the client records, per server origin and user name, the
 * Argon2id parameters and salt; at the next pre-login it refuses parameters weaker than those
 * (fewer passes `t` or less memory `m`) and a salt it has seen for another account (a server
 * that hands out one salt makes one precomputed dictionary serve every account).
 *
 * The storage is the caller's: anything with `get(key)` and `set(key, value)` over strings,
 * sync or async — a Map in tests, a thin wrapper over localStorage or IndexedDB in the browser.
 * Without one only the fixed bounds of kdf.js apply.
 */
import { AccountKind, refuse } from './errors.js';
import { b64encode } from './base64.js';

const kdfKey = (origin, username) => `medcrypt/v1 kdf ${origin} ${username}`;
const saltKey = (salt) => `medcrypt/v1 salt ${b64encode(salt)}`;

/**
 * Refuses (McError 'kdf') a pre-login answer for `username` at `origin` whose parameters are
 * weaker than the remembered ones, or whose salt was remembered for another account.
 */
export async function checkRemembered(storage, origin, username, salt, kdf) {
  if (!storage) return;
  const owner = await storage.get(saltKey(salt));
  if (owner != null && owner !== `${origin} ${username}`) {
    refuse(AccountKind.KDF, 'the server sent a salt that belongs to another account: refusing it');
  }
  const text = await storage.get(kdfKey(origin, username));
  if (text == null) return;
  let known;
  try {
    known = JSON.parse(text);
  } catch {
    return; // a damaged entry protects nothing; the next success rewrites it
  }
  if (kdf.t < known.t || kdf.m < known.m) {
    refuse(AccountKind.KDF, `the server asks for weaker Argon2id parameters than before (t=${kdf.t} m=${kdf.m} KiB, ` +
      `was t=${known.t} m=${known.m} KiB): refusing them`);
  }
}

/** Records the parameters and salt that just logged `username` in at `origin`. */
export async function remember(storage, origin, username, salt, kdf) {
  if (!storage) return;
  await storage.set(kdfKey(origin, username), JSON.stringify({ t: kdf.t, m: kdf.m, p: kdf.p, salt: b64encode(salt) }));
  await storage.set(saltKey(salt), `${origin} ${username}`);
}
