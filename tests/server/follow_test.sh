#!/usr/bin/env bash
# follow_test.sh: `medcrypt inbox --follow` (issue 12, item 6; docs/API.md §17a) against a real
# medcryptd. Doctor A follows in the background; a message from the technician appears within a
# few seconds as one line (ID, sender, first line: never the second line, and control characters
# as ?); an image sent about the patient appears with its ID and sender and nothing of its
# metadata (no patient name, PatientID, file name, study); the patient's --json follow sees
# doctor B's consent request as one JSON object per line, with the ID that `consent list` shows.
# A server restart is survived: the follower says on stderr that it lost the stream and
# reconnected (with Last-Event-ID), a message sent while it was stopped (SIGSTOP) across the
# restart is caught up from the list, a later message still arrives, and no item shows twice. SIGTERM and SIGINT end it
# with exit 0; a logout ends the session and the follower exits 10 with the login hint. The
# --follow examples of `medcrypt inbox --help` and of the man page's Messages section run here.
#
# usage: tests/server/follow_test.sh [path/to/medcrypt [path/to/medcryptd]]
# Ends with "follow: N passed, M failed".
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/e2e_setup.sh" "$@"
for tool in img2dcm cjpeg curl; do
	command -v $tool >/dev/null || { echo "follow: $tool missing (scripts/bootstrap installs it)" >&2; exit 1; }
done
declare -A FOLLOW_PID=()
stop_followers() {
	local p
	for p in "${FOLLOW_PID[@]}"; do kill -KILL "$p" 2>/dev/null; done
}
trap 'stop_followers; server_kill; rm -rf "$T"' EXIT

as() { # as USER COMMAND...: medcrypt as USER (own MEDCRYPT_HOME, password in the environment)
	local u=$1
	shift
	MEDCRYPT_HOME=$T/home-$u MEDCRYPT_PASSPHRASE=$(pw "$u") MEDCRYPT_ASSUME_YES=1 "$MEDCRYPT" "$@"
}
# follow NAME USER [ARGS...]: USER's `inbox --follow ARGS` in the background, NAME.out and NAME.err
follow() {
	local name=$1 u=$2
	shift 2
	: >"$name.out"
	: >"$name.err"
	MEDCRYPT_HOME=$T/home-$u MEDCRYPT_PASSPHRASE=$(pw "$u") "$MEDCRYPT" inbox --follow "$@" \
		>"$name.out" 2>"$name.err" </dev/null &
	FOLLOW_PID[$name]=$!
}
# end NAME SIGNAL: sends SIGNAL and waits; the exit status in $CODE (not in a $(...): a subshell
# cannot wait for the suite's children)
end() {
	kill "-$2" "${FOLLOW_PID[$1]}" 2>/dev/null
	wait "${FOLLOW_PID[$1]}"
	CODE=$?
	unset "FOLLOW_PID[$1]"
}
# exits NAME SECONDS: waits for the follower to exit by itself; its status in $CODE, or "running"
exits() {
	local i
	CODE=running
	for i in $(seq 1 $(($2 * 10))); do
		if ! kill -0 "${FOLLOW_PID[$1]}" 2>/dev/null; then
			wait "${FOLLOW_PID[$1]}"
			CODE=$?
			unset "FOLLOW_PID[$1]"
			return
		fi
		sleep 0.1
	done
}
expect_in() { # expect_in FILE TEXT DESCRIPTION
	if grep -qF -- "$2" "$1"; then ok; else bad "$3: '$2' not in $(head -c 600 "$1")"; fi
}
expect_not_in() { # expect_not_in FILE TEXT DESCRIPTION
	if grep -qiF -- "$2" "$1"; then bad "$3: '$2' is in $1"; else ok; fi
}

# ---- a fake DICOM with distinctive metadata (no real data) ----
/usr/bin/python3 -c '
import random, sys
random.seed(7)
sys.stdout.buffer.write(b"P5 32 32 255\n" + bytes(random.randrange(256) for _ in range(1024)))' >small.pgm
cjpeg small.pgm >small.jpg
PATIENT_NAME="Wallaby^Henrietta"
PATIENT_ID=PID-FOLLOW-5531
FILE_NAME=knee-of-henrietta.dcm
check "img2dcm" img2dcm -k "PatientName=$PATIENT_NAME" -k PatientID=$PATIENT_ID -k StudyDate=20230411 \
	-k Modality=MR -k "StudyDescription=Left knee kookaburra" small.jpg "$FILE_NAME"

