/**
 * header.js: reading, unlocking and rewriting a container's header (docs/FORMAT.md §3–6): the
 * header half of lib/file.c. readHeader() parses the prefix, the wraps and the core field by
 * field, checking every length against §10 before it reads the bytes; unlock() finds the wrap for
 * the reader's key, checks the header MAC and decrypts the metadata and the preview. Wraps are
 * outside the MAC and the signature, so they can be added, removed and carried apart from the
 * file (detached wraps, as the server stores them: docs/API.md §15) without any key but the one
 * that unwraps the file key.
 */
import { Kind, McError, fail } from './errors.js';
import { ByteReader, asBytes, concat, equal, u16, wipe } from './bytes.js';
import {
  CORE_FIXED_LEN, KEY_LEN, MAC_LEN, MAX_WRAPS, PREFIX_LEN, SECTION_LEN_LEN, SIG_NONE, WRAP_COUNT_LEN, WRAP_FIXED_LEN,
  WRAP_RSA_OAEP, encodeWrap, parseCoreFixed, parseDetachedWrap, parsePrefix, parseSectionLen, parseWrapCount,
  parseWrapHead, wrapsConflict,
} from './format.js';
import { importSigner } from './keys.js';
import { KeySchedule } from './keyschedule.js';
import { hmacVerify, oaepUnwrap, oaepWrap } from './primitives.js';
import { signatureLength } from './signature.js';

/**
 * A parsed header. `wraps` is the current list of `{type, recipient, body}` (it changes with
 * addWrap / removeRecipient); everything else is the header as read: `prefix`, `core` (with
 * header_mac), `cipher`, `fileId`, `sigAlg`, `signer` (importSigner's result, or null), the
 * encrypted `metaSealed` / `previewSealed`, and `length`, where the payload starts in the input.
 */
export class Header {
  constructor(fields) {
    Object.assign(this, fields);
  }

  /** The number of signature bytes at the end of the file ([MC-PAY-3]). */
  get signatureLength() {
    return signatureLength(this.sigAlg, this.signer?.bits ?? 0);
  }

  /** The core up to and excluding header_mac. */
  get coreWithoutMac() {
    return this.core.subarray(0, this.core.length - MAC_LEN);
  }

  /** header_mac. */
  get headerMac() {
    return this.core.subarray(this.core.length - MAC_LEN);
  }

  /**
   * Adds one wrap `{type, recipient, body}` with the checks of a wrap in a header: at most 1024
   * ([MC-WRAP-1]), never two of one type naming one recipient ([MC-WRAP-4]).
   */
  addWrap(wrap) {
    if (this.wraps.length >= MAX_WRAPS) fail(Kind.HEADER, `more than ${MAX_WRAPS} wraps`);
    if (this.wraps.some((w) => wrapsConflict(w, wrap))) fail(Kind.HEADER, 'two wraps name the same recipient');
    this.wraps.push(wrap);
  }

  /**
   * Adds a detached wrap (the bytes of one `wrap` production, exactly), as
   * mc_file_add_detached_wrap does: a blob fetched from the server plus the caller's wrap.
   * Needs no key; a wrap that carries the wrong key fails the header MAC at unlock ([MC-WRAP-6]).
   */
  addDetachedWrap(bytes) {
    if (this.wraps.length >= MAX_WRAPS) fail(Kind.MISUSE, `the file already has ${MAX_WRAPS} wraps`);
    this.addWrap(parseDetachedWrap(asBytes(bytes, 'the detached wrap')));
  }

  /** Removes the first wrap naming fingerprint fp (mc_file_remove_recipient); whether there was
   *  one. Needs no key: anyone can strip a wrap. Removing the last one leaves a blob. */
  removeRecipient(fp) {
    const i = this.wraps.findIndex((w) => equal(w.recipient, fp));
    if (i >= 0) this.wraps.splice(i, 1);
    return i >= 0;
  }

  /** Wrap i as a detached wrap (the bytes the server's share API takes, base64-encoded). */
  detachedWrap(i) {
    if (!(i >= 0 && i < this.wraps.length)) fail(Kind.MISUSE, `no wrap ${i}`);
    return encodeWrap(this.wraps[i]);
  }

