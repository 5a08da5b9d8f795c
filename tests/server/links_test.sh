#!/usr/bin/env bash
# links_test.sh: medcryptd links no code that can decrypt an image (CONVENTIONS.md, SECURITY.md
# §3.13). Of libmedcrypt it holds only the two decryption-free libraries it shares with it,
# mcformat (lib/format.c: the container's layout) and mcsha (lib/hash: SHA-256 of chunks): no
# other mc_ function is defined in it, and it imports none of the OpenSSL functions that opening
# a container needs (the AEADs, HKDF and RSA-OAEP decryption of FORMAT.md §2). The CLI, which
# does decrypt, must fail both checks, so the checks are known to see what they look for.
# usage: tests/server/links_test.sh BUILD_DIR
set -u
BUILD=$(cd "${1:-build}" && pwd)
# shellcheck source=../cli/lib.sh
source "$(dirname "$0")/../cli/lib.sh"

DECRYPTING='^(EVP_(Decrypt|Cipher|Open|CIPHER_fetch|KDF|chacha20|aes_)|EVP_PKEY_(decrypt|derive)|RSA_private_decrypt|HKDF)'
ALLOWED_MC='^mc_(format_|sha256_many)'

imports() { nm -u "$1" | awk '{print $2}' | sed 's/@.*//' | grep -E "$DECRYPTING" | sort -u | tr '\n' ' '; }
library() {
	nm --defined-only "$1" | awk '$2 ~ /^[TtDdBbRr]$/ {print $3}' | grep -E '^mc_' | grep -vE "$ALLOWED_MC" |
		sort -u | head -20 | tr '\n' ' '
}

D="$BUILD/src/medcryptd/medcryptd"
C="$BUILD/src/medcrypt/medcrypt"
[ -x "$D" ] && [ -x "$C" ] && ok || bad "no $D or $C"
found=$(imports "$D")
[ -z "$found" ] && ok || bad "medcryptd imports decryption from OpenSSL: $found"
found=$(library "$D")
[ -z "$found" ] && ok || bad "medcryptd holds libmedcrypt code other than mcformat and mcsha: $found"
nm --defined-only "$D" | grep -q ' T mc_format_parse_wrap$' && ok || bad "medcryptd does not parse with lib/format.c"
[ -n "$(imports "$C")" ] && ok || bad "the import check finds nothing in medcrypt"
[ -n "$(library "$C")" ] && ok || bad "the library check finds nothing in medcrypt"
summary server-links
