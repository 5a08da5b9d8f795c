#!/usr/bin/env bash
# tus_test.sh: resumable uploads (docs/API.md §15a, tus 1.0.0) against a real medcryptd. Over
# raw HTTPS with curl: OPTIONS, creation (its limits and refusals), HEAD, PATCH in pieces with
# every refusal (wrong offset 409, wrong type 415, no or another Tus-Resumable 412, past the
# length 413), another user's upload answering 404 exactly like a missing one, DELETE, the
# per-user cap, a bad sealed file and a wrap for nobody refused at the last byte with nothing
# stored, a server restart in the middle followed by a resume that completes, the stored blob
# byte-identical to the sent file and opened bit-exact, expiry by the periodic sweep and at
# start, and a partial file without a row removed at start. Then the CLI: `medcrypt send`
# through a loopback proxy that cuts the connection in the middle of the upload resumes it, and
# the recipient's `get` gives exactly the original bytes.
# usage: tests/server/tus_test.sh BUILD_DIR
set -u
BUILD=$(cd "${1:-build}" && pwd)
MEDCRYPTD="$BUILD/src/medcryptd/medcryptd"
MEDCRYPT="$BUILD/src/medcrypt/medcrypt"
KDF="$BUILD/tests/mcd_testkdf"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
export MEDCRYPT_PASSPHRASE="server test passphrase: not a real one"
MAX_UPLOAD=50000000
SERVER_ARGS=(--max-upload $MAX_UPLOAD --max-open-uploads 4 --threads 4)
PROXY_PID=""
trap 'server_kill; [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null; rm -rf "$T"' EXIT

TUS=(-H 'Tus-Resumable: 1.0.0')
# patch USER UPLOAD_PATH OFFSET FILE: one PATCH with FILE as its body
patch() {
	as "$1" PATCH "$2" "${TUS[@]}" -H 'Content-Type: application/offset+octet-stream' -H "Upload-Offset: $3" \
		--data-binary "@$4"
}
# create USER LENGTH [CURL ARGS...]: POST /api/v1/uploads; sets LOC (the Location path)
create() {
	local user=$1 length=$2
	shift 2
	# every upload names its patient (API.md §15): pat, unless the caller gives its own Upload-Metadata
	local meta=(-H "Upload-Metadata: patient $(printf pat | base64)")
	case "$*" in *Upload-Metadata:*) meta=() ;; esac
	as "$user" POST /api/v1/uploads "${TUS[@]}" -H "Upload-Length: $length" "${meta[@]}" "$@"
	LOC=$(header Location)
}
images_of() { # images_of USER: how many images USER's listing has
	as "$1" GET /api/v1/images
	jv "$T/body" images | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))'
}
partial_of() { echo "$DATA/uploads/${1##*/}"; } # partial_of LOC: the partial file on disk
# blob_of FILE: the blob the server stores for a sealed file (its wraps removed, wrap_count 0)
blob_of() {
	"$PY" - "$1" <<'EOF'
import sys
d = open(sys.argv[1], "rb").read(); n = int.from_bytes(d[9:11], "big"); off = 11
for _ in range(n): off += 35 + int.from_bytes(d[off + 33:off + 35], "big")
sys.stdout.buffer.write(d[:9] + b"\0\0" + d[off:])
EOF
}

# ---- accounts: admin, a technician and two doctors (curl), keys from medcrypt keygen ----
for who in tech doctor pat; do
	"$MEDCRYPT" keygen -o "$who" >/dev/null && split_pub "$who" || bad "keygen $who"
done
for who in admin doctor2 stranger; do
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$who.rsa" 2>/dev/null &&
		openssl pkey -in "$who.rsa" -pubout -out "$who.enc.pem" &&
		openssl genpkey -algorithm ED25519 -out "$who.ed" && openssl pkey -in "$who.ed" -pubout -out "$who.sign.pem" ||
		bad "openssl keys for $who"
