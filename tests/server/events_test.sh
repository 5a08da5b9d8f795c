#!/usr/bin/env bash
# events_test.sh: GET /api/v1/events (docs/API.md §17a) against a real medcryptd. The admin
# invites a technician and two doctors with the CLI; each doctor holds an event stream open
# (curl -N in the background, writing to a file). The technician's `medcrypt send` of a DICOM
# to doctor A reaches A's stream as an `image` event within 2 s, carrying the image id and
# nothing else: no file name, patient name, patient id or other metadata value; doctor B, not a
# recipient, hears nothing. A share to B gives B `image`, a revoke `revoked`; a reconnect with
# Last-Event-ID replays only what came after it. No session: 401. Over --max-event-streams:
# 503 with Retry-After, and a closed stream frees its place. Logout ends the stream, and the
# server stops cleanly with streams open.
#
# usage: tests/server/events_test.sh [path/to/medcrypt [path/to/medcryptd]]
# Ends with "events: N passed, M failed".
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/e2e_setup.sh" "$@"
for tool in img2dcm cjpeg curl; do
	command -v $tool >/dev/null || { echo "events: $tool missing (scripts/bootstrap installs it)" >&2; exit 1; }
done
trap 'for p in "${STREAM_PID[@]}"; do kill "$p" 2>/dev/null; done; server_kill; rm -rf "$T"' EXIT
MAX_STREAMS=3

