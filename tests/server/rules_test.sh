#!/usr/bin/env bash
# rules_test.sh: the patient of an image, the recipient rules, consent requests and dismissal
# against a real medcryptd over raw HTTPS (issue 12; API.md §14, §15, §15a, §16a, §16c). Users
# register with `medcrypt keygen` identities (as http_test.sh does); files are made with
# `medcrypt seal`, and every wrap a patient's client would make (an approval, a share) with
# `medcrypt share` on the patient's own reassembled file. Each error code of the rules is met
# once at least: patient_required, unknown_patient, patient_not_recipient, not_appointed,
# not_deidentified, forbidden, unsigned_claim (POST /images, tus creation and tus completion,
# shares), and for consents not_found, wrong_recipients, bad_container, unknown_recipient,
# forbidden, reauth_required, conflict and expired. Also: listing by patient, what a consent
# approval grants (the doctor opens the image bit-exact) and what withdrawal and dismissal take
# back (the doctor's GET /images/{id} becomes 404), messages while a consent stands, events
# without PHI, the audit records, and that the database and blob store hold no metadata value,
# PatientID or consent reason.
# usage: tests/server/rules_test.sh BUILD_DIR
set -u
BUILD=$(cd "${1:-build}" && pwd)
MEDCRYPTD="$BUILD/src/medcryptd/medcryptd"
MEDCRYPT="$BUILD/src/medcrypt/medcrypt"
KDF="$BUILD/tests/mcd_testkdf"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
export MEDCRYPT_PASSPHRASE="rules test passphrase: not a real one"
command -v sqlite3 >/dev/null || { echo "rules: sqlite3 missing (scripts/bootstrap installs it)" >&2; exit 1; }

# What must never reach the server in clear: metadata values and a consent's reason.
PID_SECRET="RULES-PID-4711-0815"
NAME_SECRET="Doe^Janet Quincy"
STUDY_SECRET="1.2.826.0.1.3680043.8.498.4711"
REASON_SECRET="worsening left knee pain since the fall in March"

USERS="tech doc1 doc2 doc3 pat1 pat2 res"
for u in $USERS; do
	"$MEDCRYPT" keygen -o "$u" >/dev/null 2>&1 && split_pub "$u" || bad "keygen $u"
done

