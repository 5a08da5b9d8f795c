/*
 * format.h: the layout of docs/FORMAT.md, in the order the reader meets it. Every size, offset,
 * label and limit of the container is defined here once, and format.c is the one parser (and
 * writer) of the fields that need no key: the prefix, the wraps, the fixed part of the core, the
 * section lengths, the payload's chunk arithmetic and the signed message. libmedcrypt's reader
 * (file.c), the server's streaming upload check (src/medcryptd/sealed_check.c) and its share
 * handler all call these functions; none of them spells an offset or a limit of its own.
 *
 * This header needs nothing but <stdbool.h>, <stddef.h> and <stdint.h>, and format.c no crypto:
 * it is the static library mcformat, linked into libmedcrypt and into the server, which links no
 * code that can decrypt an image.
 *
 * The parsers check one field group each and return a verdict (FORMAT.md §9) and, through the
 * optional why, a short static reason (never freed; NULL for MC_FORMAT_OK). The views they fill
 * point into the caller's bytes and live as long as those. A streaming caller gathers the
 * field's bytes first (the sizes are the *_LEN constants below), then parses them; nothing here
 * reads past the lengths it is given.
 */
#ifndef MC_FORMAT_H
#define MC_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* §3 prefix = magic(8) version(u8) [MC-PRE-1], [MC-PRE-2] */
#define FMT_MAGIC       "\x89MEDC\r\n\x1a"
#define FMT_MAGIC_LEN   8
#define FMT_VERSION_OFF FMT_MAGIC_LEN
#define FMT_VERSION     1
#define FMT_PREFIX_LEN  (FMT_MAGIC_LEN + 1)

/* §4 wraps = wrap_count(u16) wrap{wrap_count}; a blob's header starts with the prefix and a
 * wrap_count of 0, so FMT_WRAPS_OFF bytes come before the first wrap (or the core). */
#define FMT_WRAP_COUNT_LEN 2
#define FMT_WRAPS_OFF      (FMT_PREFIX_LEN + FMT_WRAP_COUNT_LEN)
#define FMT_MAX_WRAPS      1024 /* [MC-WRAP-1] */
#define FMT_WRAP_RSA_OAEP  1    /* [MC-WRAP-2] */
#define FMT_RECIPIENT_LEN  32   /* FP(pub): SHA-256 of the SubjectPublicKeyInfo */
#define FMT_OAEP_LABEL     "medcrypt/v1 wrap"
#define FMT_OAEP_LABEL_LEN 16

/* wrap = wrap_type(u8) recipient(32) wrap_len(u16) wrap_body(wrap_len). The offsets of the three
 * fixed fields may be given on the compiler's command line only by the layout test
 * (tests/meson.build, test_format_variant), which builds every parser of wraps with another
 * field order to show that they all follow this header; the assertions below keep any such
 * order a tiling of the fixed part. */
#ifndef FMT_WRAP_TYPE_OFF
#define FMT_WRAP_TYPE_OFF      0
#define FMT_WRAP_RECIPIENT_OFF 1
#define FMT_WRAP_LEN_OFF       33
#endif
#define FMT_WRAP_FIXED_LEN (1 + FMT_RECIPIENT_LEN + 2) /* 35 */

/* [MC-WRAP-2], [MC-WRAP-3]: RSA keys of 3072 to 8192 bits, so a type-1 wrap_len (the modulus
 * length) of 384 to 1024; also the RSA-PSS signers of [MC-CORE-4] and their signatures. */
#define FMT_RSA_MIN_BITS      3072
#define FMT_RSA_MAX_BITS      8192
#define FMT_OAEP_MIN_LEN      (FMT_RSA_MIN_BITS / 8)
#define FMT_OAEP_MAX_LEN      (FMT_RSA_MAX_BITS / 8)
#define FMT_OAEP_WRAP_MAX_LEN (FMT_WRAP_FIXED_LEN + FMT_OAEP_MAX_LEN) /* a whole type-1 wrap */

/* §5 core = cipher(u8) chunk_log2(u8) file_id(32) sig_alg(u8) signer_len(u16) signer
 * meta_len(u32) meta preview_len(u32) preview header_mac(32). The fixed part runs to signer_len. */
