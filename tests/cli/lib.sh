# lib.sh: shared setup for the CLI test drivers. Source it after setting MEDCRYPT to the
# binary under test. Gives a temp dir ($T), pass/fail counters, and helpers that check exit
# statuses and that failed commands leave no output behind.
set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VEC="$REPO/tests/vectors"
PY=/usr/bin/python3
T=$(mktemp -d /tmp/medcrypt-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
export MEDCRYPT_NO_PROGRESS=1
passed=0
failed=0

ok() { passed=$((passed + 1)); }
bad() {
	failed=$((failed + 1))
	echo "FAIL: $*" >&2
}
check() { # check DESCRIPTION COMMAND...: the command must succeed
	local what=$1
	shift
	if "$@" >"$T/.out" 2>"$T/.err"; then ok; else bad "$what (exit $?): $(head -c 400 "$T/.err")"; fi
}
# expect_exit CODE DESCRIPTION COMMAND...: the command must exit with CODE
expect_exit() {
	local code=$1 what=$2
	shift 2
	"$@" >"$T/.out" 2>"$T/.err"
	local got=$?
	if [ "$got" = "$code" ]; then ok; else bad "$what: exit $got, expected $code: $(head -c 400 "$T/.err")"; fi
}
# no_output FILE: neither FILE nor a temporary FILE.part-* exists
no_output() {
	if [ -e "$1" ] || compgen -G "$1.part-*" >/dev/null; then bad "output left behind: $1"; else ok; fi
}
same() { # same A B: files identical
	if cmp -s "$1" "$2"; then ok; else bad "$1 and $2 differ"; fi
}
summary() {
	echo "$1: $passed passed, $failed failed"
	[ "$failed" = 0 ]
}
# flip FILE OFFSET: xor one byte with 0x01 in place
flip() {
	local byte
	byte=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
