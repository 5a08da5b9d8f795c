# e2e_setup.sh: the start of a client suite run against a real medcryptd (e2e_test.sh,
# load_test.sh). Source it with the suite's arguments:
#   source "$(dirname "${BASH_SOURCE[0]}")/e2e_setup.sh" "$@"
# It sets MEDCRYPT and MEDCRYPTD to absolute paths (default: build/src/medcrypt/medcrypt and the
# medcryptd beside it in that build), sources tests/cli/lib.sh and e2e_lib.sh, stops the server
# and removes $T on exit, clears the client's environment switches, and defines pw USER (the
# password each test user registers with), as USER COMMAND... (medcrypt as that user, answering
# yes to its questions; a suite may define its own), expect_in and not_in FILE TEXT DESCRIPTION,
# db SQL... (sqlite3 on the server's database) and py CODE ARGS... (python3 -c).
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
as() { # as USER COMMAND...: medcrypt as USER (own MEDCRYPT_HOME, password in the environment)
	local u=$1
	shift
	MEDCRYPT_HOME=$T/home-$u MEDCRYPT_PASSPHRASE=$(pw "$u") MEDCRYPT_ASSUME_YES=1 "$MEDCRYPT" "$@"
}
expect_in() { # expect_in FILE TEXT DESCRIPTION
	if grep -qF -- "$2" "$1"; then ok; else bad "$3: '$2' not in $(head -c 600 "$1")"; fi
}
not_in() { # not_in FILE TEXT DESCRIPTION
	if grep -qF -- "$2" "$1"; then bad "$3: '$2' in $(head -c 600 "$1")"; else ok; fi
}
db() { sqlite3 -cmd '.timeout 5000' "$DATA/medcryptd.db" "$@"; }
py() { "$PY" -c "$@"; }
