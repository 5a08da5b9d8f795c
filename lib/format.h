/*
 * format.h: the constants of docs/FORMAT.md, in the order the reader meets them. Every size,
 * label and limit of the container is defined here once; parsers and writers use these names.
 */
#ifndef MC_FORMAT_H
#define MC_FORMAT_H

#include <stdint.h>

/* §3 prefix [MC-PRE-1], [MC-PRE-2] */
#define FMT_MAGIC      "\x89MEDC\r\n\x1a"
#define FMT_MAGIC_LEN  8
#define FMT_VERSION    1
#define FMT_PREFIX_LEN 9

/* §4 wraps */
#define FMT_MAX_WRAPS      1024 /* [MC-WRAP-1] */
#define FMT_WRAP_RSA_OAEP  1    /* [MC-WRAP-2] */
#define FMT_WRAP_FIXED_LEN 35   /* type(1) recipient(32) wrap_len(2) */
#define FMT_OAEP_LABEL     "medcrypt/v1 wrap"
#define FMT_OAEP_LABEL_LEN 16

/* §5 core */
#define FMT_FILE_ID_LEN    32
#define FMT_CHUNK_LOG2     16   /* [MC-CORE-2] */
#define FMT_MAX_SIGNER_LEN 2048 /* [MC-CORE-4] */
#define FMT_MAC_LEN        32
#define FMT_TAG_LEN        16
#define FMT_MAX_META       (1024u * 1024u)      /* [MC-CORE-5] plaintext */
#define FMT_MAX_PREVIEW    (8u * 1024u * 1024u) /* [MC-CORE-6] plaintext */

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

/* §8 signature */
#define FMT_SIG_CONTEXT     "medcrypt/v1 signature" /* followed by one zero byte */
#define FMT_SIG_CONTEXT_LEN 22                      /* including the zero byte */
#define FMT_SIG_MSG_LEN     (FMT_SIG_CONTEXT_LEN + 32 + 8 + 32)
#define FMT_ED25519_SIG_LEN 64

#endif
