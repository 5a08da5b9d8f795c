#!/usr/bin/env bash
# load_test.sh [MEDCRYPT] [MEDCRYPTD]: medcryptd's concurrent paths (the ones bench/server times)
# checked for what they must keep doing: 300 downloads from 32 clients at once are each answered
# whole and each audited once (the records wait in the audit queue, the replies wait for them);
# HEAD and ranges past byte 0 are not audited; SIGTERM during a stream of concurrent downloads
# ends the server cleanly (exit 0) with every answered download in the log and the chain intact;
# the listing is well-formed JSON with the documented fields; uploads of 3 and 12 MiB (the
# writer-thread path, past its 2 MiB ring) store the blob named by the SHA-256 of its bytes,
# and a truncated 12 MiB upload is refused with nothing left in the blob store.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/e2e_setup.sh" "$@"
for tool in sqlite3 curl xargs; do
	command -v $tool >/dev/null || { echo "load: $tool missing (scripts/bootstrap installs it)" >&2; exit 1; }
done

as() {
	local u=$1
	shift
	MEDCRYPT_HOME=$T/home-$u MEDCRYPT_PASSPHRASE=$(pw "$u") MEDCRYPT_ASSUME_YES=1 "$MEDCRYPT" "$@"
}
field() { "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
downloads() { sqlite3 "$DATA/medcryptd.db" "SELECT count(*) FROM audit WHERE action = 'download'"; }

check "server starts" server_start
check "admin registers" as admin register "$INVITATION" --user admin --url "$URL" --yes
for u in tech:technician doca:doctor pat:patient; do
	as admin invite --role "${u#*:}" >.code 2>.err && ok || bad "invite: $(cat .err)"
	check "register ${u%%:*}" as "${u%%:*}" register "$(cat .code)" --user "${u%%:*}" --url "$URL" --yes
done
check "pat appoints doca (every image names its patient)" as pat appoint doca
for i in 1 2 3; do
	head -c $((1000 + i * 100)) /dev/urandom >small$i.bin
	as tech send small$i.bin --patient pat --to doca >small$i.id 2>.err && ok || bad "send: $(cat .err)"
done
ID=$(cat small1.id)
DOCA=$(field "$T/home-doca/session" token)
TECH=$(field "$T/home-tech/session" token)
CSRF=$(field "$T/home-tech/session" csrf)
CURL=(curl -sS --tlsv1.3 --cacert "$DATA/tls.crt" --resolve "localhost:$PORT:127.0.0.1")

# ---- the listing ----
"${CURL[@]}" -H "Cookie: __Host-medcrypt=$DOCA" -o list.json "$URL/api/v1/images"
"$PY" - list.json <<'PY' && ok || bad "the doctor's listing"
import base64, json, sys
images = json.load(open(sys.argv[1]))["images"]
assert len(images) == 3, images
for im in images:
    assert set(im) == {"id", "sender", "created", "size", "sha256", "header", "wrap", "patient", "deidentified"}, im.keys()
    assert im["patient"] == "pat" and im["deidentified"] is False, im
    assert im["sender"] == "tech" and len(im["id"]) == 32 and len(im["sha256"]) == 64
    assert base64.b64decode(im["header"], validate=True)[:5] == b"\x89MEDC"
    assert len(base64.b64decode(im["wrap"], validate=True)) >= 384
assert [im["created"] for im in images] == sorted((im["created"] for im in images), reverse=True)
PY
"${CURL[@]}" -H "Cookie: __Host-medcrypt=$TECH" -o sent.json "$URL/api/v1/images?limit=2"
"$PY" - sent.json <<'PY' && ok || bad "the sender's listing has the recipients"
import json, sys
images = json.load(open(sys.argv[1]))["images"]
assert len(images) == 2 and all(im["recipients"] == ["doca", "pat", "tech"] for im in images), images
PY

# ---- 300 concurrent downloads: each whole, each audited once ----
"${CURL[@]}" -H "Cookie: __Host-medcrypt=$DOCA" -o one.blob "$URL/api/v1/images/$ID/blob"
before=$(downloads)
seq 1 300 | xargs -P 32 -I{} "${CURL[@]}" -H "Cookie: __Host-medcrypt=$DOCA" -o dl{}.blob \
	-w '%{http_code}\n' "$URL/api/v1/images/$ID/blob" >codes.txt 2>curl.err
[ "$(grep -c '^200$' codes.txt)" = 300 ] && ok || bad "not every download answered 200: $(sort codes.txt | uniq -c)"
differ=0
for i in $(seq 1 300); do cmp -s dl$i.blob one.blob || differ=$((differ + 1)); done
[ $differ = 0 ] && ok || bad "$differ downloads differ from the blob"
[ $(($(downloads) - before)) = 300 ] && ok || bad "download records: $(($(downloads) - before)), expected 300"
before=$(downloads)
"${CURL[@]}" -I -H "Cookie: __Host-medcrypt=$DOCA" -o /dev/null "$URL/api/v1/images/$ID/blob"
"${CURL[@]}" -H "Range: bytes=10-" -H "Cookie: __Host-medcrypt=$DOCA" -o /dev/null "$URL/api/v1/images/$ID/blob"
[ "$(downloads)" = "$before" ] && ok || bad "HEAD or a range past byte 0 was audited"

# ---- uploads through the writer thread ----
sealed() { # sealed MIB OUT: a signed sealed file for doca and pat, whom it is about
	head -c $(($1 << 20)) /dev/urandom >plain.bin
	MEDCRYPT_PASSPHRASE=$(pw tech) "$MEDCRYPT" seal -r "$T/home-doca/keys/doca.pub" -r "$T/home-pat/keys/pat.pub" \
		-r "$T/home-tech/keys/tech.pub" --sign "$T/home-tech/keys/tech.key" -o "$2" --force plain.bin
}
for mib in 3 12; do
	sealed $mib big$mib.mc 2>.err && ok || bad "seal $mib MiB: $(cat .err)"
	code=$("${CURL[@]}" -X POST -T big$mib.mc -H 'Content-Type: application/octet-stream' -H "X-CSRF-Token: $CSRF" \
		-H "Cookie: __Host-medcrypt=$TECH" -o up$mib.json -w '%{http_code}' "$URL/api/v1/images?patient=pat")
	[ "$code" = 201 ] && ok || bad "upload of $mib MiB: $code $(head -c 300 up$mib.json)"
	sha=$(field up$mib.json sha256)
	blob=$DATA/blobs/${sha:0:2}/${sha:2}
	[ -f "$blob" ] && [ "$(sha256sum <"$blob" | cut -c1-64)" = "$sha" ] && ok || bad "$mib MiB blob not named by its SHA-256"
	[ "$(stat -c %s "$blob")" = "$(field up$mib.json size)" ] && ok || bad "$mib MiB blob size"
	"${CURL[@]}" -H "Cookie: __Host-medcrypt=$TECH" -o got$mib.blob "$URL/api/v1/images/$(field up$mib.json id)/blob"
	cmp -s got$mib.blob "$blob" && ok || bad "$mib MiB blob downloads as stored"
done
blobs_before=$(find "$DATA/blobs" -type f | wc -l)
head -c $((12 << 20)) big12.mc >cut.mc
code=$("${CURL[@]}" -X POST -T cut.mc -H 'Content-Type: application/octet-stream' -H "X-CSRF-Token: $CSRF" \
	-H "Cookie: __Host-medcrypt=$TECH" -o cut.json -w '%{http_code}' "$URL/api/v1/images?patient=pat")
[ "$code" = 400 ] && grep -q bad_container cut.json && ok || bad "truncated 12 MiB upload: $code $(head -c 300 cut.json)"
[ "$(find "$DATA/blobs" -type f | wc -l)" = "$blobs_before" ] && ok || bad "the refused upload left a file"

# ---- SIGTERM during concurrent downloads ----
(
	for _ in $(seq 1 8); do
		(for _ in $(seq 1 400); do
			"${CURL[@]}" -H "Cookie: __Host-medcrypt=$DOCA" -o /dev/null -w '%{http_code}\n' \
				"$URL/api/v1/images/$ID/blob" 2>/dev/null || echo failed
		done) &
	done
	wait
) >stream.txt &
stream=$!
sleep 1.5
before_stop=$(grep -c '^200$' stream.txt)
kill -TERM "$SERVER_PID"
for _ in $(seq 1 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$SERVER_PID" 2>/dev/null; then
	bad "medcryptd still running 30 s after SIGTERM under load"
	kill -KILL "$SERVER_PID"
fi
rc=0
wait "$SERVER_PID" || rc=$?
SERVER_PID=""
wait $stream
answered=$(grep -c '^200$' stream.txt)
[ "$rc" = 0 ] && ok || bad "medcryptd exited $rc on SIGTERM under load"
[ "$before_stop" -gt 0 ] && ok || bad "no download was answered before SIGTERM"
! grep -q "Sanitizer\|runtime error" "$T/server.log" && ok || bad "sanitizer report: $(grep -m3 -A5 'Sanitizer\|runtime error' "$T/server.log")"
recorded=$(($(downloads) - before))
[ "$recorded" -ge "$answered" ] && ok || bad "$answered downloads answered but $recorded recorded"
check "audit verify after SIGTERM" "$MEDCRYPTD" audit verify --data-dir "$DATA"
[ "$(sqlite3 "$DATA/medcryptd.db" 'PRAGMA integrity_check')" = ok ] && ok || bad "integrity_check"

summary server-load