# ---- server and accounts ----
check "server starts" server_start
check "admin registers" as admin register "$INVITATION" --user admin --url "$URL" --fingerprint "$SERVER_FP"
declare -A role=([tech]=technician [doca]=doctor [docb]=doctor [pat]=patient)
for u in tech doca docb pat; do
	if as admin invite --role "${role[$u]}" >.code 2>.err; then ok; else bad "invite $u: $(cat .err)"; fi
	check "register $u" as $u register "$(cat .code)" --user $u --url "$URL"
done
check "pat appoints doca" as pat appoint doca
check "tech writes doca before the follow" as tech msg doca "An old note before following"

# ---- doctor A follows; the patient follows with --json ----
follow fa doca
wait_for fa.err 'following new items' 10 && ok || bad "doca's follow did not start: $(cat fa.err)"
expect_in fa.out "An old note before following" "the listing comes first"
follow fp pat --json
wait_for fp.out '"messages"' 10 && ok || bad "pat's follow did not list: $(cat fp.err)"
sleep 0.5 # both streams open

# a message: one line with ID, sender and first line only
FIRST="Potassium high emu-4471"
SECOND="second line wombat-9902 stays sealed"
if as tech msg doca "$FIRST"$'\n'"$SECOND" >.mid 2>.err; then ok; else bad "msg: $(cat .err)"; fi
MID=$(cat .mid)
wait_for fa.out "^message  $MID .*from tech .*$FIRST" 5 && ok || bad "the message did not appear: $(cat fa.out fa.err)"
expect_not_in fa.out "wombat" "the second line was printed"
# control characters of the text reach the terminal as ?
if as tech msg doca $'bell\a and \e[31mred' >.mid2 2>.err; then ok; else bad "msg with escapes: $(cat .err)"; fi
wait_for fa.out "^message  $(cat .mid2) .*bell? and ?\[31mred" 5 && ok || bad "escapes not replaced: $(tail -2 fa.out | od -c | head)"
if grep -q $'\e' fa.out; then bad "an escape character reached the output"; else ok; fi

# an image: its ID and sender, nothing of its metadata
if as tech send "$FILE_NAME" --patient pat --to doca >.iid 2>.err; then ok; else bad "send: $(cat .err)"; fi
IID=$(grep -oE '[0-9a-f]{32}' .iid | head -1)
[ -n "$IID" ] && ok || bad "send printed no image ID: $(cat .iid)"
wait_for fa.out "^image    $IID .*from tech" 5 && ok || bad "the image did not appear: $(cat fa.out fa.err)"
for secret in Wallaby Henrietta "$PATIENT_ID" 20230411 kookaburra knee "$FILE_NAME" "Left knee" DICOM; do
	expect_not_in fa.out "$secret" "doca's follow output"
	expect_not_in fp.out "$secret" "pat's follow output"
done
expect_not_in fa.out '"sealed"' "the sealed bytes"

# a consent request by doctor B, seen by the patient's --json follow
if as docb consent request pat --reason "Second opinion on the knee" >.cid 2>.err; then ok; else bad "consent request: $(cat .err)"; fi
CID=$(grep -oE '[0-9a-f]{32}' .cid | head -1)
[ -n "$CID" ] && ok || bad "consent request printed no ID: $(cat .cid)"
wait_for fp.out "\"event\":\"consent\",\"id\":\"$CID\"" 5 && ok || bad "the consent event did not appear: $(cat fp.out fp.err)"
if as pat consent list >.list 2>.err; then ok; else bad "consent list: $(cat .err)"; fi
expect_in .list "$CID" "consent list shows the event's ID"
expect_not_in fp.out "Second opinion" "the reason in the patient's follow"
# every line of --json is one JSON object
/usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    assert isinstance(json.loads(line), dict), line' fp.out && ok || bad "--follow --json: not one object per line: $(cat fp.out)"

# ---- a server restart is survived; what came while doca's follower was away is caught up ----
kill -STOP "${FOLLOW_PID[fa]}"
check "server stops" server_stop
sleep 1
check "server restarts" server_start
AWAY="Sent while doca was away: dingo-2207"
if as tech msg doca "$AWAY" >.mid5 2>.err; then ok; else bad "msg while away: $(cat .err)"; fi
kill -CONT "${FOLLOW_PID[fa]}"
wait_for fa.out "^message  $(cat .mid5) .*from tech .*$AWAY" 15 && ok ||
	bad "the message sent while away was not caught up: $(cat fa.out fa.err)"
