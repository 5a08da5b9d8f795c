/**
 * format.js: the constants, field order, parsers and serializers of docs/FORMAT.md §3–8 — the
 * JavaScript twin of lib/format.h and lib/format.c. Every size, label and limit is defined here
 * once. The parsers take fixed-size byte fields and check every MUST that needs no key; header.js
 * reads a container field by field with them. Nothing here does cryptography.
 */
import { Kind, fail } from './errors.js';
import { concat, equal, ld16, ld32, u16, u32 } from './bytes.js';

const ascii = (s) => new TextEncoder().encode(s);

/* The byte-string constants below are shared: read them, never write into them. */

/* §3 prefix [MC-PRE-1], [MC-PRE-2] */
/** "\x89MEDC\r\n\x1a" */
export const MAGIC = Uint8Array.of(0x89, 0x4d, 0x45, 0x44, 0x43, 0x0d, 0x0a, 0x1a);
export const MAGIC_LEN = 8;
export const VERSION = 1;
export const PREFIX_LEN = 9;

/* §4 wraps */
export const WRAP_COUNT_LEN = 2;
export const MAX_WRAPS = 1024; //                 [MC-WRAP-1]
export const WRAP_RSA_OAEP = 1; //                [MC-WRAP-2]
export const RECIPIENT_LEN = 32; //               FP(pub)
export const WRAP_FIXED_LEN = 35; //              type(1) recipient(32) wrap_len(2)
export const RSA_MIN_BITS = 3072; //              [MC-WRAP-3], [MC-CORE-4]
export const RSA_MAX_BITS = 8192;
export const OAEP_LABEL = ascii('medcrypt/v1 wrap'); // 16 bytes

/* §5 core */
export const CIPHER_CHACHA20_POLY1305 = 1; //     [MC-CORE-1]
export const CIPHER_AES_256_GCM = 2;
export const CHUNK_LOG2 = 16; //                  [MC-CORE-2]
export const FILE_ID_LEN = 32; //                 [MC-CORE-3]
export const SIG_NONE = 0; //                     [MC-CORE-4]
export const SIG_ED25519 = 1;
export const SIG_RSA_PSS = 2;
export const CORE_FIXED_LEN = 37; //              cipher(1) chunk_log2(1) file_id(32) sig_alg(1) signer_len(2)
export const MAX_SIGNER_LEN = 2048;
export const SECTION_LEN_LEN = 4; //              meta_len, preview_len
export const MAX_META = 1024 * 1024; //           [MC-CORE-5] plaintext
export const MAX_PREVIEW = 8 * 1024 * 1024; //    [MC-CORE-6] plaintext
export const MAC_LEN = 32; //                     [MC-CORE-7]
export const TAG_LEN = 16;

/* §6 key schedule: info = label || cipher byte [MC-KDF-2] */
export const KEY_LEN = 32;
export const INFO_HEADER = ascii('medcrypt/v1 header');
export const INFO_PAYLOAD = ascii('medcrypt/v1 payload');
export const INFO_META = ascii('medcrypt/v1 metadata');
export const INFO_PREVIEW = ascii('medcrypt/v1 preview');

/* §7 payload */
export const CHUNK_PT = 65536; //                 [MC-PAY-1]
export const CHUNK_CT = CHUNK_PT + TAG_LEN; //    [MC-PAY-2] 65552
export const NONCE_LEN = 12;
export const MAX_CHUNKS = 0xffffffff; //          [MC-PAY-6]: n < 2^32

/* §8 signature */
export const SIG_CONTEXT = concat(ascii('medcrypt/v1 signature'), Uint8Array.of(0)); // 22 bytes
export const SIG_MSG_LEN = SIG_CONTEXT.length + 32 + 8 + 32;
export const ED25519_SIG_LEN = 64;

/** The cipher numbers by name, for callers that say 'chacha20' or 'aes'. */
export const CIPHER_NAMES = Object.freeze({
  chacha20: CIPHER_CHACHA20_POLY1305,
  'chacha20-poly1305': CIPHER_CHACHA20_POLY1305,
  aes: CIPHER_AES_256_GCM,
  'aes-256-gcm': CIPHER_AES_256_GCM,
});

/** The encoded prefix: magic || version. */
export function encodePrefix() {
  return concat(MAGIC, Uint8Array.of(VERSION));
}

/**
 * Checks the prefix as read ([MC-PRE-1], [MC-PRE-2]); `got` are the bytes there were, 0 to 9.
 * A short or wrong magic is a header failure; a short prefix after a good magic too.
 */
export function parsePrefix(got) {
  if (got.length < MAGIC_LEN || !equal(got.subarray(0, MAGIC_LEN), MAGIC)) {
    fail(Kind.HEADER, 'not a medcrypt file (bad magic)');
  }
  if (got.length < PREFIX_LEN) fail(Kind.HEADER, 'the header is truncated (in the prefix)');
  if (got[MAGIC_LEN] !== VERSION) {
    fail(Kind.UNSUPPORTED, `container version ${got[MAGIC_LEN]} is not supported (this reader knows ${VERSION})`);
  }
}