done
server_start "${SERVER_ARGS[@]}" || { bad "server start"; summary server-tus; exit 1; }
register admin "$(sed -n 's/^ *invitation: //p' "$T/server.out")"
expect_status 201 "register the admin"
for pair in tech:technician doctor:doctor doctor2:doctor pat:patient; do
	register "${pair%%:*}" "$(invite "${pair##*:}")"
	expect_status 201 "register ${pair%%:*}"
done
for d in doctor doctor2; do
	as pat POST /api/v1/appointments -H 'Content-Type: application/json' --data "{\"doctor\":\"$d\"}"
	expect_status 201 "pat appoints $d"
done

# ---- OPTIONS ----
api OPTIONS /api/v1/uploads
expect_status 204 "OPTIONS"
[ "$(header Tus-Version)" = 1.0.0 ] && ok || bad "Tus-Version: $(header Tus-Version)"
[ "$(header Tus-Extension)" = creation,termination,expiration ] && ok || bad "Tus-Extension: $(header Tus-Extension)"
[ "$(header Tus-Max-Size)" = $MAX_UPLOAD ] && ok || bad "Tus-Max-Size is --max-upload: $(header Tus-Max-Size)"
[ "$(header Tus-Resumable)" = 1.0.0 ] && ok || bad "OPTIONS carries Tus-Resumable"

# ---- creation and its refusals ----
head -c 3000000 /dev/urandom >scan.bin
"$MEDCRYPT" seal -r doctor.pub -r pat.pub -r tech.pub --sign tech.key -o scan.mc scan.bin || bad "seal"
SIZE=$(stat -c %s scan.mc)
as tech POST /api/v1/uploads -H "Upload-Length: $SIZE"
expect_error 412 tus_version "creation without Tus-Resumable"
[ "$(header Tus-Version)" = 1.0.0 ] && ok || bad "a 412 names the version spoken"
[ "$(header Tus-Resumable)" = 1.0.0 ] && ok || bad "an error answer carries Tus-Resumable"
as tech POST /api/v1/uploads -H 'Tus-Resumable: 0.2.2' -H "Upload-Length: $SIZE"
expect_error 412 tus_version "creation with another protocol version"
api POST /api/v1/uploads "${TUS[@]}" -H "Upload-Length: $SIZE"
expect_error 401 unauthenticated "creation without a session"
api POST /api/v1/uploads -b jar.tech "${TUS[@]}" -H "Upload-Length: $SIZE"
expect_error 403 csrf "creation without the CSRF token"
create admin "$SIZE"
expect_error 403 forbidden "the admin may not upload"
create tech $((MAX_UPLOAD + 1))
expect_error 413 too_large "Upload-Length over --max-upload"
as tech POST /api/v1/uploads "${TUS[@]}"
expect_error 400 bad_request "creation without Upload-Length"
create tech 0
expect_error 400 bad_request "Upload-Length 0"
create tech "-5"
expect_error 400 bad_request "a negative Upload-Length"
as tech POST /api/v1/uploads "${TUS[@]}" -H 'Upload-Defer-Length: 1'
expect_error 400 bad_request "Upload-Defer-Length (not offered)"
create tech "$SIZE" -H 'Upload-Metadata: name not*base64'
expect_error 400 bad_request "malformed Upload-Metadata"
# padding only at the end of a value, two '=' at most (found by fuzz/fuzz_tus)
for value in 'P=TT' 'Q===' '====' 'QQ=A'; do
	create tech "$SIZE" -H "Upload-Metadata: kind $value"
	expect_error 400 bad_request "Upload-Metadata with the value '$value'"
done
before_blobs=$(blob_files)
create tech "$SIZE" -H 'Upload-Metadata: kind c2VhbGVk,empty,n QQ==,m QUI=,patient cGF0'
expect_status 201 "create an upload"
[[ $LOC =~ ^/api/v1/uploads/[0-9a-f]{32}$ ]] && ok || bad "Location: '$LOC'"
[ "$(header Upload-Offset)" = 0 ] && ok || bad "creation answers Upload-Offset 0"
[[ $(header Upload-Expires) =~ ^[A-Z][a-z]{2},\ [0-9]{2}\ [A-Z][a-z]{2}\ [0-9]{4}\ [0-9:]{8}\ GMT$ ]] && ok ||
	bad "Upload-Expires is an HTTP date: '$(header Upload-Expires)'"
[ "$(header Tus-Resumable)" = 1.0.0 ] && ok || bad "creation carries Tus-Resumable"
P=$(partial_of "$LOC")
[ -f "$P" ] && [ "$(stat -c %a "$P")" = 600 ] && [ "$(stat -c %s "$P")" = 0 ] && ok ||
	bad "an empty partial file of mode 0600"
[ "$(stat -c %a "$DATA/uploads")" = 700 ] && ok || bad "uploads directory mode 0700"

# ---- HEAD, and another user's upload is a missing one ----
as tech HEAD "$LOC" "${TUS[@]}" -I
expect_status 200 "HEAD"
[ "$(header Upload-Offset)" = 0 ] && [ "$(header Upload-Length)" = "$SIZE" ] && ok ||
	bad "HEAD: offset $(header Upload-Offset) length $(header Upload-Length)"
[ "$(header Upload-Metadata)" = "kind c2VhbGVk,empty,n QQ==,m QUI=,patient cGF0" ] && ok || bad "HEAD returns Upload-Metadata"
[ "$(header Cache-Control)" = no-store ] && ok || bad "HEAD is not cached"
as tech HEAD "$LOC" -I
[ "$STATUS" = 412 ] && ok || bad "HEAD without Tus-Resumable: $STATUS"
MISSING=/api/v1/uploads/0123456789abcdef0123456789abcdef
for method in HEAD PATCH DELETE; do
	args=("${TUS[@]}")
	[ $method = HEAD ] && args+=(-I)
	[ $method = PATCH ] && args+=(-H 'Content-Type: application/offset+octet-stream' -H 'Upload-Offset: 0' --data-binary x)
	as doctor $method "$LOC" "${args[@]}"
	[ "$STATUS" = 404 ] && ok || bad "$method of another user's upload: $STATUS"
	cp "$T/body" other.body
	as doctor $method "$MISSING" "${args[@]}"
	[ "$STATUS" = 404 ] && ok || bad "$method of a missing upload: $STATUS"
	cmp -s other.body "$T/body" && ok || bad "$method: another's upload and a missing one answer alike"
done
as tech HEAD /api/v1/uploads/NOT-AN-ID "${TUS[@]}" -I
[ "$STATUS" = 404 ] && ok || bad "HEAD of a malformed id: $STATUS"

# ---- PATCH in pieces, with its refusals ----
head -c 1000000 scan.mc >piece1
tail -c +1000001 scan.mc | head -c 1000000 >piece2
tail -c +2000001 scan.mc >piece3
# The refusals below are of headers, answered before the body is read: a small body, so that curl
# has sent it all before the server answers and closes (a 1 MB one raced the close: status 000).
head -c 100 piece1 >small
as tech PATCH "$LOC" "${TUS[@]}" -H 'Content-Type: application/octet-stream' -H 'Upload-Offset: 0' --data-binary @small
expect_error 415 unsupported_media_type "PATCH as application/octet-stream"
as tech PATCH "$LOC" -H 'Content-Type: application/offset+octet-stream' -H 'Upload-Offset: 0' --data-binary @small
expect_error 412 tus_version "PATCH without Tus-Resumable"
patch tech "$LOC" 5 small
expect_error 409 conflict "PATCH at a wrong offset"
[ "$(header Upload-Offset)" = 0 ] && ok || bad "a 409 names the server's offset"
as tech PATCH "$LOC" "${TUS[@]}" -H 'Content-Type: application/offset+octet-stream' --data-binary @small
expect_error 400 bad_request "PATCH without Upload-Offset"
{ cat scan.mc; printf 'X'; } >toolong
patch tech "$LOC" 0 toolong
expect_error 413 too_large "PATCH past Upload-Length"
patch tech "$LOC" 0 piece1
expect_status 204 "PATCH the first piece"
[ "$(header Upload-Offset)" = 1000000 ] && ok || bad "Upload-Offset after the first piece: $(header Upload-Offset)"
[ -n "$(header Upload-Expires)" ] && ok || bad "PATCH answers Upload-Expires"
as tech HEAD "$LOC" "${TUS[@]}" -I
[ "$(header Upload-Offset)" = 1000000 ] && ok || bad "HEAD after the first piece"
[ "$(stat -c %s "$P")" = 1000000 ] && ok || bad "the partial file holds the first piece"
cmp -s "$P" piece1 && ok || bad "the partial file is the bytes sent"
[ "$(blob_files)" = "$before_blobs" ] && ok || bad "no blob before the last byte"
[ "$(images_of doctor)" = 0 ] && ok || bad "no image before the last byte"

# ---- a server restart in the middle, then the resume completes ----
server_stop || bad "server stop (exit $?)"
server_start "${SERVER_ARGS[@]}" || { bad "server restart"; summary server-tus; exit 1; }
as tech HEAD "$LOC" "${TUS[@]}" -I
expect_status 200 "HEAD after a restart"
[ "$(header Upload-Offset)" = 1000000 ] && ok || bad "the offset survived the restart: $(header Upload-Offset)"
patch tech "$LOC" 1000000 piece2
expect_status 204 "PATCH the second piece after the restart"
patch tech "$LOC" 2000000 piece3
expect_status 201 "the last PATCH stores the image"
header Content-Type | grep -q '^application/json' && ok || bad "the last PATCH answers JSON"
[ "$(header Upload-Offset)" = "$SIZE" ] && ok || bad "the last PATCH answers Upload-Offset $SIZE"
ID=$(jv "$T/body" id)
SHA=$(jv "$T/body" sha256)
[[ $ID =~ ^[0-9a-f]{32}$ ]] && ok || bad "an image id: $ID"
[ "$(jv "$T/body" recipients | tr -d ' ')" = '["doctor","pat","tech"]' ] && ok || bad "recipients: $(jv "$T/body" recipients)"
blob_of scan.mc >expected.blob
[ "$(jv "$T/body" size)" = "$(stat -c %s expected.blob)" ] && ok || bad "size is the blob's"
[ "$SHA" = "$(sha256sum expected.blob | cut -c1-64)" ] && ok || bad "sha256 is the blob's"
[ ! -e "$P" ] && ok || bad "the partial file is gone once stored"
as tech HEAD "$LOC" "${TUS[@]}" -I
[ "$STATUS" = 404 ] && ok || bad "a completed upload is gone: $STATUS"
as doctor GET "/api/v1/images/$ID/blob"
expect_status 200 "the doctor fetches the blob"
cmp -s "$T/body" expected.blob && ok || bad "the stored blob is byte-identical to the sent file (without its wraps)"
cp "$T/body" blob.bin
as doctor GET "/api/v1/images/$ID/wrap"
cp "$T/body" doctor.wrap
{ head -c 9 blob.bin; printf '\000\001'; cat doctor.wrap; tail -c +12 blob.bin; } >doctor.mc
"$MEDCRYPT" open -k doctor.key --trust tech.pub -o doctor.out doctor.mc >/dev/null 2>open.err &&
	ok || bad "medcrypt open of blob + wrap: $(cat open.err)"
same scan.bin doctor.out
as admin GET '/api/v1/audit?limit=1000'
"$PY" - "$T/body" "$ID" <<'EOF' && ok || bad "the completed upload is audited as an upload"
import json, sys
found = []
def walk(v):
    if isinstance(v, dict):
        if v.get("action") == "upload" and v.get("object") == sys.argv[2]: found.append(v)
        for x in v.values(): walk(x)
    elif isinstance(v, list):
        for x in v: walk(x)
for line in open(sys.argv[1]):
    if line.strip(): walk(json.loads(line))
sys.exit(0 if len(found) == 1 and found[0].get("outcome") == "ok" else 1)
EOF

# ---- refused at the last byte: nothing stored, the upload removed ----
before_blobs=$(blob_files)
cp scan.mc badsig.mc
flip badsig.mc $((SIZE - 5))
create tech "$SIZE"
patch tech "$LOC" 0 piece1
expect_status 204 "a bad file's first piece is taken (the check runs at the end)"
tail -c +1000001 badsig.mc >rest
patch tech "$LOC" 1000000 rest
expect_error 400 bad_container "a signed file with a bad signature is refused at the last byte"
[ ! -e "$(partial_of "$LOC")" ] && ok || bad "a refused upload's partial file is removed"
as tech HEAD "$LOC" "${TUS[@]}" -I
[ "$STATUS" = 404 ] && ok || bad "a refused upload is gone: $STATUS"
"$MEDCRYPT" seal -r stranger.enc.pem -r tech.pub -o to-stranger.mc scan.bin || bad "seal for a stranger"
create tech "$(stat -c %s to-stranger.mc)"
patch tech "$LOC" 0 to-stranger.mc
expect_error 400 unknown_recipient "a wrap for no user's key, in one PATCH"
[ "$(blob_files)" = "$before_blobs" ] && ok || bad "refused uploads left blobs: $(blob_files)"
[ "$(images_of tech)" = 1 ] && ok || bad "refused uploads left no image"

# ---- DELETE and the per-user cap ----
create tech 1000
D1=$LOC
as tech DELETE "$D1"
expect_error 412 tus_version "DELETE without Tus-Resumable"
as tech DELETE "$D1" "${TUS[@]}"
expect_status 204 "DELETE"
[ ! -e "$(partial_of "$D1")" ] && ok || bad "DELETE removes the partial file"
as tech DELETE "$D1" "${TUS[@]}"
expect_error 404 not_found "DELETE again"
for i in 1 2 3 4; do
	create tech 1000
	expect_status 201 "open upload $i of 4"
	echo "$LOC" >>open.list
done
create tech 1000
expect_error 429 too_many_uploads "a fifth open upload"
create doctor 1000
expect_status 201 "the cap is per user"
while read -r loc; do as tech DELETE "$loc" "${TUS[@]}"; done <open.list
create tech 1000
expect_status 201 "after deleting, uploads can start again"

# ---- the CLI: send through a proxy that cuts the connection mid-upload, then get ----
cat >proxy.py <<'EOF'
# A loopback TCP proxy that forwards TLS untouched and, once, cuts a connection (RST) when it
# has carried more than CUT bytes towards the server; later connections pass.
import socket, sys, threading
target, cut, flag, portfile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
lsock = socket.socket(); lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lsock.bind(("127.0.0.1", 0)); lsock.listen(64)
open(portfile, "w").write(str(lsock.getsockname()[1]))
state = {"cut": False}
lock = threading.Lock()
def rst(*socks):
    # shutdown first: a close() alone waits for the other thread's recv() on the socket
    for s in socks:
        try: s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        except OSError: pass
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
        s.close()
def serve(c):
    s = socket.create_connection(("127.0.0.1", target))
    def down():
        try:
            while (d := s.recv(65536)): c.sendall(d)
        except OSError: pass
        rst(c, s)
    threading.Thread(target=down, daemon=True).start()
    sent = 0
    try:
        while (d := c.recv(65536)):
            sent += len(d)
            with lock:
                now = not state["cut"] and sent > cut
                if now: state["cut"] = True
            if now:
                open(flag, "w").close(); rst(c, s); return
            s.sendall(d)
    except OSError: pass
    rst(c, s)
while True:
    conn, _ = lsock.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
EOF
"$PY" proxy.py "$PORT" 20000000 cut.flag proxy.port &
PROXY_PID=$!
for _ in $(seq 1 50); do [ -s proxy.port ] && break; sleep 0.1; done
PPORT=$(cat proxy.port)
FP=$(awk '/SHA-256 fingerprint:/ {getline; print $1; exit}' "$T/server.out")
pw() { echo "$1's passphrase: granite cello orbit 42"; }
cli() { # cli USER COMMAND...: medcrypt as USER
	local u=$1
	shift
	MEDCRYPT_HOME=$T/home-$u MEDCRYPT_PASSPHRASE=$(pw "$u") "$MEDCRYPT" "$@"
}
check "register a sending technician" cli nurse register "$(invite technician)" --user nurse \
	--url "https://localhost:$PORT" --fingerprint "$FP"
check "register a receiving doctor" cli radiologist register "$(invite doctor)" --user radiologist \
	--url "https://localhost:$PORT" --fingerprint "$FP"
check "register the patient the image is about" cli patty register "$(invite patient)" --user patty \
	--url "https://localhost:$PORT" --fingerprint "$FP"
check "the patient appoints the doctor" cli patty appoint radiologist
check "the sender logs in through the proxy" cli nurse login "https://localhost:$PPORT" --user nurse --fingerprint "$FP"
head -c 36000000 /dev/urandom >big.bin
partials_before=$(find "$DATA/uploads" -type f | wc -l)
if cli nurse send big.bin --patient patty --to radiologist >send.out 2>send.err; then ok; else bad "send through a cut connection: $(tail -3 send.err)"; fi
[ -e cut.flag ] && ok || bad "the proxy cut a connection during the send"
grep -q "the upload was interrupted" send.err && ok || bad "send says it resumed: $(tail -3 send.err)"
BIG_ID=$(cat send.out)
[[ $BIG_ID =~ ^[0-9a-f]{32}$ ]] && ok || bad "send printed an id, as before: '$BIG_ID'"
check "the recipient gets it" cli radiologist get "$BIG_ID" -o big.out
same big.bin big.out
[ "$(find "$DATA/uploads" -type f | wc -l)" = "$partials_before" ] && ok ||
	bad "the send left a partial file: $(find "$DATA/uploads" -type f)"
kill "$PROXY_PID" 2>/dev/null
wait "$PROXY_PID" 2>/dev/null
PROXY_PID=""
server_stop || bad "server stop (exit $?)"

# ---- expiry: the periodic sweep, the sweep at start, orphans at start ----
server_start "${SERVER_ARGS[@]}" --upload-expiry 2 || { bad "server start with --upload-expiry 2"; summary server-tus; exit 1; }
create tech 1000
E1=$(partial_of "$LOC")
head -c 100 /dev/urandom >hundred
patch tech "$LOC" 0 hundred
expect_status 204 "PATCH an upload that will expire"
sleep 3
as tech HEAD "$LOC" "${TUS[@]}" -I
expect_status 404 "an expired upload answers 404"
for _ in $(seq 1 50); do [ -e "$E1" ] || break; sleep 0.2; done
[ ! -e "$E1" ] && ok || bad "the sweep removed the expired upload's file"
create tech 1000
E2=$(partial_of "$LOC")
server_stop || bad "server stop (exit $?)"
touch "$DATA/uploads/00000000000000000000000000000abc"
chmod 600 "$DATA/uploads/00000000000000000000000000000abc"
sleep 3
server_start "${SERVER_ARGS[@]}" || { bad "server start"; summary server-tus; exit 1; }
[ ! -e "$E2" ] && ok || bad "an upload that expired while the server was down is removed at start"
[ ! -e "$DATA/uploads/00000000000000000000000000000abc" ] && ok || bad "a partial file without a row is removed at start"
"$MEDCRYPTD" audit verify --data-dir "$DATA" >/dev/null && ok || bad "the audit chain verifies"
server_stop || bad "server stop (exit $?)"
summary server-tus