wait_for fa.err 'reconnected' 15 && ok || bad "doca's follow did not reconnect: $(cat fa.err)"
grep -qE 'event stream ended|lost the event stream' fa.err && ok || bad "the drop is not on stderr: $(cat fa.err)"
wait_for fp.err 'reconnected' 15 && ok || bad "pat's follow did not reconnect: $(cat fp.err)"
LATER="After the restart: koala-3318"
if as tech msg doca "$LATER" >.mid3 2>.err; then ok; else bad "msg after restart: $(cat .err)"; fi
wait_for fa.out "^message  $(cat .mid3) .*from tech .*$LATER" 5 && ok || bad "no message after the restart: $(cat fa.out fa.err)"
check "pat appoints docb" as pat appoint docb
if as docb msg pat "Hello from B" >.mid4 2>.err; then ok; else bad "docb msg pat: $(cat .err)"; fi
wait_for fp.out "\"event\":\"message\",\"id\":\"$(cat .mid4)\"" 5 && ok || bad "pat's follow missed a message: $(cat fp.out)"
grep -F "\"id\":\"$(cat .mid4)\"" fp.out | grep -qF '"text":"Hello from B"' && ok || bad "the JSON has no text: $(tail -1 fp.out)"

# each item once: no replay or catch-up repeats one, nor shows the old listing again as new
for id in "$MID" "$(cat .mid2)" "$IID" "$(cat .mid3)" "$(cat .mid5)"; do
	[ "$(grep -c "$id" fa.out)" = 1 ] && ok || bad "$id is shown $(grep -c "$id" fa.out) times: $(cat fa.out)"
done
[ "$(grep -c "An old note before following" fa.out)" = 1 ] && ok || bad "the old note is shown again: $(cat fa.out)"

# ---- SIGTERM and SIGINT end it with 0 ----
end fa TERM
[ "$CODE" = 0 ] && ok || bad "SIGTERM: not exit 0: $(tail -3 fa.err)"
end fp INT
[ "$CODE" = 0 ] && ok || bad "SIGINT: not exit 0: $(tail -3 fp.err)"

# ---- the session's end: exit 10 with the login hint ----
follow fb docb
wait_for fb.err 'following new items' 10 && ok || bad "docb's follow did not start: $(cat fb.err)"
check "docb logs out" as docb logout
exits fb 15
[ "$CODE" = 10 ] && ok || bad "after logout: $CODE, want 10: $(cat fb.err)"
expect_in fb.err "medcrypt login" "the login hint"
[ "$CODE" = running ] && end fb KILL

# ---- the --follow examples of the help and the man page ----
mkdir -p "$T/bin" && ln -sf "$MEDCRYPT" "$T/bin/medcrypt"
mapfile -t examples < <(
	"$MEDCRYPT" inbox --help | sed -n '/^examples:/,$s/^  \(.*medcrypt .*--follow.*\)/\1/p'
	sed -n '/^\.SS "Messages"/,/^\.S[SH] /{s/\\-/-/g;s/^\$ \(.*medcrypt .*--follow.*\)/\1/p}' "$REPO/docs/medcrypt.1"
)
[ "${#examples[@]}" -ge 2 ] && ok || bad "--follow examples found: ${#examples[@]}"
n=0
for example in "${examples[@]}"; do
	n=$((n + 1)) # a file of its own: the last example's output must not satisfy wait_for
	PATH=$T/bin:$PATH MEDCRYPT_HOME=$T/home-doca MEDCRYPT_PASSPHRASE=$(pw doca) bash -c "exec $example" \
		>ex$n.out 2>ex$n.err </dev/null &
	FOLLOW_PID[ex]=$!
	if wait_for ex$n.err 'following new items' 10; then
		end ex INT
		[ "$CODE" = 0 ] && ok || bad "example '$example': exit $CODE on SIGINT, want 0: $(cat ex$n.err)"
	else
		bad "example '$example' did not follow: $(cat ex$n.err)"
		end ex KILL
	fi
done

server_stop
if grep -q "Sanitizer\|runtime error" "$T/server.log" fa.err fp.err fb.err 2>/dev/null; then
	bad "a sanitizer report: $(grep -h -A5 'Sanitizer\|runtime error' "$T/server.log" fa.err fp.err fb.err | head -20)"
else ok; fi
summary follow
