# lib.sh: shared setup for the server test drivers. Source it after setting MEDCRYPTD (the
# server binary under test). It sources tests/cli/lib.sh (temp dir $T, counters, check/expect_exit,
# summary), starts and stops a real medcryptd on a free loopback port with its data directory in
# $T, and wraps curl for raw HTTPS requests (TLS 1.3, the generated certificate as the only CA).
# shellcheck source=../cli/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
SERVER_PID=""
trap 'server_kill; rm -rf "$T"' EXIT

free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# server_start [ARGS...]: starts medcryptd on a free port with data in $DATA (default $T/data) and
# waits until it prints its URL. Sets PORT, URL, CERT, SERVER_PID; stdout in $T/server.out, the
# log in $T/server.log. Returns non-zero if it does not come up within 30 s.
server_start() {
	PORT=$(free_port)
	DATA=${DATA:-$T/data}
	# Emptied here, not by the redirection below: that runs in the child, and until it does a
	# restart's wait would read the previous start's "is listening on".
	: >"$T/server.out"
	"$MEDCRYPTD" --data-dir "$DATA" --listen "127.0.0.1:$PORT" "$@" >"$T/server.out" 2>>"$T/server.log" &
	SERVER_PID=$!
	URL="https://localhost:$PORT"
	CERT="$DATA/tls.crt"
	local i
	for i in $(seq 1 300); do
		if grep -q "is listening on" "$T/server.out" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			echo "medcryptd exited early:" >&2
			tail -5 "$T/server.log" >&2
			SERVER_PID=""
			return 1
		fi
		sleep 0.1
	done
	echo "medcryptd did not come up" >&2
	return 1
}

# server_stop: SIGTERM and wait; returns the server's exit status (99 when a sanitizer reported
# anything in its log).
server_stop() {
	[ -n "$SERVER_PID" ] || return 0
	kill -TERM "$SERVER_PID" 2>/dev/null
	local rc=0
	wait "$SERVER_PID" || rc=$?
	SERVER_PID=""
	if grep -q "Sanitizer\|runtime error" "$T/server.log"; then
		grep -A20 "Sanitizer\|runtime error" "$T/server.log" | head -40 >&2
		rc=99
	fi
	return $rc
}

server_kill() {
	if [ -n "$SERVER_PID" ]; then
		kill -KILL "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
		SERVER_PID=""
	fi
}

# api METHOD PATH [CURL ARGS...]: one HTTPS request. The body goes to $T/body, the headers to
# $T/headers, the status to $STATUS (000 when the connection failed). With SRC set, the request
# comes from that loopback address (127.0.0.N), for the per-address lockout.
api() {
	local method=$1 path=$2
	shift 2
	rm -f "$T/body" "$T/headers" # never a stale answer read as this one's
	STATUS=$(curl -sS --tlsv1.3 --cacert "$CERT" --resolve "localhost:$PORT:127.0.0.1" -X "$method" \
		${SRC:+--interface "$SRC"} -o "$T/body" -D "$T/headers" -w '%{http_code}' "$@" "$URL$path" 2>"$T/curl.err")
	[ -n "$STATUS" ] || STATUS=000
}

# as USER METHOD PATH [CURL ARGS...]: api with USER's cookie jar and CSRF token.
as() {
	local user=$1 method=$2 path=$3
	shift 3
	local csrf=""
	[ -f "$T/csrf.$user" ] && csrf=$(cat "$T/csrf.$user")
	api "$method" "$path" -b "$T/jar.$user" -c "$T/jar.$user" -H "X-CSRF-Token: $csrf" "$@"
}

# expect_status CODE DESCRIPTION: the last request answered CODE.
expect_status() {
	if [ "$STATUS" = "$1" ]; then ok; else bad "$2: status $STATUS, expected $1: $(head -c 300 "$T/body" 2>/dev/null)"; fi
}

# expect_error CODE ERROR DESCRIPTION: status CODE with {"error": ERROR} as JSON.
expect_error() {
	local got
	got=$(jv "$T/body" error 2>/dev/null)
	if [ "$STATUS" = "$1" ] && [ "$got" = "$2" ] && grep -qi '^content-type: application/json' "$T/headers"; then
		ok
	else
		bad "$3: status $STATUS error '$got', expected $1 $2"
	fi
}

# jv FILE KEY...: the value at that path of a JSON file (strings raw, the rest as JSON).
jv() {
	"$PY" - "$@" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v if isinstance(v, str) else json.dumps(v))
EOF
}

# blob_files: every file under the blob store, temporary ones (blobs/tmp/) included.
blob_files() { find "$DATA/blobs" -type f | sort; }