#define FMT_FILE_ID_LEN         32
#define FMT_CORE_CIPHER_OFF     0
#define FMT_CORE_CHUNK_LOG2_OFF 1
#define FMT_CORE_FILE_ID_OFF    2
#define FMT_CORE_SIG_ALG_OFF    34
#define FMT_CORE_SIGNER_LEN_OFF 35
#define FMT_CORE_FIXED_LEN      (1 + 1 + FMT_FILE_ID_LEN + 1 + 2) /* 37 */
#define FMT_SECTION_LEN_LEN     4                                 /* meta_len, preview_len */

#define FMT_CIPHER_CHACHA20_POLY1305 1 /* [MC-CORE-1] */
#define FMT_CIPHER_AES_256_GCM       2
#define FMT_CHUNK_LOG2               16 /* [MC-CORE-2] */
#define FMT_SIG_NONE                 0  /* [MC-CORE-4] */
#define FMT_SIG_ED25519              1
#define FMT_SIG_RSA_PSS              2
#define FMT_MAX_SIGNER_LEN           2048 /* [MC-CORE-4] */
#define FMT_MAC_LEN                  32
#define FMT_TAG_LEN                  16
#define FMT_MAX_META                 (1024u * 1024u)      /* [MC-CORE-5] plaintext */
#define FMT_MAX_PREVIEW              (8u * 1024u * 1024u) /* [MC-CORE-6] plaintext */

/* §6 key schedule: info = label || cipher byte [MC-KDF-2] */
#define FMT_KEY_LEN      32
#define FMT_INFO_HEADER  "medcrypt/v1 header"
#define FMT_INFO_PAYLOAD "medcrypt/v1 payload"
#define FMT_INFO_META    "medcrypt/v1 metadata"
#define FMT_INFO_PREVIEW "medcrypt/v1 preview"

/* §7 payload */
#define FMT_CHUNK_PT   65536u                       /* [MC-PAY-1] */
#define FMT_CHUNK_CT   (FMT_CHUNK_PT + FMT_TAG_LEN) /* [MC-PAY-2] 65552 */
#define FMT_NONCE_LEN  12
#define FMT_MAX_CHUNKS 0xffffffffu /* [MC-PAY-6] */

/* §8 signature: M = context || 00 || header_digest(32) || n(u64) || payload_digest(32) */
#define FMT_SIG_CONTEXT     "medcrypt/v1 signature" /* followed by one zero byte */
#define FMT_SIG_CONTEXT_LEN 22                      /* including the zero byte */
#define FMT_DIGEST_LEN      32
#define FMT_SIG_MSG_LEN     (FMT_SIG_CONTEXT_LEN + FMT_DIGEST_LEN + 8 + FMT_DIGEST_LEN)
#define FMT_ED25519_SIG_LEN 64
#define FMT_MAX_SIG_LEN     (FMT_RSA_MAX_BITS / 8) /* RSA-PSS: the modulus length */
#define FMT_PSS_SALT_LEN    32                     /* §2 */

/* Two fields [a, a + alen) and [b, b + blen) do not overlap. */
#define FMT_DISJOINT(a, alen, b, blen) ((a) + (alen) <= (b) || (b) + (blen) <= (a))
_Static_assert(FMT_WRAP_TYPE_OFF + 1 <= FMT_WRAP_FIXED_LEN &&
                   FMT_WRAP_RECIPIENT_OFF + FMT_RECIPIENT_LEN <= FMT_WRAP_FIXED_LEN &&
                   FMT_WRAP_LEN_OFF + 2 <= FMT_WRAP_FIXED_LEN &&
                   FMT_DISJOINT(FMT_WRAP_TYPE_OFF, 1, FMT_WRAP_RECIPIENT_OFF, FMT_RECIPIENT_LEN) &&
                   FMT_DISJOINT(FMT_WRAP_TYPE_OFF, 1, FMT_WRAP_LEN_OFF, 2) &&
                   FMT_DISJOINT(FMT_WRAP_RECIPIENT_OFF, FMT_RECIPIENT_LEN, FMT_WRAP_LEN_OFF, 2),
               "the wrap's fixed fields tile its fixed part");