ended() { # ended NAME SECONDS: the stream's curl exits within SECONDS
	local i
	for i in $(seq 1 $(($2 * 10))); do
		kill -0 "${STREAM_PID[$1]}" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# ---- a fake DICOM with distinctive metadata (no real data) ----
/usr/bin/python3 -c '
import random, sys
random.seed(11)
sys.stdout.buffer.write(b"P5 32 32 255\n" + bytes(random.randrange(256) for _ in range(1024)))' >small.pgm
cjpeg small.pgm >small.jpg
PATIENT_NAME="Wombat^Theodora"
PATIENT_ID=PID-EVENTS-5531
FILE_NAME=knee-of-theodora.dcm
check "img2dcm" img2dcm -k "PatientName=$PATIENT_NAME" -k PatientID=$PATIENT_ID -k StudyDate=20230405 \
	-k Modality=MR -k "StudyDescription=Left knee 88" small.jpg "$FILE_NAME"

# ---- server and accounts ----
check "server starts" server_start --max-event-streams $MAX_STREAMS
check "admin registers" env MEDCRYPT_ASSUME_YES=1 MEDCRYPT_HOME=$T/home-admin MEDCRYPT_PASSPHRASE="$(pw admin)" \
	"$MEDCRYPT" register "$INVITATION" --user admin --url "$URL" --fingerprint "$SERVER_FP"
declare -A role=([tech]=technician [doca]=doctor [docb]=doctor [pat]=patient)
for u in tech doca docb pat; do
	if as admin invite --role "${role[$u]}" >.code 2>.err; then ok; else bad "invite $u: $(cat .err)"; fi
	check "register $u" env MEDCRYPT_ASSUME_YES=1 MEDCRYPT_HOME=$T/home-$u MEDCRYPT_PASSPHRASE="$(pw $u)" \
		"$MEDCRYPT" register "$(cat .code)" --user $u --url "$URL"
done
# every image names its patient, who appointed the doctors it goes to (API.md §15)
check "pat appoints doctor A" as pat appoint doca
check "pat appoints doctor B" as pat appoint docb

# ---- no session ----
code=$(curl_events -o nosession.body -w '%{http_code}' -m 5)
[ "$code" = 401 ] && ok || bad "no session: status $code, expected 401"
code=$(curl_events -b "__Host-medcrypt=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" -o /dev/null -w '%{http_code}' -m 5)
[ "$code" = 401 ] && ok || bad "unknown session: status $code, expected 401"

# ---- the streams and their headers ----
open_stream a doca && ok || bad "doctor A's stream did not start: $(cat a.err a.h)"
open_stream b docb && ok || bad "doctor B's stream did not start: $(cat b.err b.h)"
grep -q '^HTTP/1.1 200' a.h && ok || bad "stream status: $(head -1 a.h)"
grep -qi '^content-type: text/event-stream' a.h && ok || bad "no text/event-stream: $(cat a.h)"
grep -qi '^cache-control: no-store' a.h && ok || bad "no Cache-Control: no-store"
grep -qi '^x-content-type-options: nosniff' a.h && ok || bad "no nosniff"
grep -qi '^content-security-policy: ' a.h && ok || bad "no CSP"
grep -qi '^strict-transport-security: ' a.h && ok || bad "no HSTS"
[ "$(head -1 a.s)" = "retry: 3000" ] && ok || bad "the stream does not start with retry: $(head -c 100 a.s)"

# ---- a send reaches the recipient, and only the recipient ----
if as tech send "$FILE_NAME" --patient pat --to doca >.id 2>.err; then ok; else bad "send: $(cat .err)"; fi
ID=$(tail -1 .id | grep -oE '[0-9a-f]{32}' | head -1)
[ -n "$ID" ] && ok || bad "no image id printed: $(cat .id)"
wait_for a.s '^event: image$' 2 && ok || bad "doctor A: no image event within 2 s: $(cat a.s)"
wait_for a.s "^data: {\"id\":\"$ID\",\"at\":[0-9]*}$" 1 && ok || bad "doctor A: the event names another id: $(cat a.s)"
grep -q '^id: [0-9][0-9]*$' a.s && ok || bad "doctor A: the event has no id line"
sleep 0.5
if grep -q '^event:' b.s; then bad "doctor B, not a recipient, heard: $(cat b.s)"; else ok; fi
for secret in "$FILE_NAME" knee Wombat Theodora "$PATIENT_ID" 20230405 "Left knee" tech; do
	if grep -qiF -- "$secret" a.s a.h; then bad "the stream carries '$secret'"; else ok; fi
done
# nothing but the fields of API.md §17a
if grep -vE '^(retry: 3000|id: [0-9]+|event: (image|revoked)|data: \{"id":"[0-9a-f]{32}","at":[0-9]+\}|: keepalive|)$' a.s; then
	bad "doctor A's stream holds other lines"
else ok; fi

# ---- share and revoke ----
check "doctor A shares with doctor B" as doca share "$ID" --to docb
wait_for b.s '^event: image$' 2 && ok || bad "doctor B: no image event after the share: $(cat b.s)"
check "doctor A revokes B" as doca revoke "$ID" --from docb
wait_for b.s '^event: revoked$' 2 && ok || bad "doctor B: no revoked event: $(cat b.s)"
grep -q "^data: {\"id\":\"$ID\"" b.s && ok || bad "the revoked event names another id"
if grep -c '^event:' a.s | grep -qx 1; then ok; else bad "doctor A heard of B's share or revoke: $(cat a.s)"; fi

# ---- Last-Event-ID: only what came after ----
image_seq=$(grep '^id: ' b.s | head -1 | cut -d' ' -f2)
open_stream b2 docb -H "Last-Event-ID: $image_seq" && ok || bad "reconnect with Last-Event-ID"
wait_for b2.s '^event: revoked$' 2 && ok || bad "the revoke was not replayed: $(cat b2.s)"
if grep -q '^event: image$' b2.s; then bad "an event before Last-Event-ID was replayed"; else ok; fi

# ---- --max-event-streams: a, b and b2 are open ----
code=$(curl_events -b "__Host-medcrypt=$(token_of docb)" -D over.h -o over.body -w '%{http_code}' -m 5)
[ "$code" = 503 ] && ok || bad "over --max-event-streams: status $code, expected 503"
grep -qi '^retry-after: [0-9]' over.h && ok || bad "503 without Retry-After: $(cat over.h)"
grep -q '"busy"' over.body && ok || bad "503 body: $(cat over.body)"
close_stream b2
opened=no
for i in $(seq 1 30); do # the place is freed once the hub sees the hang-up and reaps (≤ 2 s)
	code=$(curl_events -b "__Host-medcrypt=$(token_of docb)" -o /dev/null -w '%{http_code}' -m 1 2>/dev/null)
	if [ "$code" = 200 ]; then
		opened=yes
		break
	fi
	sleep 0.2
done
[ $opened = yes ] && ok || bad "a closed stream did not free its place"

# ---- logout ends the stream; the others keep going ----
check "doctor A logs out" as doca logout
ended a 5 && ok || bad "doctor A's stream outlived the logout"
kill -0 "${STREAM_PID[b]}" 2>/dev/null && ok || bad "doctor B's stream ended with A's logout"

# ---- the server stops cleanly with streams open ----
kill -TERM "$SERVER_PID"
rc=0
wait "$SERVER_PID" || rc=$?
SERVER_PID=""
[ $rc = 0 ] && ok || bad "medcryptd exited $rc when stopped with streams open"
ended b 5 && ok || bad "doctor B's stream outlived the server"
if grep -q "Sanitizer\|runtime error" "$T/server.log"; then
	bad "sanitizer: $(grep -A20 'Sanitizer\|runtime error' "$T/server.log" | head -30)"
else ok; fi

summary events
