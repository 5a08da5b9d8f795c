/**
 * index.js: the medcrypt container in JavaScript (docs/FORMAT.md), one module per concept:
 * format (constants, parse/serialize), primitives (WebCrypto, ChaCha20-Poly1305), keys
 * (recipients, signers, identities, fingerprints), keyschedule, header (read, unlock, detached
 * wraps), stream (chunked payload), signature, sections (metadata and preview), seal, open.
 */
export { Kind, McError, EXPECT_KIND } from './errors.js';
export { readAll, toHex, fromHex } from './bytes.js';
export * as format from './format.js';
export { importIdentity, importRecipient, importSigner, fingerprint, fingerprintHex, pemBlocks, spkiAlgorithm } from './keys.js';
export { Header, UnlockedHeader, readHeader, unlock } from './header.js';
export { parseMetadata, previewType } from './sections.js';
export { seal, cipherNumber } from './seal.js';
export { open, openBytes } from './open.js';