_Static_assert(FMT_CORE_CIPHER_OFF + 1 <= FMT_CORE_FIXED_LEN && FMT_CORE_CHUNK_LOG2_OFF + 1 <= FMT_CORE_FIXED_LEN &&
                   FMT_CORE_FILE_ID_OFF + FMT_FILE_ID_LEN <= FMT_CORE_FIXED_LEN &&
                   FMT_CORE_SIG_ALG_OFF + 1 <= FMT_CORE_FIXED_LEN &&
                   FMT_CORE_SIGNER_LEN_OFF + 2 <= FMT_CORE_FIXED_LEN &&
                   FMT_DISJOINT(FMT_CORE_CIPHER_OFF, 1, FMT_CORE_CHUNK_LOG2_OFF, 1) &&
                   FMT_DISJOINT(FMT_CORE_CIPHER_OFF, 1, FMT_CORE_FILE_ID_OFF, FMT_FILE_ID_LEN) &&
                   FMT_DISJOINT(FMT_CORE_CIPHER_OFF, 1, FMT_CORE_SIG_ALG_OFF, 1) &&
                   FMT_DISJOINT(FMT_CORE_CIPHER_OFF, 1, FMT_CORE_SIGNER_LEN_OFF, 2) &&
                   FMT_DISJOINT(FMT_CORE_CHUNK_LOG2_OFF, 1, FMT_CORE_FILE_ID_OFF, FMT_FILE_ID_LEN) &&
                   FMT_DISJOINT(FMT_CORE_CHUNK_LOG2_OFF, 1, FMT_CORE_SIG_ALG_OFF, 1) &&
                   FMT_DISJOINT(FMT_CORE_CHUNK_LOG2_OFF, 1, FMT_CORE_SIGNER_LEN_OFF, 2) &&
                   FMT_DISJOINT(FMT_CORE_FILE_ID_OFF, FMT_FILE_ID_LEN, FMT_CORE_SIG_ALG_OFF, 1) &&
                   FMT_DISJOINT(FMT_CORE_FILE_ID_OFF, FMT_FILE_ID_LEN, FMT_CORE_SIGNER_LEN_OFF, 2) &&
                   FMT_DISJOINT(FMT_CORE_SIG_ALG_OFF, 1, FMT_CORE_SIGNER_LEN_OFF, 2),
               "the core's fixed fields tile its fixed part");
_Static_assert(FMT_OAEP_MAX_LEN <= 0xffff && FMT_MAX_SIGNER_LEN <= 0xffff && FMT_MAX_WRAPS <= 0xffff,
               "the limits fit their u16 fields");

/* A parser's verdict: the failure classes of FORMAT.md §9 that need no key. */
typedef enum mc_format_verdict {
	MC_FORMAT_OK = 0,
	MC_FORMAT_HEADER = 1,      /* header failure */
	MC_FORMAT_UNSUPPORTED = 2, /* unsupported */
	MC_FORMAT_PAYLOAD = 3      /* payload failure: the length is no chunk sequence */
} mc_format_verdict;

/* One wrap (§4). recipient and body point into the parsed bytes. */
typedef struct mc_format_wrap {
	unsigned type;
	const uint8_t *recipient; /* FMT_RECIPIENT_LEN bytes */
	size_t body_len;          /* wrap_len */
	const uint8_t *body;      /* body_len bytes; NULL from mc_format_parse_wrap_head */
	size_t len;               /* the whole wrap: FMT_WRAP_FIXED_LEN + body_len */
} mc_format_wrap;

/* The fixed part of the core (§5). file_id points into the parsed bytes. */
typedef struct mc_format_core {
	unsigned cipher, chunk_log2, sig_alg;
	const uint8_t *file_id; /* FMT_FILE_ID_LEN bytes */
	size_t signer_len;
} mc_format_core;

/* The two encrypted sections of the core, for their length limits. */
typedef enum mc_format_section { MC_FORMAT_META, MC_FORMAT_PREVIEW } mc_format_section;

/* The payload between the header and the signature (§7). */
typedef struct mc_format_payload {
	uint64_t n_chunks;      /* 1 to FMT_MAX_CHUNKS */
	uint64_t chunks_len;    /* wire bytes of all chunks, the signature excluded */
	uint64_t last_len;      /* wire bytes of the final chunk: 16 to FMT_CHUNK_CT */
	uint64_t plaintext_len; /* chunks_len - n_chunks tags */
} mc_format_payload;

/* §3: the first len bytes of a file (len may be short). Header failure when fewer than
 * FMT_MAGIC_LEN bytes or not the magic [MC-PRE-1]; header failure "truncated" when the magic is
 * whole but the version byte missing; unsupported for a version other than FMT_VERSION
 * [MC-PRE-2]. *version (optional) gets the version byte when there is one. */