# header NAME: the value of a response header of the last request (first one, CR stripped).
header() {
	grep -i "^$1:" "$T/headers" | head -1 | cut -d: -f2- | sed 's/^ //' | tr -d '\r'
}

# ---- accounts, as a client does them (API.md §13), for the drivers. They need KDF (the
# mcd_testkdf binary) and work in $T. ----

# NAME.pub holds two PEM blocks: the encryption key, then the signing key.
split_pub() { # split_pub NAME
	awk -v n="$1" '/BEGIN PUBLIC KEY/{i++} i==1{print > (n ".enc.pem")} i==2{print > (n ".sign.pem")}' "$1.pub"
}

# register_body FILE USER INVITATION DISPLAY [ENC_PEM]: writes a registration request; the
# password is pw-USER, the salt random, kdf t=2 m=19456 p=1 (the server's minimum, for speed).
register_body() {
	local file=$1 user=$2 inv=$3 display=$4 enc=${5:-$2.enc.pem}
	local salt auth
	salt=$(head -c 16 /dev/urandom | base64)
	auth=$("$KDF" "pw-$user" "$salt" 2 19456 1 | head -1)
	echo "$salt" >"salt.$user"
	INV="$inv" USERNAME="$user" DISPLAY_NAME="$display" SALT="$salt" AUTH="$auth" ENC="$enc" SIGN="$user.sign.pem" \
		"$PY" - >"$file" <<'EOF'
import base64, json, os
e = os.environ
body = {
    "username": e["USERNAME"], "display_name": e["DISPLAY_NAME"], "salt": e["SALT"],
    "kdf": {"alg": "argon2id", "t": 2, "m": 19456, "p": 1}, "auth_key": e["AUTH"],
    "enc_public_key": open(e["ENC"]).read(), "sign_public_key": open(e["SIGN"]).read(),
    "wrapped_keys": {"password": base64.b64encode(os.urandom(80)).decode(),
                     "recovery": base64.b64encode(os.urandom(80)).decode()},
}
if e["INV"]:
    body["invitation"] = e["INV"]
print(json.dumps(body))
EOF
}

# register USER INVITATION [DISPLAY]: registers, keeps the session cookie and CSRF token.
register() {
	register_body "reg.$1.json" "$1" "$2" "${3:-User $1}"
	rm -f "jar.$1"
	api POST /api/v1/register -b "jar.$1" -c "jar.$1" -H 'Content-Type: application/json' --data-binary "@reg.$1.json"
	[ "$STATUS" = 201 ] && jv "$T/body" csrf_token >"csrf.$1"
}

# login USER [PASSWORD]: pre-login, derive, login (solving a proof of work when asked).
login() {
	local user=$1 pw=${2:-pw-$1}
	api POST /api/v1/prelogin -H 'Content-Type: application/json' --data-binary "{\"username\":\"$user\"}"
	local salt t m p auth pow
	salt=$(jv "$T/body" salt)
	t=$(jv "$T/body" kdf t) m=$(jv "$T/body" kdf m) p=$(jv "$T/body" kdf p)
	auth=$("$KDF" "$pw" "$salt" "$t" "$m" "$p" | head -1)
	pow=$(jv "$T/body" pow)
	local extra=""
	[ "$pow" != null ] && extra=",\"pow\":$(solve_pow "$pow")"
	rm -f "jar.$user"
	api POST /api/v1/login -b "jar.$user" -c "jar.$user" -H 'Content-Type: application/json' \
		--data-binary "{\"username\":\"$user\",\"auth_key\":\"$auth\"$extra}"
	[ "$STATUS" = 200 ] && jv "$T/body" csrf_token >"csrf.$user"
	return 0
}

# solve_pow '{"challenge":..,"bits":..}': a {"challenge","nonce"} object that meets it.
solve_pow() {
	"$PY" - "$1" <<'EOF'
import base64, hashlib, json, sys
c = json.loads(sys.argv[1]); ch = base64.b64decode(c["challenge"]); bits = c["bits"]
n = 0
while True:
    nonce = n.to_bytes(8, "big")
    h = int.from_bytes(hashlib.sha256(ch + nonce).digest(), "big")
    if h >> (256 - bits) == 0:
        break
    n += 1
print(json.dumps({"challenge": c["challenge"], "nonce": base64.b64encode(nonce).decode()}))
EOF
}

auth_key_of() { # auth_key_of USER: from the stored salt
	"$KDF" "pw-$1" "$(cat "salt.$1")" 2 19456 1 | head -1
}

invite() { # invite ROLE: prints a code made by the admin
	as admin POST /api/v1/invitations -H 'Content-Type: application/json' --data-binary "{\"role\":\"$1\"}"
	[ "$STATUS" = 201 ] && jv "$T/body" code
}
