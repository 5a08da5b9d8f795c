#!/usr/bin/env bash
# clinic_test.sh: the scripted clinic of issue 12 (item 8) against a real medcryptd, with the CLI
# only, as a clinic would use it. The admin invites a technician, two doctors, two patients and
# a researcher. Patient 1 appoints doctor 1. The technician sends a PNG, a JPEG and a DICOM about
# patient 1 to doctor 1 (patient 1 is added as a recipient) and is refused sending to doctor 2.
# Doctor 1 opens them bit-exact and is refused sharing with doctor 2; doctor 2 asks patient 1 for
# access; a denied request and an expired one change nothing; an approved one makes patient 1's
# client wrap the images for doctor 2, who opens them bit-exact; a withdrawal takes them back.
# Dismissal removes doctor 1's access to the next download. Patient 2 reaches nothing. The
# researcher is refused the identified DICOM and receives a de-identified copy (made with
# `medcrypt deid`, marked with a signed claim the researcher's `get` shows with its signer).
# Messages go both ways between doctor 1 and patient 1 and arrive as events; consent requests and
# decisions arrive as events; the notice e-mail carries no PHI. At the end the database, the blob
# store, the upload directory and the server's log are searched for every PatientID, patient
# name, study value, file name, reason and message text used: none may be there.
#
# usage: tests/server/clinic_test.sh [path/to/medcrypt [path/to/medcryptd]]
# Ends with "clinic: N passed, M failed".
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/e2e_setup.sh" "$@"
for tool in sqlite3 curl img2dcm cjpeg; do
	command -v $tool >/dev/null || { echo "clinic: $tool missing (scripts/bootstrap installs it)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null ||
	{ echo "clinic: python3-aiosmtpd missing (scripts/bootstrap installs it)" >&2; exit 1; }
trap 'for p in "${STREAM_PID[@]}"; do kill "$p" 2>/dev/null; done; smtp_stop; server_kill; rm -rf "$T"' EXIT

refused() { # refused DESCRIPTION COMMAND...: the command fails (and says why on stderr)
	local what=$1
	shift
	if "$@" >.out 2>.err; then bad "$what: succeeded"; else ok; fi
}
images_of() { db "SELECT count(*) FROM wraps w JOIN users u ON u.id = w.user_id WHERE u.username = '$1'"; }
consent_id() { # the id of the newest consent of the logged-in USER, from consent list --json
	as "$1" consent list --json | "$PY" -c 'import json,sys; c=json.load(sys.stdin)["consents"]; print(c[0]["id"] if c else "")'
}

# ---- the clinic's files: distinctive made-up identities, no real data ----
P1_NAME="Numbat^Ottoline"
P1_ID=PID-CLINIC-40217
P1_STUDY_DESC="Left wrist fracture 3317"
P1_DOB=19610422
FILE_DCM=wrist-of-ottoline.dcm
FILE_PNG=ottoline-photo.png
FILE_JPG=ottoline-xray.jpg
REASON="Second opinion on the wrist fracture kestrel-6610"
M1="Your wrist heals well, cormorant-2291"
M2="Thank you, the swelling is gone pangolin-8830"
/usr/bin/python3 -c '
import random, sys, zlib, struct
random.seed(41)
w = h = 64
raw = b"".join(b"\0" + bytes(random.randrange(256) for _ in range(w)) for _ in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
sys.stdout.buffer.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                        + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))' >"$FILE_PNG"
/usr/bin/python3 -c '
import random, sys
random.seed(42)
sys.stdout.buffer.write(b"P5 48 48 255\n" + bytes(random.randrange(256) for _ in range(48 * 48)))' >small.pgm
cjpeg small.pgm >"$FILE_JPG"
check "img2dcm" img2dcm -k "PatientName=$P1_NAME" -k "PatientID=$P1_ID" -k "PatientBirthDate=$P1_DOB" \
	-k StudyDate=20240311 -k Modality=DX -k "StudyDescription=$P1_STUDY_DESC" "$FILE_JPG" "$FILE_DCM"