db() { sqlite3 -cmd '.timeout 5000' "$DATA/medcryptd.db" "$@"; }
b64() { printf '%s' "$1" | base64 -w0; }
# expect_user U DESCRIPTION: the last error names user U
expect_user() {
	local got
	got=$(jv "$T/body" user 2>/dev/null)
	if [ "$got" = "$1" ]; then ok; else bad "$2: user '$got', expected '$1': $(head -c 300 "$T/body")"; fi
}
# upload USER QUERY FILE: POST /api/v1/images?QUERY as USER
upload() { as "$1" POST "/api/v1/images${2:+?$2}" -H 'Content-Type: application/octet-stream' --data-binary "@$3"; }
reauth() { as "$1" POST /api/v1/reauth -H 'Content-Type: application/json' --data-binary "{\"auth_key\":\"$(auth_key_of "$1")\"}"; }
# seal OUT [SEAL ARGS...]: a small sealed file with identifying metadata (in its encrypted header)
seal() {
	local out=$1
	shift
	head -c 5000 /dev/urandom >"$out.bin"
	printf '{"PatientID":"%s","PatientName":"%s","StudyInstanceUID":"%s","Modality":"MR"}' \
		"$PID_SECRET" "$NAME_SECRET" "$STUDY_SECRET" >"$out.json"
	"$MEDCRYPT" seal --meta "$out.json" -o "$out" "$@" "$out.bin" >/dev/null 2>&1 || bad "seal $out"
}
counts() { db "SELECT (SELECT count(*) FROM images) || '/' || (SELECT count(*) FROM wraps)"; }
# make_wrap HOLDER ID RECIPIENT: a detached wrap (base64) of image ID's file key for RECIPIENT's
# encryption key, made as HOLDER's client makes it: HOLDER's file rebuilt from the blob and their
# wrap, `medcrypt share` with HOLDER's key, and the new wrap taken out by its recipient.
make_wrap() {
	local holder=$1 id=$2 to=$3
	as "$holder" GET "/api/v1/images/$id/wrap" && cp "$T/body" mw.wrap
	as "$holder" GET "/api/v1/images/$id/blob" && cp "$T/body" mw.blob
	{ head -c 9 mw.blob; printf '\000\001'; cat mw.wrap; tail -c +12 mw.blob; } >mw.mc
	rm -f mw.shared.mc
	"$MEDCRYPT" share -k "$holder.key" -r "$to.enc.pem" -o mw.shared.mc mw.mc >/dev/null 2>&1 || { bad "share for $to"; return 1; }
	"$PY" - mw.shared.mc "$to.enc.pem" <<'EOF'
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
}
# opens_bit_exact USER ID ORIGINAL SENDER: USER fetches blob and wrap and opens it with their key
opens_bit_exact() {
	local u=$1 id=$2 orig=$3 sender=$4
	as "$u" GET "/api/v1/images/$id/wrap" && cp "$T/body" ob.wrap
	as "$u" GET "/api/v1/images/$id/blob" && cp "$T/body" ob.blob
	{ head -c 9 ob.blob; printf '\000\001'; cat ob.wrap; tail -c +12 ob.blob; } >ob.mc
	rm -f ob.out
	if "$MEDCRYPT" open -k "$u.key" --trust "$sender.pub" -o ob.out ob.mc >/dev/null 2>ob.err && cmp -s ob.out "$orig"; then
		ok
	else
		bad "$u opens $id bit-exact: $(cat ob.err)"
	fi
}

# ================= start, users, an appointment =================
server_start --pow-bits 8 || { bad "server start"; summary rules; exit 1; }
INVITE=$(sed -n 's/^ *invitation: //p' "$T/server.out")
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out admin.rsa 2>/dev/null &&
	openssl pkey -in admin.rsa -pubout -out admin.enc.pem && openssl genpkey -algorithm ED25519 -out admin.ed &&
	openssl pkey -in admin.ed -pubout -out admin.sign.pem || bad "admin keys"
register admin "$INVITE"
expect_status 201 "register the admin"
declare -A ROLE=([tech]=technician [doc1]=doctor [doc2]=doctor [doc3]=doctor [pat1]=patient [pat2]=patient [res]=researcher)
for u in $USERS; do
	register "$u" "$(invite "${ROLE[$u]}")"
	expect_status 201 "register $u as ${ROLE[$u]}"
done
as pat1 POST /api/v1/appointments -H 'Content-Type: application/json' --data-binary '{"doctor":"doc1"}'
expect_status 201 "pat1 appoints doc1"

