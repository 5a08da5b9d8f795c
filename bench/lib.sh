# bench/lib.sh: what the shell benchmarks against a real medcryptd share (bench/server,
# bench/consent). Source it after setting NAME (for messages), BUILD and BENCH_DIR; it makes the
# run directory $W (removed on exit, the server stopped), copies the two programs into it (others
# may rebuild BUILD meanwhile) and defines:
#   log MESSAGE / die MESSAGE        messages on stderr, prefixed "bench: NAME:"
#   bench_server_start [ARGS...]     medcryptd on a free loopback port, data in $W/data; sets
#                                    PORT, URL, SERVER_PID, CURL (curl over TLS 1.3 pinned to the
#                                    server's certificate) and INVITATION (the admin's)
#   bench_users USER:ROLE ...        registers admin, then each USER, with `medcrypt register`;
#                                    passwords in PW[USER]
#   as USER COMMAND...               the client as USER (own MEDCRYPT_HOME, password in the env)
#   session_field USER FIELD         token or csrf of USER's CLI session
log() { echo "bench: $NAME: $*" >&2; }
die() { log "$*"; exit 1; }

for bin in medcrypt/medcrypt medcryptd/medcryptd; do
	[[ -x $BUILD/src/$bin ]] || die "no $BUILD/src/$bin (run 'ninja -C $BUILD' or 'make bench')"
done
mkdir -p "$BENCH_DIR"
W=$(mktemp -d "$BENCH_DIR/$NAME.XXXXXX")
SERVER_PID=""
bench_cleanup() {
	if [[ -n $SERVER_PID ]]; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	rm -rf -- "$W"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM HUP
cp "$BUILD/src/medcrypt/medcrypt" "$W/medcrypt"
cp "$BUILD/src/medcryptd/medcryptd" "$W/medcryptd"
MEDCRYPT=$W/medcrypt
MEDCRYPTD=$W/medcryptd
export MEDCRYPT_NO_PROGRESS=1
unset MEDCRYPT_PASSPHRASE MEDCRYPT_HOME

bench_server_start() {
	PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	URL=https://localhost:$PORT
	"$MEDCRYPTD" --listen "127.0.0.1:$PORT" --data-dir "$W/data" "$@" >"$W/server.out" 2>"$W/server.log" &
	SERVER_PID=$!
	CURL=(curl -sS --tlsv1.3 --cacert "$W/data/tls.crt" --resolve "localhost:$PORT:127.0.0.1")
	for _ in $(seq 1 100); do
		[[ -f $W/data/tls.crt ]] && "${CURL[@]}" -o /dev/null "$URL/healthz" 2>/dev/null && break
		kill -0 "$SERVER_PID" 2>/dev/null || die "medcryptd did not start: $(tail -n 5 "$W/server.log")"
		sleep 0.1
	done
	"${CURL[@]}" -o /dev/null "$URL/healthz" || die "medcryptd does not answer on $URL"
	INVITATION=$(awk '/invitation:/ { print $2; exit }' "$W/server.out")
	[[ -n $INVITATION ]] || die "medcryptd printed no admin invitation"
	log "$("$MEDCRYPTD" --version 2>&1 | head -n 1 || true) on $URL (pid $SERVER_PID)"
}

password() { echo "bench $1 $(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n') granite cello"; }
declare -A PW=()
as() {
	local u=$1
	shift
	MEDCRYPT_HOME=$W/home-$u MEDCRYPT_PASSPHRASE=${PW[$u]} MEDCRYPT_ASSUME_YES=1 "$MEDCRYPT" "$@"
}
bench_users() {
	PW[admin]=$(password admin)
	log "registering admin and $* with 'medcrypt register'"
	as admin register "$INVITATION" --user admin --url "$URL" --yes >/dev/null 2>"$W/client.err" ||
		die "register admin: $(cat "$W/client.err")"
	local u code
	for u in "$@"; do
		PW[${u%%:*}]=$(password "${u%%:*}")
		code=$(as admin invite --role "${u#*:}" 2>"$W/client.err") || die "invite ${u#*:}: $(cat "$W/client.err")"
		as "${u%%:*}" register "$code" --user "${u%%:*}" --url "$URL" --yes >/dev/null 2>"$W/client.err" ||
			die "register ${u%%:*}: $(cat "$W/client.err")"
	done
}
session_field() { /usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$W/home-$1/session" "$2"; }