mc_format_verdict mc_format_parse_prefix(const uint8_t *p, size_t len, unsigned *version, const char **why);

/* §4: wrap_count from its FMT_WRAP_COUNT_LEN bytes; header failure above FMT_MAX_WRAPS
 * [MC-WRAP-1]. */
mc_format_verdict mc_format_parse_wrap_count(const uint8_t p[FMT_WRAP_COUNT_LEN], size_t *count, const char **why);

/* §4: the FMT_WRAP_FIXED_LEN bytes before a wrap's body: type, recipient, wrap_len (w->body is
 * NULL). Header failure for a type-1 wrap_len outside FMT_OAEP_MIN_LEN..FMT_OAEP_MAX_LEN
 * [MC-WRAP-2]; other types pass with any length. */
mc_format_verdict mc_format_parse_wrap_head(const uint8_t p[FMT_WRAP_FIXED_LEN], mc_format_wrap *w, const char **why);

/* §4: exactly one whole wrap in len bytes (a detached wrap): the head as above, and len must be
 * FMT_WRAP_FIXED_LEN + wrap_len (header failure if shorter, "truncated", or longer). */
mc_format_verdict mc_format_parse_wrap(const uint8_t *p, size_t len, mc_format_wrap *w, const char **why);

/* [MC-WRAP-4]: true when two wraps may not both be in one file: the same type and recipient. */
bool mc_format_wraps_conflict(const mc_format_wrap *a, const mc_format_wrap *b);

/* §5: the FMT_CORE_FIXED_LEN bytes of the core up to the signer. Unsupported for a cipher
 * [MC-CORE-1], chunk_log2 [MC-CORE-2] or sig_alg [MC-CORE-4] this format does not define; header
 * failure when signer_len is not 0 exactly for sig_alg 0, or above FMT_MAX_SIGNER_LEN. (Whether
 * the signer is a key of the right type needs a key parser: the caller's job.) */
mc_format_verdict mc_format_parse_core_fixed(const uint8_t p[FMT_CORE_FIXED_LEN], mc_format_core *c, const char **why);

/* §5: meta_len or preview_len from its FMT_SECTION_LEN_LEN bytes: 0, or FMT_TAG_LEN to the
 * section's plaintext limit + FMT_TAG_LEN ([MC-CORE-5], [MC-CORE-6]); header failure otherwise. */
mc_format_verdict mc_format_parse_section_len(const uint8_t p[FMT_SECTION_LEN_LEN], mc_format_section section,
                                              size_t *len, const char **why);

/* §7: the chunks in after_header bytes (everything after the core) of a file whose signature
 * is sig_len bytes ([MC-PAY-3]). Payload failure when they are no valid chunk sequence: shorter
 * than the signature and one tag, a final chunk under FMT_TAG_LEN bytes ([MC-PAY-2]), an empty
 * final chunk after a full one ([MC-PAY-4]), more than FMT_MAX_CHUNKS chunks ([MC-PAY-6]). */
mc_format_verdict mc_format_payload_layout(uint64_t after_header, uint64_t sig_len, mc_format_payload *out,
                                           const char **why);

/* Writers of the same fields, for the library and the tests: out holds the field's length. */
void mc_format_put_prefix(uint8_t out[FMT_PREFIX_LEN]);
void mc_format_put_wrap_count(uint8_t out[FMT_WRAP_COUNT_LEN], uint16_t count);
void mc_format_put_wrap_head(uint8_t out[FMT_WRAP_FIXED_LEN], uint8_t type, const uint8_t recipient[FMT_RECIPIENT_LEN],
                             uint16_t body_len);
void mc_format_put_core_fixed(uint8_t out[FMT_CORE_FIXED_LEN], const mc_format_core *c);
void mc_format_put_section_len(uint8_t out[FMT_SECTION_LEN_LEN], uint32_t len);

/* §8: the signed message M of a file with n_chunks chunks. */
void mc_format_sig_message(const uint8_t header_digest[FMT_DIGEST_LEN], uint64_t n_chunks,
                           const uint8_t payload_digest[FMT_DIGEST_LEN], uint8_t msg[FMT_SIG_MSG_LEN]);

#endif