# ================= POST /api/v1/images: the rules =================
seal good.mc -r pat1.pub -r doc1.pub -r tech.pub --sign tech.key
seal nopat.mc -r doc1.pub -r tech.pub
seal todoc2.mc -r pat1.pub -r doc2.pub -r tech.pub
seal tores.mc -r pat1.pub -r res.pub -r tech.pub
seal doc1res.mc -r pat1.pub -r res.pub -r doc1.pub --sign doc1.key
seal deid-unsigned.mc -r res.pub -r doc1.pub
seal deid-wrongsig.mc -r res.pub -r doc1.pub --sign doc2.key
seal deid.mc -r res.pub -r doc1.pub --sign doc1.key
seal pat2.mc -r pat2.pub -r tech.pub
seal doc2own.mc -r pat1.pub -r doc2.pub --sign doc2.key
BEFORE=$(counts)
upload tech "" good.mc
expect_error 400 patient_required "rule 1: a technician names the patient"
upload doc1 "" good.mc
expect_error 400 patient_required "rule 2: an identified doctor's upload names the patient"
upload tech "patient=nobody" good.mc
expect_error 400 unknown_patient "rule 3: an unknown patient"
expect_user nobody "the refusal names the name given"
upload tech "patient=doc1" good.mc
expect_error 400 unknown_patient "rule 3: a doctor is no patient"
upload tech "patient=pat1&deidentified=yes" good.mc
expect_error 400 bad_request "deidentified is 0 or 1"
upload doc2 "patient=pat1" doc2own.mc
expect_error 403 not_appointed "rule 2: a doctor the patient has not appointed"
expect_user pat1 "the refusal names the patient"
upload tech "patient=pat1" nopat.mc
expect_error 400 patient_not_recipient "rule 3: the patient is one of the recipients"
expect_user pat1 "names the patient"
upload tech "patient=pat1" todoc2.mc
expect_error 403 not_appointed "rule 4: every other recipient is an appointed doctor"
expect_user doc2 "names the doctor"
upload tech "patient=pat1" tores.mc
expect_error 403 forbidden "rule 6: the role table first (a technician never sends to a researcher)"
expect_user res "names the researcher"
upload doc1 "patient=pat1" doc1res.mc
expect_error 403 not_deidentified "rule 5: a researcher only for a de-identified item"
expect_user res "names the researcher"
upload doc1 "deidentified=1" deid-unsigned.mc
expect_error 400 unsigned_claim "rule 7: the mark needs a signed file"
upload doc1 "deidentified=1" deid-wrongsig.mc
expect_error 400 unsigned_claim "rule 7: signed with the sender's own current key"
[ "$(counts)" = "$BEFORE" ] && ok || bad "the refusals stored nothing: $(counts), was $BEFORE"
[ -z "$(find "$DATA/blobs" -type f ! -path '*/tmp/*')" ] && ok || bad "no blob left by a refusal"

upload tech "patient=pat1" good.mc
expect_status 201 "a technician sends pat1's image to pat1 and doc1"
IMG1=$(jv "$T/body" id)
[ "$(jv "$T/body" patient)" = pat1 ] && [ "$(jv "$T/body" deidentified)" = false ] && ok || bad "the answer: $(cat "$T/body")"
seal good2.mc -r pat1.pub -r doc1.pub -r tech.pub --sign tech.key
upload tech "patient=pat1&deidentified=0" good2.mc
expect_status 201 "a second image about pat1"
IMG2=$(jv "$T/body" id)
upload tech "patient=pat2" pat2.mc
expect_status 201 "an image about pat2"
IMGP2=$(jv "$T/body" id)
upload doc1 "deidentified=1" deid.mc
expect_status 201 "a de-identified item, signed by its sender, to a researcher"
IMGD=$(jv "$T/body" id)
[ "$(jv "$T/body" patient)" = null ] && [ "$(jv "$T/body" deidentified)" = true ] && ok || bad "the mark: $(cat "$T/body")"
as res GET "/api/v1/images/$IMGD"
expect_status 200 "the researcher sees it"
[ "$(jv "$T/body" deidentified)" = true ] && [ "$(jv "$T/body" patient)" = null ] && ok || bad "IMAGE: $(head -c 300 "$T/body")"
opens_bit_exact res "$IMGD" deid.mc.bin doc1

# ---- listing by patient ----
as doc1 GET "/api/v1/images?patient=pat1"
expect_status 200 "doc1 lists pat1's images"
[ "$("$PY" -c 'import json,sys; print(" ".join(i["id"] for i in json.load(open(sys.argv[1]))["images"]))' "$T/body")" = "$IMG2 $IMG1" ] &&
	ok || bad "only pat1's two, newest first: $(head -c 300 "$T/body")"
as doc1 GET /api/v1/images
[ "$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["images"]))' "$T/body")" = 3 ] && ok ||
	bad "doc1's whole list has the de-identified item too"
