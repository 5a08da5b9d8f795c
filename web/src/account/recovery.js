/**
 * recovery.js: the recovery code of docs/API.md §13: 20 random bytes shown to the user once as
 * 32 characters of RFC 4648 base32 in groups of four ("ABCD-EFGH-…"), formatted and read exactly
 * as the CLI does (src/medcrypt/account.c). The key it gives is kdf.js deriveRecoveryKey().
 */
import { AccountKind, refuse } from './errors.js';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * A recovery code as Argon2id takes it (§13): dashes and spaces dropped, upper case, and it must
 * then be 32 characters of RFC 4648 base32 (McError misuse otherwise), as the CLI's
 * account_recovery_key() reads it.
 */
export function canonicalRecoveryCode(code) {
  if (typeof code !== 'string') refuse(AccountKind.MISUSE, 'the recovery code must be a string');
  const clean = code.replace(/[- ]/g, '').replace(/[a-z]/g, (c) => c.toUpperCase());
  if (clean.length !== 32 || [...clean].some((c) => !B32.includes(c))) {
    refuse(AccountKind.MISUSE, 'a recovery code is 32 characters of A-Z and 2-7, in groups of four');
  }
  return clean;
}

/**
 * A new recovery code (§13): 20 random bytes as 32 characters of base32 in groups of four,
 * "ABCD-EFGH-…" (39 characters), exactly as the CLI's account_new_recovery_code() formats it.
 */
export function newRecoveryCode() {
  const raw = globalThis.crypto.getRandomValues(new Uint8Array(20));
  let out = '';
  let acc = 0;
  let bits = 0;
  let chars = 0;
  for (const byte of raw) {
    acc = ((acc << 8) | byte) & 0xfff; // at most 12 bits are ever pending
    bits += 8;
    while (bits >= 5) {
      if (chars && chars % 4 === 0) out += '-';
      out += B32[(acc >> (bits - 5)) & 31];
      bits -= 5;
      chars++;
    }
  }
  raw.fill(0);
  return out;
}
