# e2e_lib.sh: starting and stopping a real medcryptd for the client suites, on a free loopback
# port, with its data directory in the suite's temporary directory $T (tests/cli/lib.sh). Source
# tests/cli/lib.sh first, and set MEDCRYPTD to the server binary.
#
#   server_start [ARGS...]   starts medcryptd --listen 127.0.0.1:$PORT --data-dir $DATA ARGS,
#                            waits until it answers, and sets $SERVER_PID, $URL, and on a first
#                            start $SERVER_FP (certificate fingerprint) and $INVITATION
#   server_stop              SIGTERM, and waits for it
#   server_kill              SIGKILL, and waits for it
DATA=$T/data
PORT=""
SERVER_PID=""
SERVER_FP=""
INVITATION=""

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

server_start() {
	[ -n "$PORT" ] || PORT=$(free_port)
	URL=https://localhost:$PORT
	local out=$T/server-$$-$RANDOM.out
	"$MEDCRYPTD" --listen 127.0.0.1:$PORT --data-dir "$DATA" "$@" >"$out" 2>>"$T/server.log" &
	SERVER_PID=$!
	local i
	for i in $(seq 1 100); do
		if curl -sk --tlsv1.3 -o /dev/null "https://127.0.0.1:$PORT/healthz" 2>/dev/null; then
			break
		fi
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			echo "FAIL: medcryptd did not start: $(tail -5 "$T/server.log")" >&2
			return 1
		fi
		sleep 0.1
	done
	local fp inv
	fp=$(awk '/SHA-256 fingerprint:/ {getline; print $1; exit}' "$out")
	inv=$(awk '/invitation:/ {print $2}' "$out")
	[ -n "$fp" ] && SERVER_FP=$fp
	[ -n "$inv" ] && INVITATION=$inv
	return 0
}

server_stop() {
	[ -n "$SERVER_PID" ] || return 0
	kill -TERM "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID" 2>/dev/null
	SERVER_PID=""
}

server_kill() {
	[ -n "$SERVER_PID" ] || return 0
	kill -KILL "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID" 2>/dev/null
	SERVER_PID=""
}

# ---- Server-Sent Events (GET /api/v1/events) as the CLI's logged-in USER ----
#   open_stream NAME USER [CURL ARGS...]  USER's stream in the background: body NAME.s, headers NAME.h
#   close_stream NAME; wait_for FILE PATTERN SECONDS; token_of USER; curl_events [CURL ARGS...]
# A suite that opens streams kills what is left on exit: for p in "${STREAM_PID[@]}"; do kill "$p"; done
declare -A STREAM_PID=()
token_of() { # token_of USER: the session cookie's value from the CLI's session file
	/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"] or "")' "$T/home-$1/session"
}
curl_events() { # curl_events [CURL ARGS...]: GET /api/v1/events
	curl -sS -N --tlsv1.3 --cacert "$DATA/tls.crt" --resolve "localhost:$PORT:127.0.0.1" "$@" "$URL/api/v1/events"
}
# open_stream NAME USER [CURL ARGS...]: USER's stream in the background, body in NAME.s, headers
# in NAME.h
open_stream() {
	local name=$1 user=$2
	shift 2
	: >"$name.s"
	# curl itself in the background, not a subshell, so that its pid is the one killed
	curl -sS -N --tlsv1.3 --cacert "$DATA/tls.crt" --resolve "localhost:$PORT:127.0.0.1" \
		-b "__Host-medcrypt=$(token_of "$user")" -D "$name.h" -o "$name.s" "$@" "$URL/api/v1/events" 2>"$name.err" &
	STREAM_PID[$name]=$!
	wait_for "$name.s" '^retry: ' 5
}
close_stream() { # close_stream NAME
	kill "${STREAM_PID[$1]}" 2>/dev/null
	wait "${STREAM_PID[$1]}" 2>/dev/null
	unset "STREAM_PID[$1]"
}
# wait_for FILE PATTERN SECONDS: true as soon as FILE has a line matching PATTERN
wait_for() {
	local i
	for i in $(seq 1 $(($3 * 20))); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# ---- a real SMTP server on loopback (python3-aiosmtpd) delivering into $MAILDIR ----
#   smtp_start, smtp_stop, mails (how many were delivered), wait_mails N SECONDS
# Set SMTP_PORT and MAILDIR first.
SMTP_PID=""
smtp_stop() {
	if [ -n "$SMTP_PID" ]; then
		kill "$SMTP_PID" 2>/dev/null
		wait "$SMTP_PID" 2>/dev/null
		SMTP_PID=""
	fi
}
smtp_start() { # an SMTP server on $SMTP_PORT, delivering into $MAILDIR
	/usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$MAILDIR" \
		>"$T/smtp.log" 2>&1 &
	SMTP_PID=$!
	local i
	for i in $(seq 1 100); do
		/usr/bin/python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
			"$SMTP_PORT" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
mails() { # the number of mails delivered
	find "$MAILDIR/new" -type f 2>/dev/null | wc -l
}
wait_mails() { # wait_mails N SECONDS: true once N mails are there
	local i
	for i in $(seq 1 $(($2 * 10))); do
		[ "$(mails)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
