#!/usr/bin/env bash
# http_test.sh: drives a real medcryptd over raw HTTPS with curl (docs/API.md Part 2): TLS 1.3
# only, security headers, health and metrics, pre-login without enumeration, registration with
# the first-start invitation, login, CSRF, roles, upload of real sealed files (made with
# `medcrypt seal`) and their round trip through list, wrap and blob (with Range) to a bit-exact
# `medcrypt open` (each upload names its patient, who appointed the doctors: API.md §14),
# object-level 404s, refused uploads that leave nothing behind, injection
# strings returned inert, share/revoke/delete, pending invitations listed (without their code)
# and cancelled, disabled users seen and enabled again by the admin only, lockout with its
# doubling and the proof of work, and the audit chain (verified, then tampered with and located)
# and the offline commands.
# usage: tests/server/http_test.sh BUILD_DIR
set -u
BUILD=$(cd "${1:-build}" && pwd)
MEDCRYPTD="$BUILD/src/medcryptd/medcryptd"
MEDCRYPT="$BUILD/src/medcrypt/medcrypt"
KDF="$BUILD/tests/mcd_testkdf"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
export MEDCRYPT_PASSPHRASE="server test passphrase: not a real one"
MAX_UPLOAD=3000000

# ---- keys: medcrypt identities for those who seal or open, openssl keys for the others ----
for who in tech doctor patient; do
	"$MEDCRYPT" keygen -o "$who" >/dev/null || bad "keygen $who"
done
for who in tech doctor patient; do split_pub "$who"; done
for who in admin admin2 selfie doctor2 researcher mallory stranger evil; do
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$who.rsa" 2>/dev/null &&
		openssl pkey -in "$who.rsa" -pubout -out "$who.enc.pem" &&
		openssl genpkey -algorithm ED25519 -out "$who.ed" && openssl pkey -in "$who.ed" -pubout -out "$who.sign.pem" ||
		bad "openssl keys for $who"
done
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out weak.rsa 2>/dev/null &&
	openssl pkey -in weak.rsa -pubout -out weak.enc.pem && cp evil.sign.pem weak.sign.pem

security_headers() { # security_headers WHAT: every header of API.md §12 on the last reply
	local h
	for h in "Strict-Transport-Security: max-age=63072000; includeSubDomains" \
		"Content-Security-Policy: default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'" \
		"X-Content-Type-Options: nosniff" "Referrer-Policy: no-referrer" "Cache-Control: no-store"; do
		if tr -d '\r' <"$T/headers" | grep -qixF "$h"; then ok; else bad "$1: missing '$h'"; fi
	done
}

# ================= start =================
server_start --lockout-base-seconds 5 --pow-bits 8 --max-upload $MAX_UPLOAD --threads 4 ||
	{ bad "server start"; summary server-http; exit 1; }
