/**
 * password.js: the account password before it reaches Argon2id (docs/API.md §13) and the policy
 * for new ones (PRODUCT.md): the password is hashed as the UTF-8 of its Unicode NFC form, as
 * the CLI does (src/medcrypt/account.c nfc()), so that one password typed on systems that compose
 * accents differently opens the same account; a new password needs 12 or more characters and a
 * zxcvbn score of 3 or more (about 10^8 guesses), with the user name and "medcrypt" as words
 * the estimate knows, as account_password_ok() does. zxcvbn (about 800 KB of word lists) is
 * loaded only when a strength is asked for, so a login page never loads it.
 */
import { McError, Kind } from '../container/errors.js';
import { AccountKind, refuse } from './errors.js';

/** The fewest characters (Unicode code points) of a new password. */
export const MIN_PASSWORD_CHARS = 12;
/** The lowest zxcvbn score of a new password (0–4; 3 is 10^8 guesses or more). */
export const MIN_PASSWORD_SCORE = 3;
/** zxcvbn's time grows faster than the length: it judges this many characters at most. */
const ZXCVBN_MAX_CHARS = 100;
/** The CLI refuses a non-ASCII password over 4096 bytes of UTF-8; so does this client. */
const MAX_NON_ASCII_BYTES = 4096;

const utf8 = new TextEncoder();

function wellFormed(s) {
  if (typeof s.isWellFormed === 'function') return s.isWellFormed();
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

/**
 * The bytes Argon2id hashes for a password: UTF-8 of its NFC form. The caller wipes them
 * (`.fill(0)`). McError(misuse) for a non-string, an empty password, one with lone surrogates
 * (it has no UTF-8 form) or a non-ASCII one over 4096 bytes.
 */
export function normalizePassword(password) {
  if (typeof password !== 'string') throw new McError(Kind.MISUSE, 'the password must be a string');
  if (password.length === 0) throw new McError(Kind.MISUSE, 'the password is empty');
  if (!wellFormed(password)) throw new McError(Kind.MISUSE, 'the password is not valid Unicode');
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(password)) return utf8.encode(password); // ASCII is NFC already
  const raw = utf8.encode(password);
  const tooLong = raw.length > MAX_NON_ASCII_BYTES;
  raw.fill(0);
  if (tooLong) throw new McError(Kind.MISUSE, 'the password is too long');
  return utf8.encode(password.normalize('NFC'));
}

let zxcvbnModule;
async function loadZxcvbn() {
  zxcvbnModule ??= import('zxcvbn').then((m) => m.default ?? m);
  return zxcvbnModule;
}

/**
 * How strong a new password is, by the policy of PRODUCT.md: resolves to `{ok, chars, score,
 * warning, suggestions}` where ok = chars >= 12 and score >= 3. `chars` counts code points of the
 * password as typed, and zxcvbn judges it as typed (both as the CLI does), the first 100
 * characters of a longer one. `username` is given to zxcvbn as a word it knows, with "medcrypt".
 */
export async function passwordStrength(password, { username = '' } = {}) {
  if (typeof password !== 'string') throw new McError(Kind.MISUSE, 'the password must be a string');
  const points = [...password];
  const zxcvbn = await loadZxcvbn();
  const judged = points.length > ZXCVBN_MAX_CHARS ? points.slice(0, ZXCVBN_MAX_CHARS).join('') : password;
  const r = zxcvbn(judged, [username, 'medcrypt'].filter(Boolean));
  return {
    ok: points.length >= MIN_PASSWORD_CHARS && r.score >= MIN_PASSWORD_SCORE,
    chars: points.length,
    score: r.score,
    warning: r.feedback?.warning ?? '',
    suggestions: r.feedback?.suggestions ?? [],
  };
}

/** Throws McError('weak password') unless {@link passwordStrength} says ok. */
export async function requireStrongPassword(password, { username = '' } = {}) {
  const s = await passwordStrength(password, { username });
  if (!s.ok) {
    refuse(AccountKind.WEAK_PASSWORD, s.chars < MIN_PASSWORD_CHARS
      ? `the password is too short: use ${MIN_PASSWORD_CHARS} or more characters (a few unrelated words work well)`
      : 'the password is too easy to guess: a few unrelated words work well');
  }
  return s;
}