  /**
   * The header with the current wraps: prefix || wraps || core (mc_file_write_header). The rest of
   * the original file after `length` bytes follows it unchanged: nothing is re-encrypted or
   * re-signed ([MC-SIG-5]).
   */
  encode() {
    return concat(this.prefix, u16(this.wraps.length), ...this.wraps.map(encodeWrap), this.core);
  }

  /** What a caller may show: cipher, signature algorithm, signer fingerprint, wraps' recipients. */
  info() {
    return {
      cipher: this.cipher,
      fileId: this.fileId,
      sigAlg: this.sigAlg,
      signer: this.signer ? { fingerprint: this.signer.fingerprint, spki: this.signer.spki, bits: this.signer.bits } : null,
      wraps: this.wraps.map((w) => ({ type: w.type, recipient: w.recipient })),
      metadataLength: this.metaSealed.length,
      previewLength: this.previewSealed.length,
      headerLength: this.length,
    };
  }
}

/** Reads exactly n bytes or fails: a truncated header. */
async function need(reader, n, what) {
  const b = await reader.readExact(n);
  if (!b) fail(Kind.HEADER, `the header is truncated (in ${what})`);
  return b.slice(); // own copy: the header outlives the input's buffers
}

/**
 * Reads the header from a ByteReader (or anything ByteReader accepts: then the payload is not
 * reachable afterwards), in the order of FORMAT.md §3–5, with every check that needs no key.
 * Failures: McError header, unsupported.
 */
export async function readHeader(input) {
  const reader = input instanceof ByteReader ? input : new ByteReader(input);
  const start = reader.position;

  // §3 prefix
  await reader.fill(PREFIX_LEN);
  const prefix = reader.take(Math.min(PREFIX_LEN, reader.buffered)).slice();
  parsePrefix(prefix); // [MC-PRE-1], [MC-PRE-2]

  // §4 wraps
  const count = parseWrapCount(await need(reader, WRAP_COUNT_LEN, 'the wrap count')); // [MC-WRAP-1]
  const header = new Header({ prefix, wraps: [] });
  for (let i = 0; i < count; i++) {
    const head = parseWrapHead(await need(reader, WRAP_FIXED_LEN, 'a wrap')); // [MC-WRAP-2]
    const body = await need(reader, head.bodyLen, 'a wrap');
    header.addWrap({ type: head.type, recipient: head.recipient, body }); // [MC-WRAP-4]
  }

  // §5 core
  const parts = [];
  const take = async (n, what) => {
    const b = await need(reader, n, what);
    parts.push(b);
    return b;
  };
  const fixed = parseCoreFixed(await take(CORE_FIXED_LEN, 'the core')); // [MC-CORE-1], [MC-CORE-2], [MC-CORE-4]
  let signer = null;
  if (fixed.sigAlg !== SIG_NONE) {
    const der = await take(fixed.signerLen, 'the signer key');
    try {
      signer = await importSigner(der, fixed.sigAlg); // [MC-CORE-4]: a key of the type sig_alg names
    } catch (e) {
      if (e instanceof McError) throw new McError(Kind.HEADER, e.message, { cause: e });
      throw e;
    }
  }
  const metaLen = parseSectionLen(await take(SECTION_LEN_LEN, 'the metadata length'), 'metadata'); // [MC-CORE-5]
  const metaSealed = await take(metaLen, 'the metadata');
  const previewLen = parseSectionLen(await take(SECTION_LEN_LEN, 'the preview length'), 'preview'); // [MC-CORE-6]
  const previewSealed = await take(previewLen, 'the preview');
  await take(MAC_LEN, 'the header MAC');

  Object.assign(header, {
    core: concat(...parts),
    cipher: fixed.cipher,
    fileId: fixed.fileId,
    sigAlg: fixed.sigAlg,
    signer,
    metaSealed,
    previewSealed,
    length: reader.position - start,
  });
  return header;
}

/**
 * A header whose file key the reader holds: the decrypted `metadata` and `preview` (Uint8Array,
 * or null when the file has none), the key schedule for the payload, and the file key itself, to
 * wrap it for more recipients (sharing). Call wipe() when done.
 */
