/**
 * errors.js: the failures of the account code (docs/API.md §12–13) as the container's McError
 * (src/container/errors.js) with account kinds. A server refusal carries the HTTP `status`, the
 * server's machine-readable `code` and, for 429 and 503, `retryAfter` in seconds; a refusal by
 * this client (KDF parameters or a salt it will not use, a proof of work it will not do, a weak
 * password) has no status. Messages name what failed, never a password, key or token.
 */
import { Kind, McError } from '../container/errors.js';

/** The account kinds, beside the container's Kind.KEY (keys that do not unwrap or match) and
 *  Kind.MISUSE (a bad argument). The CLI's exit status for the same case is given. */
export const AccountKind = Object.freeze({
  BAD_CREDENTIALS: 'bad credentials', // 401 bad_credentials: wrong password or unknown user (exit 3)
  UNAUTHENTICATED: 'unauthenticated', // 401 unauthenticated: no session, or it expired (exit 10)
  REAUTH_REQUIRED: 'reauth required', // 401 reauth_required (exit 10)
  CSRF: 'csrf', //                       403 csrf: the session's CSRF token was missing or wrong (exit 10)
  FORBIDDEN: 'forbidden', //             403 forbidden (exit 11)
  NOT_FOUND: 'not found', //             404 (exit 11)
  CONFLICT: 'conflict', //               409: name taken, invitation used or unknown, key already used (exit 15)
  BAD_REQUEST: 'bad request', //         400 and other 4xx the server refused (exit 15)
  LOCKED: 'locked', //                   429: too many failed logins; see retryAfter (exit 12)
  BUSY: 'busy', //                       503 after the retries (exit 12)
  SERVER: 'server', //                   5xx, or an answer that is not what §13 says (exit 14)
  NETWORK: 'network', //                 the fetch function failed: no answer (exit 14)
  KDF: 'kdf', //                         KDF parameters or salt refused by this client (exit 2)
  POW: 'pow', //                         a proof of work this client will not do (over 32 bits) (exit 2)
  WEAK_PASSWORD: 'weak password', //     under 12 characters or a zxcvbn score under 3 (exit 2)
  KEY: Kind.KEY, //                      the wrapped keys do not decrypt, or do not match the directory
  MISUSE: Kind.MISUSE, //                a bad argument
});

const BY_CODE = {
  bad_credentials: AccountKind.BAD_CREDENTIALS,
  unauthenticated: AccountKind.UNAUTHENTICATED,
  reauth_required: AccountKind.REAUTH_REQUIRED,
  csrf: AccountKind.CSRF,
  forbidden: AccountKind.FORBIDDEN,
  not_found: AccountKind.NOT_FOUND,
  conflict: AccountKind.CONFLICT,
  locked: AccountKind.LOCKED,
  busy: AccountKind.BUSY,
};

/** An McError of an account kind; `extra` ({status, code, retryAfter}) is copied onto it. */
export function accountError(kind, message, extra = {}, options) {
  const e = new McError(kind, message, options);
  Object.assign(e, extra);
  return e;
}

/** Throws an McError of an account kind. */
export function refuse(kind, message, extra) {
  throw accountError(kind, message, extra);
}

/**
 * The McError for an HTTP answer the caller did not expect: the kind from the server's `error`
 * code (§12 table), else from the status. `what` names the request ("login").
 */
export function httpError(what, status, body, retryAfter) {
  const code = body && typeof body.error === 'string' ? body.error : undefined;
  let kind = code && BY_CODE[code];
  if (!kind) {
    if (status === 401) kind = AccountKind.UNAUTHENTICATED;
    else if (status === 403) kind = AccountKind.FORBIDDEN;
    else if (status === 404) kind = AccountKind.NOT_FOUND;
    else if (status === 409) kind = AccountKind.CONFLICT;
    else if (status === 429) kind = AccountKind.LOCKED;
    else if (status === 503) kind = AccountKind.BUSY;
    else if (status >= 400 && status < 500) kind = AccountKind.BAD_REQUEST;
    else kind = AccountKind.SERVER;
  }
  const detail = {
    [AccountKind.BAD_CREDENTIALS]: 'wrong user name or password',
    [AccountKind.LOCKED]: `too many failed logins: try again in ${retryAfter ?? '?'} s`,
    [AccountKind.BUSY]: 'the server is busy: try again shortly',
    [AccountKind.CSRF]: 'the request lacked the session\'s CSRF token',
    [AccountKind.UNAUTHENTICATED]: 'not logged in, or the session expired',
  }[kind];
  const message = `${what}: ${detail ?? `the server answered ${status}${code ? ` ${code}` : ''}`}`;
  return accountError(kind, message, { status, code, retryAfter });
}
