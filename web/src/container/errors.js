/**
 * errors.js: the failure classes of docs/FORMAT.md §9 as one error type. Every refusal of the
 * container code is an McError whose `kind` names the class, so a caller (and the test vectors)
 * can tell a damaged header from a file that was not shared with them or an altered payload.
 * Like the C library (CONVENTIONS.md, "Errors"), a parse error is never reported as a MAC
 * failure. Messages name what failed, never a key or plaintext.
 */

/** The failure classes. The first six are FORMAT.md §9; the rest are the library's own. */
export const Kind = Object.freeze({
  HEADER: 'header', //           the prefix, wraps or core do not parse or break a MUST of §3–5
  UNSUPPORTED: 'unsupported', // a version, cipher, chunk size or algorithm this reader does not know
  NO_MATCH: 'no match', //       no wrap for the reader's key, or it did not decrypt
  MAC: 'mac', //                 the header MAC, or the metadata/preview AEAD, did not verify
  PAYLOAD: 'payload', //         a chunk did not verify, or the payload is truncated or extended
  SIGNATURE: 'signature', //     the signature did not verify, or the signer is not trusted
  KEY: 'key', //                 a key that cannot be used (wrong type or size, halves that differ)
  MISUSE: 'misuse', //           the caller broke a precondition (bad argument, locked header)
  IO: 'io', //                   the input stream failed
});

/** An error of the container code; `kind` is one of {@link Kind}. */
export class McError extends Error {
  /**
   * @param {string} kind one of Kind
   * @param {string} message what failed, for a person
   * @param {object} [options] `{cause}` as for Error
   */
  constructor(kind, message, options) {
    super(message, options);
    this.name = 'McError';
    this.kind = kind;
  }
}

/** The `expect:` words of tests/vectors (FORMAT.md §12) mapped to {@link Kind}. */
export const EXPECT_KIND = Object.freeze({
  'header failure': Kind.HEADER,
  unsupported: Kind.UNSUPPORTED,
  'no match': Kind.NO_MATCH,
  'MAC failure': Kind.MAC,
  'payload failure': Kind.PAYLOAD,
  'signature failure': Kind.SIGNATURE,
});

/** Throws an McError of the given kind. */
export function fail(kind, message) {
  throw new McError(kind, message);
}