as pat2 GET "/api/v1/images?patient=pat1"
[ "$(jv "$T/body" images)" = "[]" ] && ok || bad "pat2 sees none of pat1's"
as doc1 GET "/api/v1/images?patient=nobody"
[ "$(jv "$T/body" images)" = "[]" ] && ok || bad "an unknown patient lists nothing"
as doc1 GET "/api/v1/images?patient=bad%20name"
expect_error 400 bad_request "a malformed patient name"
as pat1 GET "/api/v1/images/$IMG1"
[ "$(jv "$T/body" patient)" = pat1 ] && ok || bad "IMAGE carries the patient"

# ================= tus: the two Upload-Metadata keys =================
tus_create() { # tus_create USER FILE METADATA
	as "$1" POST /api/v1/uploads -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $(stat -c %s "$2")" \
		${3:+-H "Upload-Metadata: $3"}
	TUS_ID=$(header Location | sed 's|.*/||')
}
tus_patch() { # tus_patch USER FILE
	as "$1" PATCH "/api/v1/uploads/$TUS_ID" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
		-H 'Content-Type: application/offset+octet-stream' --data-binary "@$2"
}
tus_create tech good.mc "filename $(b64 scan.mc)"
expect_error 400 patient_required "tus: a technician's upload names its patient at creation"
tus_create tech good.mc "patient $(b64 nobody)"
expect_error 400 unknown_patient "tus: an unknown patient at creation"
tus_create tech good.mc "patient $(b64 pat1),patient $(b64 pat2)"
expect_error 400 bad_request "tus: the patient named twice"
tus_create tech good.mc "patient $(b64 pat1),filename $(b64 x.dcm)"
expect_status 201 "tus: created for pat1"
tus_patch tech good.mc
expect_status 201 "tus: completed"
IMGT=$(jv "$T/body" id)
as doc1 GET "/api/v1/images/$IMGT"
[ "$(jv "$T/body" patient)" = pat1 ] && [ "$(jv "$T/body" deidentified)" = false ] && ok || bad "tus image's patient"
tus_create doc1 deid.mc "deidentified $(b64 1)"
expect_status 201 "tus: a de-identified item"
tus_patch doc1 deid.mc
expect_status 201 "tus: completed with the mark"
[ "$(jv "$T/body" deidentified)" = true ] && ok || bad "tus: the mark recorded"
tus_create doc1 deid-unsigned.mc "deidentified $(b64 1)"
tus_patch doc1 deid-unsigned.mc
expect_error 400 unsigned_claim "tus: the mark of an unsigned file, at the last byte"
# the world changes between creation and the last byte: checked again
as pat1 POST /api/v1/appointments -H 'Content-Type: application/json' --data-binary '{"doctor":"doc2"}'
expect_status 201 "pat1 appoints doc2"
tus_create doc2 doc2own.mc "patient $(b64 pat1)"
expect_status 201 "tus: doc2 starts an upload about pat1"
reauth pat1
as pat1 DELETE /api/v1/appointments/doc2
expect_status 200 "pat1 dismisses doc2 meanwhile"
tus_patch doc2 doc2own.mc
expect_error 403 not_appointed "tus: the rules again at the last byte"
expect_user pat1 "names the patient"

# ================= shares =================
W=$(make_wrap doc1 "$IMG1" doc3)
reauth doc1
as doc1 POST "/api/v1/images/$IMG1/shares" -H 'Content-Type: application/json' --data-binary "{\"to\":\"doc3\",\"wrap\":\"$W\"}"
expect_error 403 not_appointed "a doctor shares a patient's image only with doctors the patient appointed"
expect_user doc3 "names doc3"
W=$(make_wrap doc1 "$IMG1" res)
as doc1 POST "/api/v1/images/$IMG1/shares" -H 'Content-Type: application/json' --data-binary "{\"to\":\"res\",\"wrap\":\"$W\"}"
expect_error 403 not_deidentified "no identified image to a researcher by a share"
W=$(make_wrap pat1 "$IMG2" doc3)
reauth pat1
as pat1 POST "/api/v1/images/$IMG2/shares" -H 'Content-Type: application/json' --data-binary "{\"to\":\"doc3\",\"wrap\":\"$W\"}"
expect_status 201 "the patient shares their image with any doctor"
opens_bit_exact doc3 "$IMG2" good2.mc.bin tech
W=$(make_wrap doc1 "$IMGD" doc2)
as doc1 POST "/api/v1/images/$IMGD/shares" -H 'Content-Type: application/json' --data-binary "{\"to\":\"doc2\",\"wrap\":\"$W\"}"
expect_status 201 "a de-identified item without a patient goes to any doctor"