INVITE=$(sed -n 's/^ *invitation: //p' "$T/server.out")
[ ${#INVITE} = 32 ] && ok || bad "first start prints a 32-character invitation: '$INVITE'"
grep -q "medcrypt register $INVITE --user NAME --url https://localhost:$PORT" "$T/server.out" && ok || bad "first start prints the register command"
grep -q "medcrypt login https://localhost:$PORT" "$T/server.out" && ok || bad "first start prints the login command"
FP=$(openssl x509 -in "$CERT" -noout -fingerprint -sha256 | cut -d= -f2)
grep -qF "$FP" "$T/server.out" && ok || bad "the printed fingerprint is the certificate's"
[ "$(stat -c %a "$DATA")" = 700 ] && ok || bad "data directory mode 0700"
for f in tls.key server.secret audit.key; do
	[ "$(stat -c %a "$DATA/$f")" = 600 ] && ok || bad "$f mode 0600"
done
openssl x509 -in "$CERT" -noout -text | grep -q "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1" &&
	ok || bad "certificate SANs"
openssl x509 -in "$CERT" -noout -text | grep -q "id-ecPublicKey" && ok || bad "certificate key is ECDSA"

# ---- TLS 1.3 only ----
curl -sS --cacert "$CERT" --resolve "localhost:$PORT:127.0.0.1" --tls-max 1.2 -o /dev/null "$URL/healthz" 2>/dev/null &&
	bad "a TLS 1.2 handshake was accepted" || ok
openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 </dev/null >/dev/null 2>&1 && bad "openssl -tls1_2 connected" || ok
api GET /healthz
expect_status 200 "healthz over TLS 1.3"
[ "$(jv "$T/body" status)" = ok ] && ok || bad "healthz body"
security_headers "200 /healthz"
api GET /nowhere
expect_error 404 not_found "unknown route"
security_headers "404"
api GET /api/v1/me
expect_error 401 unauthenticated "me without a session"
security_headers "401"
api POST /api/v1/prelogin -H 'Content-Type: application/json' --data-binary '{"username":'
expect_error 400 bad_request "malformed JSON"
security_headers "400"
api GET /healthz -H "X-Padding: $(head -c 20000 /dev/zero | tr '\0' a)"
expect_error 431 too_large "request headers over 16 KiB"
api POST /api/v1/prelogin -H 'Content-Type: application/json' --data-binary "{\"username\":\"$(head -c 5000 /dev/zero | tr '\0' a)\"}"
expect_error 413 too_large "a JSON body over the route's limit"
api GET /metrics
expect_status 200 "metrics"
grep -q '^medcryptd_requests_total{route="healthz",status="200"} [1-9]' "$T/body" && ok || bad "metrics count healthz"
grep -q '^# TYPE medcryptd_request_duration_seconds histogram' "$T/body" && ok || bad "metrics histogram"
header Content-Type | grep -q '^text/plain' && ok || bad "metrics content type"

# ---- pre-login: same shape and a stable salt for unknown names ----
api POST /api/v1/prelogin -H 'Content-Type: application/json' --data-binary '{"username":"nobody"}'
expect_status 200 "prelogin unknown"
cp "$T/body" pre1.json
api POST /api/v1/prelogin -H 'Content-Type: application/json' --data-binary '{"username":"nobody"}'
cmp -s "$T/body" pre1.json && ok || bad "prelogin of an unknown name is stable"
[ "$(jv pre1.json pow)" = null ] && ok || bad "no proof of work before failures"
api POST /api/v1/prelogin -H 'Content-Type: text/plain' --data-binary '{"username":"nobody"}'
expect_error 400 bad_request "a JSON body sent as text/plain (what a cross-site form can send)"

# ---- registration ----
register admin "$INVITE" "Ada Admin"
expect_status 201 "register admin with the first-start invitation"
[ "$(jv "$T/body" user role)" = admin ] && ok || bad "the invitation fixes the role admin"
grep -qi '^set-cookie: __Host-medcrypt=[A-Za-z0-9_-]\{43\}; Path=/; Secure; HttpOnly; SameSite=Strict' "$T/headers" &&
	ok || bad "session cookie attributes"
register admin2 "$INVITE"
expect_error 409 conflict "an invitation is single-use"
register_body reg.self.json selfie "" "Self"
api POST /api/v1/register -H 'Content-Type: application/json' --data-binary @reg.self.json
expect_error 403 forbidden "patient self-signup is off by default"
WANT_FP=$(openssl pkey -pubin -in admin.enc.pem -outform DER | sha256sum | cut -c1-64)
as admin GET /api/v1/me
expect_status 200 "me"
[ "$(jv "$T/body" user enc_fingerprint)" = "$WANT_FP" ] && ok || bad "fingerprint is SHA-256 of the DER SPKI"
[ "$(jv "$T/body" csrf_token)" = "$(cat csrf.admin)" ] && ok || bad "me returns the session's CSRF token"

# invitations by the admin; CSRF on every state-changing request
api POST /api/v1/invitations -b jar.admin -H 'Content-Type: application/json' --data-binary '{"role":"doctor"}'
expect_error 403 csrf "invitation without a CSRF token"
api POST /api/v1/invitations -b jar.admin -H 'X-CSRF-Token: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' \
	-H 'Content-Type: application/json' --data-binary '{"role":"doctor"}'
expect_error 403 csrf "invitation with a wrong CSRF token"
for pair in tech:technician doctor:doctor doctor2:doctor patient:patient researcher:researcher mallory:patient; do
	user=${pair%%:*} role=${pair##*:}
	code=$(invite "$role")
	register "$user" "$code"
	expect_status 201 "register $user as $role"
	[ "$(jv "$T/body" user role)" = "$role" ] && ok || bad "$user has role $role"
done
code=$(invite patient)
register weak "$code" "Weak" weak.enc.pem
expect_error 400 bad_request "an RSA-2048 encryption key is refused"
code=$(invite patient)
register evil "$code" "Robert'); DROP TABLE users;-- <script>alert(1)</script> \"q\" \\ é"
expect_status 201 "register with injection strings in the display name"

# injection strings come back exactly, as JSON
as tech GET /api/v1/users/evil
expect_status 200 "get a user"
header Content-Type | grep -q '^application/json' && ok || bad "user as application/json"
[ "$(jv "$T/body" display_name)" = "Robert'); DROP TABLE users;-- <script>alert(1)</script> \"q\" \\ é" ] &&
	ok || bad "display name returned byte for byte"
as tech GET '/api/v1/users?role=doctor'
expect_status 200 "directory by role"
[ "$(jv "$T/body" users | "$PY" -c 'import json,sys; print(sorted(u["username"] for u in json.load(sys.stdin)))')" = "['doctor', 'doctor2']" ] &&
	ok || bad "directory lists the doctors (the users table survived)"

# ---- login ----
login doctor
expect_status 200 "login"
[ "$(jv "$T/body" wrapped_keys password)" = "$(jv reg.doctor.json wrapped_keys password)" ] && ok ||
	bad "login returns the password-wrapped keys"
api POST /api/v1/prelogin -H 'Content-Type: application/json' --data-binary '{"username":"doctor"}'
[ "$(jv "$T/body" salt)" = "$(cat salt.doctor)" ] && ok || bad "prelogin returns the user's salt"
[ "$(jv "$T/body" | "$PY" -c 'import json,sys; print(sorted(json.load(sys.stdin)))')" = \
	"$(jv pre1.json | "$PY" -c 'import json,sys; print(sorted(json.load(sys.stdin)))')" ] && ok ||
	bad "prelogin has the same shape for known and unknown names"
login tech
login patient
login researcher

# ---- pending invitations: listed without their code, cancelled (API.md §13) ----
CODE_X=$(invite doctor)
INV_X=$(jv "$T/body" id)
[[ $INV_X =~ ^[0-9a-f]{32}$ ]] && ok || bad "an invitation is named by 32 hex digits: '$INV_X'"
CODE_Y=$(invite researcher)
INV_Y=$(jv "$T/body" id)
as admin GET /api/v1/invitations
expect_status 200 "the admin lists pending invitations"
INV_X="$INV_X" INV_Y="$INV_Y" "$PY" - "$T/body" <<'EOF' && ok || bad "pending invitations: $(cat "$T/body")"
import json, os, sys
invs = json.load(open(sys.argv[1]))["invitations"]
byid = {i["id"]: i for i in invs}
x, y = byid[os.environ["INV_X"]], byid[os.environ["INV_Y"]]
assert set(x) == {"id", "role", "created", "expires", "created_by"}, x
assert x["role"] == "doctor" and y["role"] == "researcher" and x["created_by"] == "admin", x
assert isinstance(x["created"], int) and x["expires"] - x["created"] == 7 * 86400, x
# used ones (the first-start invitation among them) are not pending
assert all(i["created_by"] == "admin" for i in invs), invs
EOF
grep -qF -e "$CODE_X" -e "$CODE_Y" "$T/body" && bad "a listed invitation carries its code" || ok
as doctor GET /api/v1/invitations
expect_error 403 forbidden "a doctor cannot list invitations"
as doctor DELETE "/api/v1/invitations/$INV_X"
expect_error 403 forbidden "a doctor cannot cancel an invitation"
api DELETE "/api/v1/invitations/$INV_X" -b jar.admin
expect_error 403 csrf "cancel without the CSRF token"
as admin DELETE "/api/v1/invitations/$INV_X"
expect_status 204 "the admin cancels an invitation"
as admin DELETE "/api/v1/invitations/$INV_X"
expect_error 404 not_found "an invitation is cancelled once"
as admin DELETE /api/v1/invitations/0123456789abcdef0123456789abcdef
expect_error 404 not_found "cancel an unknown invitation"
as admin DELETE "/api/v1/invitations/$CODE_Y"
expect_error 404 not_found "an invitation is not named by its code"
as admin GET /api/v1/invitations
grep -q "$INV_X" "$T/body" && bad "a cancelled invitation is still listed" || ok
grep -q "$INV_Y" "$T/body" && ok || bad "the other invitation is still listed"
register stranger "$CODE_X"
expect_error 409 conflict "a cancelled invitation registers no one"
as admin GET "/api/v1/audit?limit=10000"
INV_X="$INV_X" "$PY" - "$T/body" <<'EOF' && ok || bad "invite_cancel in the audit log"
import json, os, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
c = [r for r in recs if r["action"] == "invite_cancel"]
assert len(c) == 1, c
assert c[0]["actor"] == "admin" and c[0]["object"] == os.environ["INV_X"] and c[0]["outcome"] == "ok", c
assert c[0]["detail"]["role"] == "doctor", c
EOF

# ---- roles ----
as admin GET /api/v1/images
expect_error 403 forbidden "admin gets no image list"
as admin POST /api/v1/images -H 'Content-Type: application/octet-stream' --data-binary 'x'
expect_error 403 forbidden "admin cannot upload"
as patient POST /api/v1/images -H 'Content-Type: application/octet-stream' --data-binary 'x'
expect_error 403 forbidden "patient cannot upload"
as tech GET /api/v1/audit
expect_error 403 forbidden "technician cannot read the audit log"
as researcher POST /api/v1/invitations -H 'Content-Type: application/json' --data-binary '{"role":"admin"}'
expect_error 403 forbidden "researcher cannot invite"
api GET /api/v1/images
expect_error 401 unauthenticated "no session, no images"

# ---- upload and round trip ----
# Every upload names the patient it is about, who appointed the doctors it goes to (API.md §14).
as patient POST /api/v1/appointments -H 'Content-Type: application/json' --data-binary '{"doctor":"doctor"}'
expect_status 201 "the patient appoints the doctor"
as patient POST /api/v1/appointments -H 'Content-Type: application/json' --data-binary '{"doctor":"doctor2"}'
expect_status 201 "the patient appoints doctor2"
UP="/api/v1/images?patient=patient"
head -c 300000 /dev/urandom >scan.bin
echo '{"PatientID":"TEST-0001","Modality":"CT"}' >scan.json
"$MEDCRYPT" seal -r patient.pub -r doctor.pub -r tech.pub --sign tech.key --meta scan.json -o scan.mc scan.bin ||
	bad "seal"
as tech POST /api/v1/images -H 'Content-Type: application/octet-stream' --data-binary @scan.mc
expect_error 400 patient_required "a technician's upload names its patient"
as tech POST "$UP" -H 'Content-Type: application/octet-stream' --data-binary @scan.mc
expect_status 201 "upload a sealed image"
ID=$(jv "$T/body" id)
SHA=$(jv "$T/body" sha256)
[ "$(jv "$T/body" recipients | tr -d ' ')" = '["patient","doctor","tech"]' ] && ok || bad "recipients: $(jv "$T/body" recipients)"
[ "$(jv "$T/body" patient)" = patient ] && [ "$(jv "$T/body" deidentified)" = false ] && ok ||
	bad "the answer names the patient: $(head -c 300 "$T/body")"
[ "$(blob_files | grep -vc /blobs/tmp/)" = 1 ] && ok || bad "one blob stored"
as doctor GET /api/v1/images
expect_status 200 "doctor lists"
[ "$(jv "$T/body" images 0 id)" = "$ID" ] && ok || bad "the doctor sees the image"
[ "$(jv "$T/body" images 0 wrap)" != null ] && ok || bad "the listing carries the doctor's wrap"
jv "$T/body" images 0 header | base64 -d >hdr.bin
as doctor GET "/api/v1/images/$ID/wrap"
expect_status 200 "fetch my wrap"
cp "$T/body" doctor.wrap
as doctor GET "/api/v1/images/$ID/blob"
expect_status 200 "fetch the blob"
cp "$T/body" blob.bin
[ "$(sha256sum blob.bin | cut -c1-64)" = "$SHA" ] && ok || bad "blob sha256"
[ "$(header ETag)" = "\"$SHA\"" ] && ok || bad "ETag is the blob's SHA-256"
[ "$(header Accept-Ranges)" = bytes ] && ok || bad "Accept-Ranges"
cmp -s hdr.bin <(head -c "$(stat -c %s hdr.bin)" blob.bin) && ok || bad "header is the blob's beginning"
[ "$(od -An -tu1 -j9 -N2 blob.bin | tr -s ' ')" = " 0 0" ] && ok || bad "the blob has wrap_count 0"
# reassemble: prefix, wrap_count 1, the wrap, the rest of the blob
{ head -c 9 blob.bin; printf '\000\001'; cat doctor.wrap; tail -c +12 blob.bin; } >doctor.mc
"$MEDCRYPT" open -k doctor.key --trust tech.pub -o doctor.out doctor.mc >/dev/null 2>open.err &&
	ok || bad "medcrypt open of blob + wrap: $(cat open.err)"
same scan.bin doctor.out
# Range, resume with If-Range, and an unsatisfiable range
as doctor GET "/api/v1/images/$ID/blob" -H 'Range: bytes=100-199'
expect_status 206 "range request"
cmp -s "$T/body" <(tail -c +101 blob.bin | head -c 100) && ok || bad "range bytes"
[ "$(header Content-Range)" = "bytes 100-199/$(stat -c %s blob.bin)" ] && ok || bad "Content-Range"
as doctor GET "/api/v1/images/$ID/blob" -H 'Range: bytes=1000-'
cat <(head -c 1000 blob.bin) "$T/body" >resumed.bin
same resumed.bin blob.bin
as doctor GET "/api/v1/images/$ID/blob" -H 'Range: bytes=-50' -H "If-Range: \"$SHA\""
expect_status 206 "suffix range with a matching If-Range"
cmp -s "$T/body" <(tail -c 50 blob.bin) && ok || bad "suffix range bytes"
as doctor GET "/api/v1/images/$ID/blob" -H 'Range: bytes=0-9' -H 'If-Range: "0000"'
expect_status 200 "If-Range that does not match sends the whole blob"
as doctor GET "/api/v1/images/$ID/blob" -H 'Range: bytes=99999999-'
expect_status 416 "range past the end"
as patient GET "/api/v1/images/$ID"
expect_status 200 "the patient sees the image"
[ "$(jv "$T/body" recipients 2>/dev/null)" = "" ] && ok || bad "recipients only for the sender"
as tech GET "/api/v1/images/$ID"
[ "$(jv "$T/body" recipients | "$PY" -c 'import json,sys; print(sorted(json.load(sys.stdin)))')" = "['doctor', 'patient', 'tech']" ] &&
	ok || bad "the sender sees the recipients: $(cat "$T/body" | head -c 300)"

# ---- object-level checks: 404 for what one may not see, like a missing id ----
for path in "" /wrap /blob; do
	as researcher GET "/api/v1/images/$ID$path"
	expect_error 404 not_found "researcher GET image$path (not shared)"
	cp "$T/body" idor.json
	as researcher GET "/api/v1/images/0123456789abcdef0123456789abcdef$path"
	cmp -s "$T/body" idor.json && ok || bad "IDOR answer equals the missing-id answer ($path)"
done
login doctor2
as doctor2 DELETE "/api/v1/images/$ID"
expect_error 404 not_found "another doctor cannot delete"
as doctor DELETE "/api/v1/images/$ID"
expect_error 404 not_found "a recipient cannot delete"
as researcher GET "/api/v1/images/../users"
[ "$STATUS" = 404 ] || [ "$STATUS" = 200 ] && ok || bad "path traversal"
as doctor GET "/api/v1/images/NOT-AN-ID/blob"
expect_error 404 not_found "malformed id"

# ---- refused uploads store nothing ----
before=$(blob_files)
"$MEDCRYPT" seal -r researcher.enc.pem -r patient.pub -r tech.pub -o to-researcher.mc scan.bin ||
	bad "seal for researcher"
as tech POST "$UP" -H 'Content-Type: application/octet-stream' --data-binary @to-researcher.mc
expect_error 403 forbidden "a technician may not send to a researcher"
"$MEDCRYPT" seal -r stranger.enc.pem -r patient.pub -r tech.pub -o to-stranger.mc scan.bin ||
	bad "seal for a stranger"
as tech POST "$UP" -H 'Content-Type: application/octet-stream' --data-binary @to-stranger.mc
expect_error 400 unknown_recipient "a wrap for no user's key"
cp scan.mc badmagic.mc
flip badmagic.mc 1
as tech POST "$UP" -H 'Content-Type: application/octet-stream' --data-binary @badmagic.mc
expect_error 400 bad_container "bad magic"
head -c 200000 scan.mc >truncated.mc
as tech POST "$UP" -H 'Content-Type: application/octet-stream' --data-binary @truncated.mc
expect_error 400 bad_container "truncated sealed file"
{ cat scan.mc; printf 'X'; } >appended.mc
as tech POST "$UP" -H 'Content-Type: application/octet-stream' --data-binary @appended.mc
expect_error 400 bad_container "a byte appended"
head -c 3100000 /dev/urandom >big.bin
"$MEDCRYPT" seal -r patient.pub -r doctor.pub -r tech.pub -o big.mc big.bin || bad "seal big"
as tech POST "$UP" -H 'Content-Type: application/octet-stream' --data-binary @big.mc
expect_error 413 too_large "upload over --max-upload"
# A signed file of 37 chunks: the server gathers 16 chunks at a time and hashes them together
# (sealed_check.c, with AVX-512). A flipped bit in a full chunk of the second batch, in the short
# last chunk, or in the signature is refused; the intact file is accepted further down.
head -c 2400000 /dev/urandom >signed37.bin
"$MEDCRYPT" seal -r patient.pub -r doctor.pub -r tech.pub --sign tech.key -o signed37.mc signed37.bin ||
	bad "seal signed37"
s37=$(stat -c %s signed37.mc)
for at in "$((s37 - 64 - 65552 * 10)):a full chunk" "$((s37 - 64 - 100)):the last chunk" "$((s37 - 5)):the signature"; do
	cp signed37.mc bad37.mc
	flip bad37.mc "${at%%:*}"
	as tech POST "$UP" -H 'Content-Type: application/octet-stream' --data-binary @bad37.mc
	expect_error 400 bad_container "a signed 37-chunk file with a bit flipped in ${at#*:}"
done
head -c $((s37 - 64 - 65552 * 3)) signed37.mc >bad37.mc
as tech POST "$UP" -H 'Content-Type: application/octet-stream' --data-binary @bad37.mc
expect_error 400 bad_container "a signed 37-chunk file cut three chunks before its end"
[ "$(blob_files)" = "$before" ] && ok || bad "refused uploads left files: $(blob_files)"
as tech GET /api/v1/images
[ "$(jv "$T/body" images | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] && ok ||
	bad "refused uploads left no image"
as tech POST "$UP" -H 'Content-Type: application/octet-stream' --data-binary @signed37.mc
expect_status 201 "the intact signed 37-chunk file is accepted"
[ "$(jv "$T/body" sha256)" = "$("$PY" -c 'import hashlib, sys
d = open(sys.argv[1], "rb").read(); n = int.from_bytes(d[9:11], "big"); off = 11
for _ in range(n): off += 35 + int.from_bytes(d[off + 33:off + 35], "big")
print(hashlib.sha256(d[:9] + b"\0\0" + d[off:]).hexdigest())' signed37.mc)" ] && ok ||
	bad "the 37-chunk blob is named by the SHA-256 of the file without its wraps"
as tech DELETE "/api/v1/images/$(jv "$T/body" id)"
expect_status 204 "the sender deletes the 37-chunk image"
[ "$(blob_files)" = "$before" ] && ok || bad "its blob went with it: $(blob_files)"

# ---- share (re-authenticated), revoke, delete ----
"$MEDCRYPT" share -k doctor.key -r doctor2.enc.pem -o shared.mc doctor.mc >/dev/null 2>&1 || bad "medcrypt share"
# the new wrap is the last one of shared.mc: find it by its recipient
"$PY" - shared.mc doctor2.enc.pem >doctor2.wrap.b64 <<'EOF'
import base64, hashlib, subprocess, sys
data = open(sys.argv[1], "rb").read()
fp = hashlib.sha256(subprocess.run(["openssl", "pkey", "-pubin", "-in", sys.argv[2], "-outform", "DER"],
                                   capture_output=True, check=True).stdout).digest()
n = int.from_bytes(data[9:11], "big"); off = 11
for _ in range(n):
    ln = int.from_bytes(data[off + 33:off + 35], "big")
    if data[off + 1:off + 33] == fp:
        print(base64.b64encode(data[off:off + 35 + ln]).decode())
    off += 35 + ln
EOF
W2=$(cat doctor2.wrap.b64)
as doctor POST "/api/v1/images/$ID/shares" -H 'Content-Type: application/json' --data-binary "{\"to\":\"doctor2\",\"wrap\":\"$W2\"}"
expect_error 401 reauth_required "share needs a re-authentication"
as doctor POST /api/v1/reauth -H 'Content-Type: application/json' --data-binary "{\"auth_key\":\"$(auth_key_of doctor)\"}"
expect_status 204 "reauth"
as doctor POST "/api/v1/images/$ID/shares" -H 'Content-Type: application/json' --data-binary "{\"to\":\"researcher\",\"wrap\":\"$W2\"}"
expect_error 403 not_deidentified "a researcher receives no identified image"
[ "$(jv "$T/body" user)" = researcher ] && ok || bad "the refusal names the researcher"
as doctor POST "/api/v1/images/$ID/shares" -H 'Content-Type: application/json' --data-binary "{\"to\":\"patient\",\"wrap\":\"$W2\"}"
expect_error 400 unknown_recipient "a wrap that names someone else"
as doctor POST "/api/v1/images/$ID/shares" -H 'Content-Type: application/json' --data-binary "{\"to\":\"doctor2\",\"wrap\":\"$W2\"}"
expect_status 201 "doctor re-shares with doctor2"
as doctor POST "/api/v1/images/$ID/shares" -H 'Content-Type: application/json' --data-binary "{\"to\":\"doctor2\",\"wrap\":\"$W2\"}"
expect_error 409 conflict "the share exists"
as doctor2 GET "/api/v1/images/$ID/wrap"
expect_status 200 "doctor2 fetches the new wrap"
printf '%s' "$W2" | base64 -d | cmp -s - "$T/body" && ok || bad "doctor2's wrap as shared"
as patient POST /api/v1/reauth -H 'Content-Type: application/json' --data-binary "{\"auth_key\":\"$(auth_key_of patient)\"}"
as patient DELETE "/api/v1/images/$ID/shares/doctor2"
expect_error 404 not_found "the patient did not grant doctor2's share"
as doctor DELETE "/api/v1/images/$ID/shares/doctor2"
expect_status 204 "the granter revokes"
as doctor2 GET "/api/v1/images/$ID/blob"
expect_error 404 not_found "revoked: no blob"
api DELETE "/api/v1/images/$ID" -b jar.tech
expect_error 403 csrf "delete without the CSRF token"
as tech DELETE "/api/v1/images/$ID"
expect_status 204 "the sender deletes"
[ -z "$(blob_files | grep -v /blobs/tmp/)" ] && ok || bad "the blob is removed with its last image"
as doctor GET "/api/v1/images/$ID/wrap"
expect_error 404 not_found "deleted: every wrap is gone"

# ---- logout, logout everywhere ----
as researcher POST /api/v1/logout
expect_status 204 "logout"
grep -qi '^set-cookie: __Host-medcrypt=;.*Max-Age=0' "$T/headers" && ok || bad "logout clears the cookie"
as researcher GET /api/v1/me
expect_error 401 unauthenticated "the session ended"
cp jar.doctor2 jar.doctor2b
cp csrf.doctor2 csrf.doctor2b
login doctor2 # a second session of doctor2 (jar.doctor2); jar.doctor2b holds the first
as doctor2b GET /api/v1/me
expect_status 200 "two sessions of one user"
as doctor2 POST /api/v1/logout-all
expect_status 204 "logout everywhere"
as doctor2b GET /api/v1/me
expect_error 401 unauthenticated "logout everywhere ends the other session too"

# ---- user administration ----
as admin PATCH /api/v1/users/mallory -H 'Content-Type: application/json' --data-binary '{"role":"researcher"}'
expect_status 200 "admin changes a role"
[ "$(jv "$T/body" role)" = researcher ] && ok || bad "the new role"
login mallory
as mallory GET /api/v1/images
expect_status 200 "mallory signed in"
api PATCH /api/v1/users/mallory -b jar.admin -H 'Content-Type: application/json' --data-binary '{"disabled":true}'
expect_error 403 csrf "PATCH without the CSRF token"
as admin PATCH /api/v1/users/mallory -H 'Content-Type: application/json' --data-binary '{"disabled":true}'
expect_status 200 "admin disables a user"
[ "$(jv "$T/body" disabled)" = true ] && ok || bad "disabled in the answer"
as mallory GET /api/v1/images
expect_error 401 unauthenticated "disabling ends the user's sessions"
login mallory
expect_error 401 bad_credentials "a disabled user cannot log in"
as tech GET /api/v1/users/mallory
expect_error 404 not_found "a disabled user is hidden from the directory"
as tech GET /api/v1/users
grep -q '"mallory"' "$T/body" && bad "a disabled user is listed to a technician" || ok
grep -q '"disabled"' "$T/body" && bad "the directory tells a technician who is disabled" || ok
as admin GET /api/v1/users
expect_status 200 "the admin's user list"
"$PY" - "$T/body" <<'EOF' && ok || bad "the admin sees disabled users, marked: $(head -c 300 "$T/body")"
import json, sys
users = {u["username"]: u for u in json.load(open(sys.argv[1]))["users"]}
assert users["mallory"]["disabled"] is True, users["mallory"]
assert all(u["disabled"] is False for n, u in users.items() if n != "mallory")
EOF
as admin GET /api/v1/users/mallory
[ "$STATUS" = 200 ] && [ "$(jv "$T/body" disabled)" = true ] && ok || bad "the admin reads a disabled user, marked"
as admin PATCH /api/v1/users/mallory -H 'Content-Type: application/json' --data-binary '{"disabled":false}'
expect_status 200 "the admin enables a user again"
[ "$(jv "$T/body" disabled)" = false ] && ok || bad "enabled in the answer"
login mallory
expect_status 200 "an enabled user logs in again"
as admin PATCH /api/v1/users/mallory -H 'Content-Type: application/json' --data-binary '{"disabled":true}'
expect_status 200 "and is disabled again"
as admin PATCH /api/v1/users/admin -H 'Content-Type: application/json' --data-binary '{"role":"doctor"}'
expect_error 409 conflict "an admin cannot demote themself"
as admin PATCH /api/v1/users/doctor -H 'Content-Type: application/json' --data-binary '{"role":"king"}'
expect_error 400 bad_request "unknown role"

# ---- audit ----
as admin GET /api/v1/audit/verify
expect_status 200 "audit verify"
[ "$(jv "$T/body" ok)" = true ] && ok || bad "the audit chain verifies: $(cat "$T/body")"
as admin GET /api/v1/audit
header Content-Type | grep -q '^application/x-ndjson' && ok || bad "audit as ndjson"
for action in invite register login upload download share revoke delete logout; do
	grep -q "\"action\":\"$action\"" "$T/body" && ok || bad "audit has $action"
done
grep -q "$(openssl pkey -pubin -in doctor.enc.pem -outform DER | sha256sum | cut -c1-64)" "$T/body" && ok ||
	bad "the doctor's key fingerprint is in the chain"
grep -qF -e "$(cat csrf.doctor)" -e pw-doctor -e "$(auth_key_of doctor)" "$T/body"
[ $? = 1 ] && ok || bad "a secret in the audit log"
api GET /api/v1/audit/key
[ "$(jv "$T/body" public_key)" = "$(cat "$DATA/audit.pub")" ] && ok || bad "audit key"

# ---- lockout and proof of work (API.md §13) ----
# Each phase makes its requests from its own loopback source address (SRC, see lib.sh), so the
# account's counter and the address's counter can be watched apart.
next_src() { SRC_N=$((SRC_N + 1)); SRC="127.0.0.$SRC_N"; }
SRC_N=10
wrong() { # wrong USER: a wrong password from a fresh address (a proof of work solved when asked)
	next_src
	login "$1" "not the password"
}
wrong patient
expect_error 401 bad_credentials "wrong password"
cp "$T/body" wrong.json
next_src
api POST /api/v1/login -H 'Content-Type: application/json' --data-binary "{\"username\":\"ghost\",\"auth_key\":\"$(auth_key_of patient)\"}"
cmp -s "$T/body" wrong.json && ok || bad "unknown user and wrong password get the same answer"
wrong patient
next_src
api POST /api/v1/prelogin -H 'Content-Type: application/json' --data-binary '{"username":"patient"}'
[ "$(jv "$T/body" pow)" = null ] && ok || bad "no proof of work after 2 failures"
wrong patient # the 3rd
next_src
api POST /api/v1/prelogin -H 'Content-Type: application/json' --data-binary '{"username":"patient"}'
[ "$(jv "$T/body" pow bits)" = 8 ] && ok || bad "prelogin asks for a proof of work after 3 failures"
api POST /api/v1/login -H 'Content-Type: application/json' --data-binary "{\"username\":\"patient\",\"auth_key\":\"$(auth_key_of patient)\"}"
expect_error 403 pow_required "the right key without the proof of work"
CH=$(jv "$T/body" pow challenge)
[ ${#CH} = 44 ] && ok || bad "pow_required carries a challenge"
POW=$(solve_pow "{\"challenge\":\"$CH\",\"bits\":8}")
api POST /api/v1/login -H 'Content-Type: application/json' --data-binary "{\"username\":\"patient\",\"auth_key\":\"$(auth_key_of tech)\",\"pow\":$POW}"
expect_error 401 bad_credentials "a solved proof of work with a wrong key (4th failure)"
api POST /api/v1/login -H 'Content-Type: application/json' --data-binary "{\"username\":\"patient\",\"auth_key\":\"$(auth_key_of patient)\",\"pow\":$POW}"
expect_error 403 pow_required "a challenge is single-use"
api POST /api/v1/login -H 'Content-Type: application/json' --data-binary "{\"username\":\"patient\",\"auth_key\":\"$(auth_key_of patient)\",\"pow\":{\"challenge\":\"$(printf 'A%.0s' $(seq 43))=\",\"nonce\":\"AAAA\"}}"
expect_error 403 pow_required "a forged challenge"
CH=$(jv "$T/body" pow challenge)
POW=$(solve_pow "{\"challenge\":\"$CH\",\"bits\":8}")
api POST /api/v1/login -H 'Content-Type: application/json' --data-binary "{\"username\":\"patient\",\"auth_key\":\"$(auth_key_of patient)\",\"pow\":$POW}" -c jar.patient
expect_status 200 "the right key with a solved proof of work"
for i in 1 2 3 4; do wrong patient; done
expect_error 401 bad_credentials "4 failures after a success: not locked"
wrong patient # the 5th since the success
expect_error 429 locked "5th failure locks the account"
[ "$(header Retry-After)" = 5 ] && ok || bad "first lockout lasts the base (5 s): $(header Retry-After)"
next_src
login patient
expect_error 429 locked "locked: even the right key is refused, from any address"
sleep 5.2
for i in 1 2 3 4; do wrong patient; done
expect_error 401 bad_credentials "after the lockout, failures count again"
wrong patient
expect_error 429 locked "second lockout"
[ "$(header Retry-After)" = 10 ] && ok || bad "the second lockout doubles: $(header Retry-After)"
[ "$(jv "$T/body" retry_after)" = 10 ] && ok || bad "retry_after in the body"
sleep 10.2
next_src
login patient
expect_status 200 "after the lockout the right key works"
# per address: 5 failures on 5 different names from one address lock the address
SRC=127.0.0.200
for i in 1 2 3 4 5; do login "nobody$i" "wrong"; done
expect_error 429 locked "5 failures from one address lock the address"
login tech
expect_error 429 locked "the locked address cannot log in to another account"
SRC=127.0.0.201
login tech
expect_status 200 "another address can"
unset SRC

# ---- stop, offline commands, tamper ----
server_stop && ok || bad "graceful stop exits 0"
grep -q '"completed":"yes"' "$T/server.log" && ok || bad "request log lines"
grep -qiF -e "$(cat csrf.doctor)" -e "$(auth_key_of doctor)" -e auth_key -e pw-doctor -e __Host-medcrypt= "$T/server.log"
[ $? = 1 ] && ok || bad "a secret in the server log"
"$MEDCRYPTD" audit verify --data-dir "$DATA" >verify.out && ok || bad "offline audit verify: $(cat verify.out)"
grep -q "signed checkpoints" verify.out && ok || bad "verify counts checkpoints"
"$MEDCRYPTD" audit export --data-dir "$DATA" >export.ndjson && ok || bad "audit export"
[ "$(wc -l <export.ndjson)" -gt 20 ] && ok || bad "export has the records"
"$PY" -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' export.ndjson && ok || bad "export is JSON lines"
"$MEDCRYPTD" invite --data-dir "$DATA" --role admin >invite.out && ok || bad "offline invite"
grep -q "invitation: [A-Z2-7]\{32\}" invite.out && ok || bad "offline invite prints a code"
expect_exit 2 "invite without a role" "$MEDCRYPTD" invite --data-dir "$DATA"
expect_exit 2 "unknown option" "$MEDCRYPTD" --no-such-option
"$MEDCRYPTD" --help | grep -q "audit verify" && ok || bad "--help"
# tamper with one record: the offline verifier names it
SEQ=$(sed -n 5p export.ndjson | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["seq"])')
sqlite3 "$DATA/medcryptd.db" "UPDATE audit SET outcome = 'denied' WHERE seq = $SEQ" 2>sqlite.err ||
	bad "tamper: $(cat sqlite.err)"
expect_exit 1 "audit verify finds the altered record" "$MEDCRYPTD" audit verify --data-dir "$DATA"
grep -q "seq $SEQ" "$T/.out" && ok || bad "verify names seq $SEQ: $(cat "$T/.out")"

# ---- nothing secret or plaintext on the server's disk ----
for needle in "$INVITE" "$(cat "csrf.doctor")" pw-doctor "$(auth_key_of doctor)" TEST-0001; do
	grep -rqaF -e "$needle" "$DATA"
	[ $? = 1 ] && ok || bad "the data directory holds '$needle'"
done

# ---- a later start prints URL and fingerprint, no invitation ----
server_start || bad "restart"
grep -q "is listening on" "$T/server.out" && ok || bad "restart prints the URL"
grep -q "invitation" "$T/server.out" && bad "restart prints no invitation" || ok
server_stop && ok || bad "second stop"

# ---- session lifetimes and the Argon2id limit (API.md §12, §13), with short test settings ----
# (an idle limit of 6 s and requests every 2 s: 4 s of slack for a slow, loaded ASan server; four
# requests span 8 s, longer than the idle limit, so only their activity keeps the session)
server_start --session-idle-seconds 6 --session-max-seconds 14 --max-hashes 1 --hash-wait-seconds 0 ||
	bad "start with short sessions"
login doctor
expect_status 200 "login (short sessions)"
sleep 7
as doctor GET /api/v1/me
expect_error 401 unauthenticated "a session idle for longer than the idle limit ends"
login doctor
SESSION_START=$SECONDS
for i in 1 2 3 4; do
	sleep 2
	as doctor GET /api/v1/me
	expect_status 200 "requests every 2 s keep the session alive ($i)"
done
sleep $((15 - (SECONDS - SESSION_START)))
as doctor GET /api/v1/me
expect_error 401 unauthenticated "the session ends at its absolute limit, however active"
# Twelve logins at once with one Argon2id slot and no waiting: some are told the server is busy,
# none is let in without its hash, and no failure is counted against the account.
BUSY_AUTH=$(auth_key_of doctor)
BUSY_PIDS=()
for i in $(seq 1 12); do
	curl -sS --tlsv1.3 --cacert "$CERT" --resolve "localhost:$PORT:127.0.0.1" -o "busy.$i.body" -D "busy.$i.headers" \
		-w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary "{\"username\":\"doctor\",\"auth_key\":\"$BUSY_AUTH\"}" "$URL/api/v1/login" >"busy.$i.status" 2>/dev/null &
	BUSY_PIDS+=($!)
done
wait "${BUSY_PIDS[@]}" # not a bare wait: the server is a child of this shell too
n_ok=0 n_busy=0 n_other=0
for i in $(seq 1 12); do
	case "$(cat "busy.$i.status")" in
	200) n_ok=$((n_ok + 1)) ;;
	503) if [ "$(jv "busy.$i.body" error)" = busy ] && grep -qi '^retry-after:' "busy.$i.headers"; then
		n_busy=$((n_busy + 1))
	else n_other=$((n_other + 1)); fi ;;
	*) n_other=$((n_other + 1)) ;;
	esac
done
[ "$n_busy" -ge 1 ] && [ "$n_ok" -ge 1 ] && [ "$n_other" = 0 ] && ok ||
	bad "12 logins at once with one hash slot: $n_ok ok, $n_busy busy (want >= 1 of each), $n_other other"
login doctor
expect_status 200 "busy answers are not counted as failures"
server_stop && ok || bad "stop (short sessions)"

# ---- configuration: flags over environment over file ----
listened_port() { # listened_port ARGS...: starts medcryptd, prints the port it announced, stops it
	: >cfg.out # emptied before the start, so the wait cannot read the previous one's line
	"$MEDCRYPTD" "$@" >cfg.out 2>>"$T/server.log" &
	local pid=$! i
	for i in $(seq 1 300); do grep -q "is listening" cfg.out && break; sleep 0.1; done
	sed -n 's/.*is listening on https:\/\/localhost:\([0-9]*\).*/\1/p' cfg.out
	kill -TERM $pid
	wait $pid
}
P1=$(free_port) P2=$(free_port) P3=$(free_port)
printf '# test configuration\nlisten = 127.0.0.1:%s\ndata-dir = %s\n' "$P1" "$DATA" >medcryptd.conf
[ "$(listened_port --config medcryptd.conf)" = "$P1" ] && ok || bad "the configuration file sets listen"
[ "$(MEDCRYPTD_LISTEN=127.0.0.1:$P2 listened_port --config medcryptd.conf)" = "$P2" ] && ok ||
	bad "the environment wins over the file"
[ "$(MEDCRYPTD_LISTEN=127.0.0.1:$P2 listened_port --config medcryptd.conf --listen "127.0.0.1:$P3")" = "$P3" ] &&
	ok || bad "a flag wins over the environment"
printf 'no-such-setting = 1\n' >bad.conf
expect_exit 2 "an unknown setting in the file" "$MEDCRYPTD" --config bad.conf

summary server-http
