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
