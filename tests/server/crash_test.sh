#!/usr/bin/env bash
# crash_test.sh: `kill -9` of medcryptd while 20 uploads are in flight (issue 4, item 10), then a
# restart: every upload that was acknowledged (201) is listed and opens bit-exact with
# `medcrypt open`, no partial blob is visible (the blob store's tmp/ is emptied and every blob is
# named by its own SHA-256), `PRAGMA integrity_check` passes and the audit chain verifies.
# Uploads are slowed with curl --limit-rate and sized 200 KB apart, so the kill lands while
# some have been acknowledged and others are still sending.
# usage: tests/server/crash_test.sh BUILD_DIR
set -u
BUILD=$(cd "${1:-build}" && pwd)
MEDCRYPTD="$BUILD/src/medcryptd/medcryptd"
MEDCRYPT="$BUILD/src/medcrypt/medcrypt"
KDF="$BUILD/tests/mcd_testkdf"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
export MEDCRYPT_PASSPHRASE="server test passphrase: not a real one"
N=20

for who in tech doctor pat; do
	"$MEDCRYPT" keygen -o "$who" >/dev/null || bad "keygen $who"
	split_pub "$who"
done
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out admin.rsa 2>/dev/null &&
	openssl pkey -in admin.rsa -pubout -out admin.enc.pem && openssl genpkey -algorithm ED25519 -out admin.ed &&
	openssl pkey -in admin.ed -pubout -out admin.sign.pem || bad "admin keys"
mkdir in sealed
for i in $(seq 1 $N); do head -c $((i * 200000)) /dev/urandom >"in/scan$i.bin"; done
"$MEDCRYPT" seal -r doctor.pub -r pat.pub -r tech.pub --sign tech.key -o sealed in/*.bin >/dev/null || bad "seal $N files"

server_start || { bad "server start"; summary server-crash; exit 1; }
register admin "$(sed -n 's/^ *invitation: //p' "$T/server.out")"
expect_status 201 "register admin"
for pair in tech:technician doctor:doctor pat:patient; do
	register "${pair%%:*}" "$(invite "${pair##*:}")"
	expect_status 201 "register ${pair%%:*}"
done
# every image names its patient, who appointed the doctor (API.md §15)
as pat POST /api/v1/appointments -H 'Content-Type: application/json' --data '{"doctor":"doctor"}'
expect_status 201 "pat appoints the doctor"

# 20 uploads at 1 MB/s each; the smallest finish in 0.2 s, the largest would take 4 s
for i in $(seq 1 $N); do
	curl -sS --tlsv1.3 --cacert "$CERT" --resolve "localhost:$PORT:127.0.0.1" --limit-rate 1M \
		-b jar.tech -H "X-CSRF-Token: $(cat csrf.tech)" -H 'Content-Type: application/octet-stream' \
		--data-binary "@sealed/scan$i.bin.medcrypt" -o "up$i.json" -w '%{http_code}' \
		"$URL/api/v1/images?patient=pat" >"up$i.status" 2>/dev/null &
done
sleep 1.6
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
SERVER_PID=""
wait
acked=0
: >acked.list
for i in $(seq 1 $N); do
	if [ "$(cat "up$i.status")" = 201 ]; then
		acked=$((acked + 1))
		echo "$i $(jv "up$i.json" id)" >>acked.list
	fi
done
[ "$acked" -ge 1 ] && ok || bad "some uploads were acknowledged before the kill"
[ "$acked" -lt $N ] && ok || bad "the kill interrupted some uploads (acknowledged: $acked)"

server_start || { bad "restart after kill -9"; summary server-crash; exit 1; }
[ -z "$(blob_files | grep /blobs/tmp/)" ] && ok || bad "partial blobs removed at start"
for f in $(blob_files); do
	[ "$(sha256sum "$f" | cut -c1-64)" = "$(basename "$(dirname "$f")")$(basename "$f")" ] && ok ||
		bad "blob $f is not whole"
done
as doctor GET /api/v1/images
expect_status 200 "the session survived the crash"
listed=$(jv "$T/body" images | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$listed" = "$acked" ] && ok || bad "listed $listed images, acknowledged $acked"
while read -r i id; do
	as doctor GET "/api/v1/images/$id/wrap"
	cp "$T/body" w.bin
	as doctor GET "/api/v1/images/$id/blob"
	expect_status 200 "blob $i after the crash"
	{ head -c 9 "$T/body"; printf '\000\001'; cat w.bin; tail -c +12 "$T/body"; } >"got$i.mc"
	"$MEDCRYPT" open -k doctor.key --trust tech.pub -o "got$i.bin" "got$i.mc" >/dev/null 2>&1 &&
		same "in/scan$i.bin" "got$i.bin" || bad "acknowledged upload $i does not open"
done <acked.list
server_stop && ok || bad "stop"
[ "$(sqlite3 "$DATA/medcryptd.db" 'PRAGMA integrity_check')" = ok ] && ok || bad "PRAGMA integrity_check"
check "audit verify after the crash" "$MEDCRYPTD" audit verify --data-dir "$DATA"
summary server-crash
