# e2e_setup.sh: the start of a client suite run against a real medcryptd (e2e_test.sh,
# load_test.sh). Source it with the suite's arguments:
#   source "$(dirname "${BASH_SOURCE[0]}")/e2e_setup.sh" "$@"
# It sets MEDCRYPT and MEDCRYPTD to absolute paths (default: build/src/medcrypt/medcrypt and the
# medcryptd beside it in that build), sources tests/cli/lib.sh and e2e_lib.sh, stops the server
# and removes $T on exit, clears the client's environment switches, and defines pw USER (the
# password each test user registers with).
_e2e_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MEDCRYPT=${1:-$_e2e_here/../../build/src/medcrypt/medcrypt}
MEDCRYPT=$(cd "$(dirname "$MEDCRYPT")" && pwd)/$(basename "$MEDCRYPT")
MEDCRYPTD=${2:-$(dirname "$(dirname "$MEDCRYPT")")/medcryptd/medcryptd}
MEDCRYPTD=$(cd "$(dirname "$MEDCRYPTD")" && pwd)/$(basename "$MEDCRYPTD")
source "$_e2e_here/../cli/lib.sh"
source "$_e2e_here/e2e_lib.sh"
trap 'server_kill; rm -rf "$T"' EXIT
unset MEDCRYPT_PASSPHRASE MEDCRYPT_ASSUME_YES

pw() { echo "$1's passphrase: granite cello orbit 42"; }