export class UnlockedHeader {
  #fileKey;

  constructor(header, fileKey, keys, metadata, preview) {
    this.header = header;
    this.#fileKey = fileKey;
    this.keys = keys;
    this.metadata = metadata;
    this.preview = preview;
  }

  /**
   * A new type-1 wrap of the file key for a recipient (importRecipient's result), as a detached
   * wrap: the body of the server's `POST /api/v1/images/{id}/shares` ([MC-WRAP-2]). The header is
   * not changed; use addRecipient for that.
   */
  async wrapFor(recipient) {
    if (!this.#fileKey) fail(Kind.MISUSE, 'the header was wiped');
    const body = await oaepWrap(recipient.key, this.#fileKey);
    return encodeWrap({ type: WRAP_RSA_OAEP, recipient: recipient.fingerprint, body });
  }

  /** Adds a wrap for recipient to the header (mc_file_add_recipient); returns it as a detached
   *  wrap. McError(misuse) if the recipient already has one or the header has 1024. */
  async addRecipient(recipient) {
    const bytes = await this.wrapFor(recipient);
    const wrap = parseDetachedWrap(bytes);
    if (this.header.wraps.some((w) => wrapsConflict(w, wrap))) fail(Kind.MISUSE, 'that key is already a recipient');
    if (this.header.wraps.length >= MAX_WRAPS) fail(Kind.MISUSE, `the file already has ${MAX_WRAPS} recipients`);
    this.header.wraps.push(wrap);
    return bytes;
  }

  /** Forgets the file key. */
  wipe() {
    wipe(this.#fileKey);
    this.#fileKey = null;
  }
}

/**
 * Unlocks a header with an identity (importIdentity's result): finds the type-1 wrap that names
 * its encryption key and only that one ([MC-WRAP-5]), unwraps the file key, checks header_mac
 * with WebCrypto's constant-time HMAC verify before anything is decrypted ([MC-CORE-8]), then
 * decrypts the metadata and the preview ([MC-CORE-9]).
 * Failures: McError no match, mac; misuse for an identity without an encryption key.
 */
export async function unlock(header, identity) {
  const enc = identity?.encryption;
  if (!enc) fail(Kind.MISUSE, 'the identity has no encryption key');
  const wrap = header.wraps.find((w) => w.type === WRAP_RSA_OAEP && equal(w.recipient, enc.fingerprint));
  if (!wrap) fail(Kind.NO_MATCH, 'this file has no wrap for your key (it was not shared with you)');
  if (wrap.body.length !== Math.ceil(enc.bits / 8)) fail(Kind.NO_MATCH, 'your wrap does not fit your key: it does not decrypt');
  const fileKey = await oaepUnwrap(enc.privateKey, wrap.body);
  if (!fileKey) fail(Kind.NO_MATCH, 'your wrap does not decrypt with your key');
  if (fileKey.length !== KEY_LEN) {
    wipe(fileKey);
    fail(Kind.NO_MATCH, 'your wrap does not hold a file key');
  }
  let ok = false;
  try {
    const keys = await KeySchedule.create(fileKey, header.fileId, header.cipher);
    const macInput = concat(header.prefix, header.coreWithoutMac); // [MC-CORE-7]: the wraps are not in it
    if (!(await hmacVerify(await keys.headerKey(), header.headerMac, macInput))) {
      fail(Kind.MAC, 'the header does not authenticate: it was altered, or the wrap holds a key from another file');
    }
    const metadata = await openSection(keys, 'metadata', header.metaSealed);
    const preview = await openSection(keys, 'preview', header.previewSealed);
    ok = true;
    return new UnlockedHeader(header, fileKey, keys, metadata, preview);
  } finally {
    if (!ok) wipe(fileKey);
  }
}

/** Decrypts the metadata or the preview under its key and the all-zero nonce ([MC-CORE-9]). */
async function openSection(keys, label, sealed) {
  if (sealed.length === 0) return null;
  const aead = await keys.aead(label);
  try {
    const plaintext = await aead.open(new Uint8Array(12), sealed);
    if (!plaintext) fail(Kind.MAC, `the ${label} does not authenticate`);
    return plaintext;
  } finally {
    aead.wipe();
  }
}
