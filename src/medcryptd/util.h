/*
 * util.h: small helpers the server's modules share: time, randomness, base64/base32/hex,
 * validation of names, and files for secrets (created 0600 with O_EXCL, read with O_NOFOLLOW).
 * Every function that returns memory says how it is freed; none of them logs a secret.
 */
#ifndef MEDCRYPTD_UTIL_H
#define MEDCRYPTD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Seconds since the epoch. */
int64_t mcd_now(void);
/* Monotonic seconds, for durations. */
double mcd_monotonic(void);

/* Fills buf from the CSPRNG; false (logged, buf zeroed) on failure. */
bool mcd_random(uint8_t *buf, size_t len);

/* Standard base64 with padding; malloc'd NUL-terminated text, NULL when out of memory. */
char *mcd_b64_encode(const uint8_t *buf, size_t len);
/* Decodes strict standard base64 (padding required, no whitespace). *out is malloc'd (free with
 * free(); callers holding secrets wipe first). False on a bad character or length. */
bool mcd_b64_decode(const char *text, uint8_t **out, size_t *len);
/* base64url without padding into out (room for 4*ceil(len/3)+1). */
void mcd_b64url_encode(const uint8_t *buf, size_t len, char *out);
/* Decodes unpadded base64url of exactly want bytes into out; false otherwise. */
bool mcd_b64url_decode_exact(const char *text, uint8_t *out, size_t want);

/* Lower-case hex into out (room for 2*len+1). */
void mcd_hex(const uint8_t *buf, size_t len, char *out);
/* The value of one hex digit (either case), or -1. */
int mcd_hex_value(char c);

/* Parses exactly 2*len hex digits; false otherwise. */
bool mcd_unhex(const char *text, uint8_t *out, size_t len);

/* RFC 4648 base32, upper case, no padding, of 20 bytes: 32 characters + NUL. */
void mcd_base32_20(const uint8_t in[20], char out[33]);
/* An invitation code as the user typed it (any case, dashes and spaces ignored) to the stored
 * form: SHA-256 of the 32 upper-case base32 characters. False when it is not 32 of them. */
bool mcd_invitation_hash(const char *code, uint8_t hash[32]);

/* API.md §12: 1..64 of [a-z0-9._-], starting with a letter or digit. */
bool mcd_valid_username(const char *s);
/* 1..128 characters of valid UTF-8 without control characters. */
bool mcd_valid_display_name(const char *s);

/* Creates path with mode 0600 and O_EXCL and writes buf; false (logged, file removed) on failure. */
bool mcd_write_new_file(const char *path, const uint8_t *buf, size_t len);
/* Reads a whole regular file (O_NOFOLLOW) of at most max bytes. *out is malloc'd with a NUL
 * after the last byte; free with free() (wipe first if secret). False when missing or too big. */
bool mcd_read_file(const char *path, size_t max, uint8_t **out, size_t *len);
/* malloc'd "dir/name". */
char *mcd_path_join(const char *dir, const char *name);

#endif