STUDY_UID=$("$MEDCRYPT" meta --json "$FILE_DCM" | "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("StudyInstanceUID",""))')
[ -n "$STUDY_UID" ] && ok || bad "no StudyInstanceUID in $FILE_DCM"

# ---- the server (with a notice mailer) and the accounts ----
SMTP_PORT=$(free_port)
MAILDIR=$T/maildir
check "SMTP server starts" smtp_start
check "server starts" server_start --smtp-url "smtp://127.0.0.1:$SMTP_PORT" --smtp-from medcrypt@clinic.test \
	--smtp-min-interval 1 --public-url https://medcrypt.clinic.test/
check "admin registers" as admin register "$INVITATION" --user admin --url "$URL" --yes
declare -A role=([tech]=technician [doc1]=doctor [doc2]=doctor [pat1]=patient [pat2]=patient [res]=researcher)
for u in tech doc1 doc2 pat1 pat2 res; do
	as admin invite --role "${role[$u]}" >.code 2>.err && ok || bad "invite $u: $(cat .err)"
	check "register $u" as $u register "$(cat .code)" --user $u --url "$URL"
done
check "the admin gives patient 1 a notice address" as admin admin email pat1 pat1@clinic.test
check "patient 1 appoints doctor 1" as pat1 appoint doc1

open_stream p1 pat1 && ok || bad "patient 1's event stream did not start"
open_stream d2 doc2 && ok || bad "doctor 2's event stream did not start"

# ---- the technician sends about patient 1 ----
declare -A ID=()
for f in "$FILE_PNG" "$FILE_JPG" "$FILE_DCM"; do
	if as tech send "$f" --patient pat1 --to doc1 >.id 2>.err; then ok; else bad "send $f: $(cat .err)"; fi
	ID[$f]=$(grep -oE '^[0-9a-f]{32}$' .id | head -1)
	[ -n "${ID[$f]}" ] && ok || bad "send $f printed no id: $(cat .id)"
done
DCM=${ID[$FILE_DCM]}
expect_in .err "pat1" "send says the patient is a recipient"
wait_for p1.s '^event: image$' 5 && ok || bad "patient 1 heard of no image: $(cat p1.s)"
wait_mails 1 10 && ok || bad "no notice mail for patient 1"
before=$(db "SELECT count(*) FROM images")
refused "the technician sends to doctor 2, whom patient 1 did not appoint" as tech send "$FILE_DCM" --patient pat1 --to doc2
expect_in .err "appoint" "the refusal says what is missing"
[ "$(db "SELECT count(*) FROM images")" = "$before" ] && ok || bad "a refused send stored an image"
refused "a technician's send names a patient" as tech send "$FILE_DCM" --to doc1
refused "the patient must be a patient" as tech send "$FILE_DCM" --patient doc1 --to doc1

# ---- doctor 1 and patient 1 open them bit-exact ----
for f in "$FILE_PNG" "$FILE_JPG" "$FILE_DCM"; do
	check "doctor 1 opens $f" as doc1 get "${ID[$f]}" -o "doc1-$f"
	same "doc1-$f" "$f"
	check "patient 1 opens $f" as pat1 get "${ID[$f]}" -o "pat1-$f"
	same "pat1-$f" "$f"
done
check "doctor 1's listing names the patient" as doc1 ls --json
expect_in .out '"patient": "pat1"' "ls --json carries the patient"
refused "doctor 1 may not share with doctor 2" as doc1 share "$DCM" --to doc2
refused "doctor 2 cannot open it" as doc2 get "$DCM" -o doc2-early.dcm
no_output doc2-early.dcm
refused "patient 2 cannot open it" as pat2 get "$DCM" -o pat2.dcm
no_output pat2.dcm

# ---- consent: denied, expired, approved, withdrawn ----
check "doctor 2 asks patient 1 (to be denied)" as doc2 consent request pat1 --reason "$REASON"
wait_for p1.s '^event: consent$' 5 && ok || bad "patient 1 heard of no consent request: $(cat p1.s)"
check "patient 1 lists the requests" as pat1 consent list
expect_in .out "doc2" "the request names the doctor"
expect_in .out "$REASON" "the patient's client opens the reason"
CID=$(consent_id pat1)
check "patient 1 denies" as pat1 consent deny "$CID"
wait_for d2.s '^event: consent$' 5 && ok || bad "doctor 2 heard of no decision: $(cat d2.s)"
refused "a denied request gives nothing" as doc2 get "$DCM" -o doc2-denied.dcm
refused "a denied request cannot be approved" as pat1 consent approve "$CID"
[ "$(images_of doc2)" = 0 ] && ok || bad "doctor 2 holds wraps after a denial"

check "doctor 2 asks with a 1-second expiry" as doc2 consent request pat1 --reason "$REASON" --expires-in 1
CID=$(consent_id pat1)
sleep 2
refused "an expired request cannot be approved" as pat1 consent approve "$CID"
[ "$(images_of doc2)" = 0 ] && ok || bad "doctor 2 holds wraps after an expired request"
as pat1 consent list --json >.out
expect_in .out '"expired"' "the request reads as expired"

check "doctor 2 asks for the study" as doc2 consent request pat1 --study "$STUDY_UID" --reason "$REASON"
CID=$(consent_id pat1)
check "patient 1 approves" as pat1 consent approve "$CID"
[ "$(images_of doc2)" = 1 ] && ok || bad "the study consent gave doctor 2 $(images_of doc2) images, not the 1 DICOM"
check "doctor 2 opens the DICOM" as doc2 get "$DCM" -o doc2.dcm
same doc2.dcm "$FILE_DCM"
refused "the PNG is outside the study" as doc2 get "${ID[$FILE_PNG]}" -o doc2.png
check "patient 1 withdraws" as pat1 consent withdraw "$CID"
refused "after the withdrawal doctor 2 cannot download" as doc2 get "$DCM" -o doc2-after.dcm
no_output doc2-after.dcm

check "doctor 2 asks for everything" as doc2 consent request pat1 --reason "$REASON"
CID=$(consent_id pat1)
check "patient 1 approves everything" as pat1 consent approve "$CID"
for f in "$FILE_PNG" "$FILE_JPG" "$FILE_DCM"; do
	check "doctor 2 opens $f" as doc2 get "${ID[$f]}" -o "doc2-all-$f"
	same "doc2-all-$f" "$f"
done
refused "patient 2 has no consent to approve" as pat2 consent approve "$CID"

# ---- research: the identified DICOM is refused, the de-identified copy arrives ----
refused "doctor 1 may not share the identified DICOM with the researcher" as doc1 share "$DCM" --to res
refused "the client will not mark the identified DICOM de-identified" as doc1 send "$FILE_DCM" --to res --deidentified
expect_in .err "PatientName" "the refusal names the attribute"
check "doctor 1 de-identifies" as doc1 deid -r "$T/home-doc1/keys/doc1.pub" -o research.dcm "$FILE_DCM"
if as doc1 send research.dcm --to res --deidentified >.id 2>.err; then ok; else bad "send the research copy: $(cat .err)"; fi
RID=$(grep -oE '^[0-9a-f]{32}$' .id | head -1)
check "the researcher opens the copy" as res get "$RID" -o res.dcm --json
same res.dcm research.dcm
expect_in .out '"deidentified"' "get --json shows the claim"
expect_in .out "PS3.15" "the claim names the profile"
check "the researcher sees who signed the claim" as res get "$RID" -o res2.dcm
expect_in .err "doc1" "get names the signer of the claim"
for s in "$P1_NAME" "$P1_ID" Numbat Ottoline; do
	if grep -aqF -- "$s" res.dcm; then bad "the research copy carries '$s'"; else ok; fi
done
refused "the researcher cannot open the identified DICOM" as res get "$DCM" -o res-id.dcm

# ---- messages both ways, as events ----
check "doctor 1 writes patient 1" as doc1 msg pat1 "$M1"
wait_for p1.s '^event: message$' 5 && ok || bad "patient 1 heard of no message: $(cat p1.s)"
check "patient 1's inbox" as pat1 inbox
MID=$(as pat1 inbox --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["messages"][0]["id"])')
check "patient 1 reads it" as pat1 read "$MID"
expect_in .out "$M1" "the text arrives"
check "patient 1 answers" as pat1 msg doc1 "$M2"
MID=$(as doc1 inbox --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["messages"][0]["id"])')
check "doctor 1 reads the answer" as doc1 read "$MID"
expect_in .out "$M2" "the answer arrives"
refused "patient 2 may not write doctor 1 (no appointment)" as pat2 msg doc1 "hello"

# ---- dismissal: doctor 1's access ends at the next download ----
check "patient 1 dismisses doctor 1" as pat1 dismiss doc1
expect_in .out "can no longer download 3 images" "dismiss says how many images doctor 1 lost"
refused "doctor 1 after the dismissal" as doc1 get "$DCM" -o doc1-after.dcm
no_output doc1-after.dcm
check "patient 1 still opens" as pat1 get "$DCM" -o pat1-after.dcm
same pat1-after.dcm "$FILE_DCM"

# ---- patient 2 reaches nothing ----
check "patient 2 lists" as pat2 ls --json
if grep -qE '[0-9a-f]{32}' .out; then bad "patient 2 sees an image: $(cat .out)"; else ok; fi
for f in "$FILE_PNG" "$FILE_JPG" "$FILE_DCM"; do
	refused "patient 2 opens $f" as pat2 get "${ID[$f]}" -o "pat2-$f"
done

# ---- what the server holds: no PHI anywhere ----
for p in "${STREAM_PID[@]}"; do kill "$p" 2>/dev/null; done
for s in p1 d2; do
	for secret in "$P1_ID" Numbat Ottoline "$P1_STUDY_DESC" 3317 kestrel cormorant pangolin wrist; do
		if grep -qiF -- "$secret" "$s.s"; then bad "the event stream $s carries '$secret'"; else ok; fi
	done
done
for m in "$MAILDIR"/new/*; do
	for secret in "$P1_ID" Numbat Ottoline "$P1_STUDY_DESC" wrist "$FILE_DCM" tech DICOM PNG; do
		if grep -qiF -- "$secret" "$m"; then bad "the notice mail carries '$secret'"; else ok; fi
	done
done
server_stop
files=("$DATA/medcryptd.db"*)
for secret in "$P1_NAME" Numbat Ottoline "$P1_ID" "$P1_DOB" "$P1_STUDY_DESC" "$STUDY_UID" 20240311 \
	"$FILE_DCM" "$FILE_PNG" "$FILE_JPG" "$REASON" kestrel "$M1" cormorant "$M2" pangolin; do
	if grep -raF -- "$secret" "${files[@]}" "$DATA/blobs" "$DATA/uploads" "$T/server.log" >/dev/null 2>&1; then
		bad "the server's data holds '$secret'"
	else ok; fi
done
check "audit verify" "$MEDCRYPTD" audit verify --data-dir "$DATA"
summary clinic