# ================= consents =================
request_body() { # request_body DOCTOR PATIENT EXPIRES [SEAL ARGS...]: a consent request body in req.json
	local doctor=$1 patient=$2 expires=$3
	shift 3
	printf '{"type":"medcrypt-consent-request","scope":"all","reason":"%s"}' "$REASON_SECRET" >req.txt
	rm -f req.mc
	"$MEDCRYPT" seal -o req.mc "$@" req.txt >/dev/null 2>&1 || bad "seal a request"
	printf '{"patient":"%s","sealed":"%s"%s}' "$patient" "$(base64 -w0 req.mc)" \
		"${expires:+,\"expires_in\":$expires}" >req.json
}
consent() { as "$1" POST /api/v1/consents -H 'Content-Type: application/json' --data-binary @req.json; }
decide() { # decide USER ID ACTION [BODY]
	local body='{}'
	[ $# -ge 4 ] && body=$4
	as "$1" POST "/api/v1/consents/$2/$3" -H 'Content-Type: application/json' --data-binary "$body"
}

# events: pat1's and doc2's streams, read after the flow
curl -sS -N --tlsv1.3 --cacert "$CERT" --resolve "localhost:$PORT:127.0.0.1" -b jar.pat1 --max-time 60 \
	"$URL/api/v1/events" >events.pat1 2>/dev/null &
EV1=$!
curl -sS -N --tlsv1.3 --cacert "$CERT" --resolve "localhost:$PORT:127.0.0.1" -b jar.doc2 --max-time 60 \
	"$URL/api/v1/events" >events.doc2 2>/dev/null &
EV2=$!
sleep 0.5

request_body doc2 pat1 "" -r pat1.pub -r doc2.pub --sign doc2.key
consent pat1
expect_error 403 forbidden "a patient does not request consent"
as res POST /api/v1/consents -H 'Content-Type: application/json' --data-binary @req.json
expect_error 403 forbidden "nor does a researcher"
request_body doc2 nobody "" -r pat1.pub -r doc2.pub --sign doc2.key
consent doc2
expect_error 404 not_found "a request to no patient"
request_body doc2 pat1 0 -r pat1.pub -r doc2.pub --sign doc2.key
consent doc2
expect_error 400 bad_request "expires_in 0"
request_body doc2 pat1 "" -r pat1.pub -r doc2.pub -r doc3.pub --sign doc2.key
consent doc2
expect_error 400 wrong_recipients "a request wrapped for a third user"
request_body doc2 pat1 "" -r pat1.pub -r doc2.pub
consent doc2
expect_error 400 bad_container "an unsigned request"
request_body doc2 pat1 "" -r pat1.pub -r doc2.pub --sign doc3.key
consent doc2
expect_error 400 bad_container "a request signed by another doctor"
request_body doc2 pat1 "" -r pat1.pub -r doc2.pub --sign doc2.key
consent doc2
expect_status 201 "doc2 asks pat1"
C1=$(jv "$T/body" id)
[ "$(jv "$T/body" status)" = pending ] && [ "$(jv "$T/body" images)" = 0 ] && [ "$(jv "$T/body" decided)" = null ] &&
	[ "$(jv "$T/body" patient)" = pat1 ] && [ "$(jv "$T/body" doctor)" = doc2 ] && ok || bad "CONSENT: $(head -c 300 "$T/body")"
E=$(jv "$T/body" expires) Cr=$(jv "$T/body" created)
[ $((E - Cr)) = 604800 ] && ok || bad "the default expiry is 7 days: $((E - Cr))"
jv "$T/body" sealed | base64 -d | cmp -s - req.mc && ok || bad "the sealed request comes back as sent"
as pat1 GET /api/v1/consents
[ "$(jv "$T/body" consents 0 id)" = "$C1" ] && ok || bad "pat1 lists the request"
as pat1 GET "/api/v1/consents?status=pending"
[ "$(jv "$T/body" consents 0 id)" = "$C1" ] && ok || bad "listed as pending"
as pat1 GET "/api/v1/consents?status=approved"
[ "$(jv "$T/body" consents)" = "[]" ] && ok || bad "none approved yet"
as pat1 GET "/api/v1/consents?status=bogus"
expect_error 400 bad_request "an unknown status"
as doc3 GET "/api/v1/consents/$C1"
expect_error 404 not_found "a consent is its two parties' only"
as doc2 GET "/api/v1/consents/$C1"
expect_status 200 "the doctor reads their request"

# messages: doctor and patient talk while an approved consent stands (not before)
as doc2 POST /api/v1/messages -H 'Content-Type: application/json' --data-binary '{"to":"pat1","sealed":"AAAA"}'
expect_error 403 may_not_message "no messages before the approval"

# approval
decide doc2 "$C1" approve '{"wraps":[]}'
expect_error 401 reauth_required "an approval re-authenticates"
reauth doc2
decide doc2 "$C1" approve '{"wraps":[]}'
expect_error 403 forbidden "the doctor does not approve their own request"
reauth pat1
W1=$(make_wrap pat1 "$IMG1" doc2)
W2=$(make_wrap pat1 "$IMG2" doc2)
WX=$(make_wrap pat1 "$IMG1" doc3)
BEFORE=$(counts)
decide pat1 "$C1" approve "{\"wraps\":[{\"image\":\"$IMG1\",\"wrap\":\"$W1\"},{\"image\":\"$IMG2\",\"wrap\":\"$WX\"}]}"
expect_error 400 unknown_recipient "a wrap naming another doctor's key"
decide pat1 "$C1" approve "{\"wraps\":[{\"image\":\"$IMG1\",\"wrap\":\"$W1\"},{\"image\":\"$IMGP2\",\"wrap\":\"$W2\"}]}"
expect_error 404 not_found "an image about another patient"
[ "$(jv "$T/body" image)" = "$IMGP2" ] && ok || bad "the refusal names the image"
decide pat1 "$C1" approve "{\"wraps\":[{\"image\":\"$IMG1\",\"wrap\":\"$(head -c 80 /dev/urandom | base64 -w0)\"}]}"
expect_error 400 bad_container "a wrap that is no wrap"
decide pat1 "$C1" approve '{"wraps":{}}'
expect_error 400 bad_request "wraps is an array"
[ "$(counts)" = "$BEFORE" ] && ok || bad "refused approvals changed nothing"
as pat1 GET "/api/v1/consents/$C1"
[ "$(jv "$T/body" status)" = pending ] && ok || bad "still pending"
as doc2 GET "/api/v1/images/$IMG1"
expect_error 404 not_found "doc2 cannot see the image before the approval"
decide pat1 "$C1" approve "{\"wraps\":[{\"image\":\"$IMG1\",\"wrap\":\"$W1\"},{\"image\":\"$IMG2\",\"wrap\":\"$W2\"},{\"image\":\"$IMG1\",\"wrap\":\"$W1\"}]}"
expect_status 200 "pat1 approves with wraps of two images"
[ "$(jv "$T/body" status)" = approved ] && [ "$(jv "$T/body" added)" = 2 ] && [ "$(jv "$T/body" images)" = 2 ] &&
	[ "$(jv "$T/body" decided)" != null ] && ok || bad "approved: $(head -c 300 "$T/body")"
opens_bit_exact doc2 "$IMG1" good.mc.bin tech
opens_bit_exact doc2 "$IMG2" good2.mc.bin tech
decide pat1 "$C1" approve '{"wraps":[]}'
expect_error 409 conflict "approved once"
decide pat1 "$C1" deny
expect_error 409 conflict "no denial once approved"
as doc2 POST /api/v1/messages -H 'Content-Type: application/json' --data-binary '{"to":"pat1","sealed":"AAAA"}'
expect_error 400 bad_container "while the consent stands, doc2 may message pat1 (the junk is refused next)"
# a doctor with an approved consent may send an image about that patient (rule 2)
upload doc2 "patient=pat1" doc2own.mc
expect_status 201 "doc2, holding a consent, sends pat1's image"
IMGC=$(jv "$T/body" id)

# denial, expiry, a doctor's withdrawal
request_body doc3 pat1 "" -r pat1.pub -r doc3.pub --sign doc3.key
consent doc3
C2=$(jv "$T/body" id)
decide doc3 "$C2" deny
expect_error 403 forbidden "the doctor does not deny"
decide pat1 "$C2" deny
expect_status 200 "pat1 denies doc3's request"
[ "$(jv "$T/body" status)" = denied ] && ok || bad "denied"
decide pat1 "$C2" deny
expect_error 409 conflict "denied once"
as doc3 GET "/api/v1/images/$IMG1"
expect_error 404 not_found "a denial grants nothing"
request_body doc3 pat1 1 -r pat1.pub -r doc3.pub --sign doc3.key
consent doc3
expect_status 201 "a request that expires in a second"
C3=$(jv "$T/body" id)
sleep 2
as pat1 GET "/api/v1/consents/$C3"
[ "$(jv "$T/body" status)" = expired ] && ok || bad "reads as expired: $(jv "$T/body" status)"
as pat1 GET "/api/v1/consents?status=expired"
[ "$(jv "$T/body" consents 0 id)" = "$C3" ] && ok || bad "listed as expired"
decide pat1 "$C3" approve "{\"wraps\":[{\"image\":\"$IMG1\",\"wrap\":\"$(make_wrap pat1 "$IMG1" doc3)\"}]}"
expect_error 409 expired "an expired request cannot be approved"
decide pat1 "$C3" deny
expect_error 409 expired "nor denied"
[ "$(db "SELECT status FROM consents WHERE id = '$C3'")" = pending ] && ok || bad "expired is never stored"
request_body doc3 pat1 600 -r pat1.pub -r doc3.pub --sign doc3.key
consent doc3
C4=$(jv "$T/body" id)
decide pat1 "$C4" withdraw
expect_error 409 conflict "the patient withdraws only an approval"
decide doc3 "$C4" withdraw
expect_status 200 "the doctor withdraws their pending request"
[ "$(jv "$T/body" status)" = withdrawn ] && ok || bad "withdrawn"
decide doc1 "$C4" withdraw
expect_error 404 not_found "a stranger to the consent"

# the patient withdraws the approval: its wraps go
decide doc2 "$C1" withdraw
expect_error 409 conflict "the doctor cannot withdraw an approved consent"
decide pat1 "$C1" withdraw
expect_status 200 "pat1 withdraws the approval"
[ "$(jv "$T/body" status)" = withdrawn ] && [ "$(jv "$T/body" images)" = 0 ] && ok || bad "withdrawn: $(head -c 300 "$T/body")"
as doc2 GET "/api/v1/images/$IMG1"
expect_error 404 not_found "after the withdrawal doc2 cannot see the image"
as doc2 GET "/api/v1/images/$IMGC"
expect_status 200 "the image doc2 sent themself stays theirs"
decide pat1 "$C1" withdraw
expect_error 409 conflict "withdrawn once"

sleep 1
kill "$EV1" "$EV2" 2>/dev/null
wait "$EV1" "$EV2" 2>/dev/null
grep -q "^event: consent" events.pat1 && grep -q "\"id\":\"$C1\"" events.pat1 && ok || bad "pat1 hears of the request: $(head -c 400 events.pat1)"
grep -q "^event: consent" events.doc2 && grep -q "\"id\":\"$C1\"" events.doc2 && ok || bad "doc2 hears of the decisions: $(head -c 400 events.doc2)"
grep -qF -e "$REASON_SECRET" -e "$PID_SECRET" events.pat1 events.doc2 && bad "an event carries PHI" || ok

# ================= dismissal =================
seal doc1own.mc -r pat1.pub -r doc1.pub --sign doc1.key
upload doc1 "patient=pat1" doc1own.mc
expect_status 201 "doc1 sends an image about pat1 themself"
IMGO=$(jv "$T/body" id)
request_body doc1 pat1 "" -r pat1.pub -r doc1.pub --sign doc1.key
consent doc1
C5=$(jv "$T/body" id)
decide pat1 "$C5" approve '{"wraps":[]}'
expect_status 200 "pat1 approves doc1's request too"
as doc1 GET "/api/v1/images/$IMG1"
expect_status 200 "doc1 sees pat1's image before the dismissal"
as pat1 DELETE /api/v1/appointments/doc1
expect_status 200 "pat1 dismisses doc1"
[ "$(jv "$T/body" doctor)" = doc1 ] && [ "$(jv "$T/body" wraps_deleted)" = 3 ] && ok ||
	bad "the answer counts the wraps deleted (IMG1, IMG2, the tus image): $(cat "$T/body")"
for id in "$IMG1" "$IMG2" "$IMGT"; do
	as doc1 GET "/api/v1/images/$id"
	expect_error 404 not_found "after the dismissal doc1's GET /images/{id} is 404"
done
as doc1 GET "/api/v1/images/$IMGO"
expect_status 200 "an image doc1 sent stays theirs"
as doc1 GET "/api/v1/images/$IMGD"
expect_status 200 "the de-identified item (no patient) stays"
as pat1 GET "/api/v1/consents/$C5"
[ "$(jv "$T/body" status)" = withdrawn ] && ok || bad "the dismissal withdrew doc1's consent"
as pat1 DELETE /api/v1/appointments/doc1
expect_error 404 not_appointed "dismissed once"
as pat1 GET "/api/v1/images/$IMG1"
expect_status 200 "the patient keeps their image"

# ================= audit and database =================
[ "$(db "SELECT detail FROM audit WHERE action = 'consent_approve' AND object = '$C1'")" = '{"images":2}' ] && ok ||
	bad "consent_approve detail: $(db "SELECT detail FROM audit WHERE action = 'consent_approve'")"
[ "$(db "SELECT detail FROM audit WHERE action = 'consent_withdraw' AND object = '$C1'")" = '{"wraps_deleted":2}' ] &&
	ok || bad "consent_withdraw detail"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'consent_request'")" = 5 ] && ok || bad "five consent_request records"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'consent_deny' AND object = '$C2'")" = 1 ] && ok || bad "consent_deny"
[ "$(db "SELECT detail FROM audit WHERE action = 'dismiss' AND object = 'doc1'")" = '{"wraps_deleted":3}' ] && ok ||
	bad "dismiss detail: $(db "SELECT detail FROM audit WHERE action = 'dismiss'")"
[ "$(db "SELECT group_concat(name, ',') FROM pragma_table_info('consents')")" = \
	"n,id,patient_id,doctor_id,created,expires,status,decided,sealed" ] && ok || bad "the consents table's columns"
[ "$(db "SELECT count(*) FROM images WHERE patient_id IS NOT NULL")" -ge 5 ] && ok || bad "images name their patient"
server_stop || bad "the server stopped cleanly"
db ".dump" >dump.sql
for secret in "$PID_SECRET" "$NAME_SECRET" "$STUDY_SECRET" "$REASON_SECRET"; do
	grep -rqaF -- "$secret" "$DATA" dump.sql && bad "the server holds '$secret'" || ok
done
summary rules