/** The wrap count of its 2 bytes, at most 1024 ([MC-WRAP-1]). */
export function parseWrapCount(b) {
  const n = ld16(b);
  if (n > MAX_WRAPS) fail(Kind.HEADER, `${n} wraps: more than the limit of ${MAX_WRAPS}`);
  return n;
}

/**
 * The fixed 35 bytes of a wrap: `{type, recipient, bodyLen}`. A type-1 wrap must be 384..1024
 * bytes, the modulus length of an RSA key of 3072..8192 bits ([MC-WRAP-2]).
 */
export function parseWrapHead(b) {
  const type = b[0];
  const bodyLen = ld16(b, 33);
  if (type === WRAP_RSA_OAEP && (bodyLen < RSA_MIN_BITS / 8 || bodyLen > RSA_MAX_BITS / 8)) {
    fail(Kind.HEADER, `an RSA-OAEP wrap of ${bodyLen} bytes does not fit a 3072..8192-bit key`);
  }
  return { type, recipient: b.slice(1, 1 + RECIPIENT_LEN), bodyLen };
}

/** Whether two wraps name the same recipient with the same type ([MC-WRAP-4]). */
export function wrapsConflict(a, b) {
  return a.type === b.type && equal(a.recipient, b.recipient);
}

/** The bytes of one `wrap` production (a detached wrap, §4): type || recipient || len || body. */
export function encodeWrap({ type, recipient, body }) {
  return concat(Uint8Array.of(type), recipient, u16(body.length), body);
}

/**
 * Parses one detached wrap, exactly `bytes.length` long: `{type, recipient, body}`. Trailing or
 * missing bytes and a bad type-1 length are header failures, as in lib/file.c
 * mc_file_add_detached_wrap.
 */
export function parseDetachedWrap(bytes) {
  if (bytes.length < WRAP_FIXED_LEN) fail(Kind.HEADER, 'the detached wrap is truncated');
  const head = parseWrapHead(bytes.subarray(0, WRAP_FIXED_LEN));
  if (bytes.length < WRAP_FIXED_LEN + head.bodyLen) fail(Kind.HEADER, 'the detached wrap is truncated');
  if (bytes.length > WRAP_FIXED_LEN + head.bodyLen) fail(Kind.HEADER, 'trailing bytes after the detached wrap');
  return { type: head.type, recipient: head.recipient, body: bytes.slice(WRAP_FIXED_LEN) };
}

/**
 * The fixed 37 bytes of the core: `{cipher, chunkLog2, fileId, sigAlg, signerLen}`, checking
 * [MC-CORE-1], [MC-CORE-2], [MC-CORE-4] (unsupported values first, then the signer length).
 */
export function parseCoreFixed(b) {
  const cipher = b[0];
  const chunkLog2 = b[1];
  const sigAlg = b[34];
  const signerLen = ld16(b, 35);
  if (cipher !== CIPHER_CHACHA20_POLY1305 && cipher !== CIPHER_AES_256_GCM) {
    fail(Kind.UNSUPPORTED, `cipher ${cipher} is not supported`);
  }
  if (chunkLog2 !== CHUNK_LOG2) fail(Kind.UNSUPPORTED, `chunk size 2^${chunkLog2} is not supported`);
  if (sigAlg !== SIG_NONE && sigAlg !== SIG_ED25519 && sigAlg !== SIG_RSA_PSS) {
    fail(Kind.UNSUPPORTED, `signature algorithm ${sigAlg} is not supported`);
  }
  if ((sigAlg === SIG_NONE) !== (signerLen === 0) || signerLen > MAX_SIGNER_LEN) {
    fail(Kind.HEADER, 'the signer field does not match the signature algorithm');
  }
  return { cipher, chunkLog2, fileId: b.slice(2, 2 + FILE_ID_LEN), sigAlg, signerLen };
}

/** The length of the metadata or preview section from its 4 bytes: 0 or 16..limit+16
 *  ([MC-CORE-5], [MC-CORE-6]). */
export function parseSectionLen(b, which) {
  const n = ld32(b);
  const limit = which === 'metadata' ? MAX_META : MAX_PREVIEW;
  if (n !== 0 && (n < TAG_LEN || n > limit + TAG_LEN)) fail(Kind.HEADER, `the ${which} section of ${n} bytes is not valid`);
  return n;
}

/** The core up to and excluding header_mac (§5), from its fields. */
export function encodeCoreWithoutMac({ cipher, fileId, sigAlg, signer, meta, preview }) {
  return concat(
    Uint8Array.of(cipher, CHUNK_LOG2),
    fileId,
    Uint8Array.of(sigAlg),
    u16(signer.length),
    signer,
    u32(meta.length),
    meta,
    u32(preview.length),
    preview,
  );
}

/** nonce_i of §7: i as an 11-byte big-endian integer || last (0 or 1). */
export function chunkNonce(i, last) {
  const n = new Uint8Array(NONCE_LEN);
  n[7] = (i >>> 24) & 0xff;
  n[8] = (i >>> 16) & 0xff;
  n[9] = (i >>> 8) & 0xff;
  n[10] = i & 0xff;
  n[11] = last ? 1 : 0;
  return n;
}
