#!/usr/bin/env bash
# consent_test.sh: the patient of an image, the PatientID mapping and consent, with the CLI
# against a real medcryptd (issue 12, items 1 to 3; docs/API.md §15 and §16c):
# - send --patient: the server records the patient (and no PatientID), the patient is added to
#   the recipients and opens the image bit-exact, get and ls show the patient; a technician's
#   send without a patient exits 2 saying what to do, a recipient the patient did not appoint,
#   an account that is not a patient and a doctor the patient did not appoint are refused with
#   the CLI's sentences, and nothing is stored;
# - patients map|list|unmap: map --from a DICOM, send without --patient picks the patient, the
#   mapping file holds no PatientID in clear, an altered mapping is an error, unmap;
# - consent request|list|approve|deny|withdraw: a denied and an expired request change nothing,
#   a study, a date-range and an all-images consent wrap exactly the images they cover (the
#   doctor opens them bit-exact with get), a withdrawal takes them back (404), a doctor cancels
#   their own request, the refusals; the server's database holds no reason or study UID;
# - dismiss: says how many images the doctor can no longer download.
# Every example of the --help of send, patients and consent and of the man page's "Patients and
# consent" section runs here, against the server.
#
# usage: tests/server/consent_test.sh [path/to/medcrypt [path/to/medcryptd]]
# Ends with "consent: N passed, M failed".
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/e2e_setup.sh" "$@"
for tool in sqlite3 img2dcm cjpeg; do
	command -v $tool >/dev/null || { echo "consent: $tool missing (scripts/bootstrap installs it)" >&2; exit 1; }
done

images() { db "SELECT count(*) FROM images"; }
wraps_of() { db "SELECT count(*) FROM wraps w JOIN users u ON u.id = w.user_id WHERE u.username = '$1'"; }
patient_of() { db "SELECT coalesce(u.username, 'NULL') FROM images i LEFT JOIN users u ON u.id = i.patient_id WHERE i.id = '$1'"; }
image_id() { grep -oE '^[0-9a-f]{32}$' .out | head -1; }

# ---- made-up files: a PNG, a JPEG, two DICOM studies of one made-up patient ----
PID=PID-CONSENT-55821
PNAME="Quokka^Hyacinth"
REASON="Second opinion on the ankle, heron-4471"
py '
import random, sys, zlib, struct
random.seed(7)
w = h = 40
raw = b"".join(b"\0" + bytes(random.randrange(256) for _ in range(w)) for _ in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
sys.stdout.buffer.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                        + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))' >scan.png
py '
import random, sys
random.seed(8)
sys.stdout.buffer.write(b"P5 32 32 255\n" + bytes(random.randrange(256) for _ in range(32 * 32)))' >small.pgm
cjpeg small.pgm >scan.jpg
check "img2dcm (2024 study)" img2dcm -k "PatientName=$PNAME" -k "PatientID=$PID" -k StudyDate=20240311 -k Modality=DX \
	scan.jpg scan.dcm
check "img2dcm (2023 study)" img2dcm -k "PatientName=$PNAME" -k "PatientID=$PID" -k StudyDate=20230105 -k Modality=CR \
	scan.jpg old.dcm
STUDY=$("$MEDCRYPT" meta --json scan.dcm | py 'import json,sys; print(json.load(sys.stdin)["StudyInstanceUID"])')
OLD_STUDY=$("$MEDCRYPT" meta --json old.dcm | py 'import json,sys; print(json.load(sys.stdin)["StudyInstanceUID"])')
[ -n "$STUDY" ] && [ "$STUDY" != "$OLD_STUDY" ] && ok || bad "two studies: '$STUDY' '$OLD_STUDY'"
echo "Follow-up of the fracture, ibis-2203" >why.txt

# ---- the server and the accounts ----
check "server starts" server_start
check "admin registers" as admin register "$INVITATION" --user admin --url "$URL" --yes
declare -A role=([tech]=technician [doca]=doctor [docb]=doctor [pat1]=patient [pat2]=patient)
for u in tech doca docb pat1 pat2; do
	as admin invite --role "${role[$u]}" >.code 2>.err && ok || bad "invite $u: $(cat .err)"
	check "register $u" as $u register "$(cat .code)" --user $u --url "$URL"
done
check "pat1 appoints doca" as pat1 appoint doca

# ---- send --patient ----
check "tech sends the PNG about pat1 to doca" as tech send scan.png --patient pat1 --to doca
PNG=$(image_id)
expect_in .err "pat1 added to the recipients" "send says the patient joined the recipients"
[ "$(patient_of "$PNG")" = pat1 ] && ok || bad "the server's patient of the PNG: $(patient_of "$PNG")"
for u in pat1 doca; do
	check "$u opens the PNG" as $u get "$PNG" -o $u-scan.png
	same scan.png $u-scan.png
done
expect_in .out "about patient pat1" "get names the patient"
check "get --json" as doca get "$PNG" -o doca-json.png --json
py 'import json,sys; g=json.load(open(sys.argv[1])); assert g["patient"] == "pat1", g' .out && ok || bad "get --json: $(cat .out)"
check "ls" as doca ls
grep -E "^$PNG .* pat1 " .out >/dev/null && ok || bad "ls shows the patient: $(cat .out)"
check "ls --json" as pat1 ls --json
py 'import json,sys; i=json.load(open(sys.argv[1]))["images"]; assert [x["patient"] for x in i] == ["pat1"], i' .out &&
	ok || bad "ls --json carries the patient: $(cat .out)"
check "tech sends the JPEG with pat1 among --to" as tech send scan.jpg --patient pat1 --to pat1 --to doca
grep -q "added to the recipients" .err && bad "pat1 was among --to: $(cat .err)" || ok
JPG=$(image_id)

# the refusals: nothing is stored
before=$(images)
expect_exit 2 "a technician's send without a patient" as tech send scan.png --to doca
expect_in .err "--patient USER" "says to name the patient"
expect_in .err "medcrypt patients map --from scan.png USER" "says how to map the PatientID"
expect_exit 11 "a recipient pat1 did not appoint" as tech send scan.png --patient pat1 --to docb
expect_in .err "docb is not a doctor pat1 appointed: pat1 can appoint them with 'medcrypt appoint docb'" "the sentence"
expect_exit 15 "a patient that is not a patient" as tech send scan.png --patient doca --to doca
expect_in .err "doca is not a patient's account" "the sentence"
expect_exit 11 "an unknown patient" as tech send scan.png --patient nobody --to doca
expect_exit 11 "a doctor pat1 did not appoint sends about pat1" as docb send scan.png --patient pat1
expect_in .err "pat1 has not appointed you" "the sentence"
expect_in .err "medcrypt consent request pat1" "says how to ask"
expect_exit 2 "a doctor's identified send without a patient" as doca send scan.png --to docb
expect_in .err "--deidentified" "a doctor is told of the de-identified copy"
expect_exit 2 "a hostile patient name" as tech send scan.png --patient $'x\e[2J' --to doca
grep -q $'\e' .err && bad "the escape reached the terminal" || ok
[ "$(images)" = "$before" ] && ok || bad "a refused send stored an image ($before -> $(images))"

# ---- the PatientID mapping ----
check "an empty mapping" as tech patients list
expect_in .out "0 PatientIDs mapped" "empty"
check "map --from the DICOM" as tech patients map --from scan.dcm pat1
expect_in .out "mapped the PatientID of scan.dcm to pat1" "says so"
grep -qF "$PID" .out .err && bad "map printed the PatientID" || ok
expect_exit 15 "only a patient's account" as tech patients map --from scan.dcm doca
expect_exit 11 "an unknown account" as tech patients map --from scan.dcm nobody
expect_exit 2 "--from a file without a PatientID" as tech patients map --from scan.png pat1
check "map a PatientID given in argv" as tech patients map PID-OTHER-1 pat2
check "list" as tech patients list
grep -E "^$PID +pat1 " .out >/dev/null && ok || bad "list shows the DICOM's PatientID: $(cat .out)"
expect_in .out "2 PatientIDs mapped" "the count"
check "list --json" as tech patients list --json
py 'import json,sys; p=json.load(open(sys.argv[1]))["patients"]; assert sorted((x["patient_id"], x["user"]) for x in p) == [("PID-CONSENT-55821","pat1"),("PID-OTHER-1","pat2")], p' .out &&
	ok || bad "list --json: $(cat .out)"
MAP=$(ls "$T"/home-tech/patients/*.map)
[ -f "$MAP" ] && [ "$(stat -c %a "$MAP")" = 600 ] && ok || bad "the mapping file ($MAP) is mode 0600"
if grep -rqaF -e "$PID" -e PID-OTHER-1 -e "$PNAME" "$T/home-tech"; then bad "a PatientID in clear in the CLI's directory"; else ok; fi
check "unmap" as tech patients unmap PID-OTHER-1
expect_in .out "it was mapped to pat2" "says what it was"
expect_exit 11 "unmap again" as tech patients unmap PID-OTHER-1
check "send without --patient picks the patient" as tech send scan.dcm --to doca
DCM=$(image_id)
expect_in .err "patient: pat1 (from your PatientID mapping)" "says where the patient came from"
[ "$(patient_of "$DCM")" = pat1 ] && ok || bad "the server's patient of the DICOM: $(patient_of "$DCM")"
check "pat1 opens the DICOM" as pat1 get "$DCM" -o pat1-scan.dcm
same scan.dcm pat1-scan.dcm
check "tech sends the 2023 study (mapped)" as tech send old.dcm --to doca
OLD=$(image_id)
[ "$(patient_of "$OLD")" = pat1 ] && ok || bad "the server's patient of old.dcm"
# another user's copy, or an altered byte, is an error, never an empty mapping
cp "$MAP" map.saved
size=$(stat -c %s "$MAP")
printf 'X' | dd of="$MAP" bs=1 seek=$((size - 100)) conv=notrunc status=none
if as tech send scan.dcm --to doca >.out 2>.err; then bad "an altered mapping was used"; else ok; fi
expect_in .err "does not open with your key and signature" "an altered mapping is an error"
cp map.saved "$MAP"
mkdir -p "$T/home-doca/patients"
cp "$MAP" "$T/home-doca/patients/doca@${URL#https://}.map"
if as doca patients list >.out 2>.err; then bad "doca opened tech's mapping: $(cat .out)"; else ok; fi
rm -f "$T/home-doca/patients/doca@${URL#https://}.map"
check "unmap --from" as tech patients unmap --from scan.dcm
expect_exit 2 "no longer mapped" as tech send scan.dcm --to doca
expect_in .err "not in your mapping" "says the PatientID is not mapped"

# ---- consent ----
expect_exit 11 "docb cannot open pat1's images yet" as docb get "$DCM" -o docb-early.dcm
# a denied request changes nothing
check "docb asks pat1 (to be denied)" as docb consent request pat1 --reason "$REASON"
C_DENY=$(image_id)
[ -n "$C_DENY" ] && ok || bad "request printed no id: $(cat .out)"
check "pat1 lists the requests" as pat1 consent list
grep -E "^$C_DENY +pending +from +docb .*all images: $REASON" .out >/dev/null && ok ||
	bad "pat1's list: $(cat .out)"
check "docb lists the requests (--json)" as docb consent list --json
py 'import json,sys; c=json.load(open(sys.argv[1]))["consents"][0]
assert c["status"] == "pending" and c["patient"] == "pat1" and c["request"]["scope"] == "all" and c["request"]["reason"] == sys.argv[2], c' \
	.out "$REASON" && ok || bad "docb's list --json: $(cat .out)"
check "pat1 denies" as pat1 consent deny "$C_DENY"
expect_in .out "denied $C_DENY" "says so"
expect_exit 15 "a denied request cannot be approved" as pat1 consent approve "$C_DENY"
expect_exit 15 "nor denied again" as pat1 consent deny "$C_DENY"
[ "$(wraps_of docb)" = 0 ] && ok || bad "a denial gave docb wraps"
# an expired one neither
check "docb asks with a 1-second expiry" as docb consent request pat1 --reason "$REASON" --expires-in 1
C_EXP=$(image_id)
sleep 2
check "list --status expired" as pat1 consent list --status expired --json
py 'import json,sys; c=json.load(open(sys.argv[1]))["consents"]; assert [x["id"] for x in c] == [sys.argv[2]] and c[0]["status"] == "expired", c' \
	.out "$C_EXP" && ok || bad "the expired request: $(cat .out)"
expect_exit 15 "an expired request cannot be approved" as pat1 consent approve "$C_EXP"
expect_in .err "expired" "says why"
expect_exit 15 "nor denied" as pat1 consent deny "$C_EXP"
[ "$(wraps_of docb)" = 0 ] && ok || bad "an expiry gave docb wraps"
expect_exit 11 "docb still cannot open" as docb get "$DCM" -o docb-early.dcm
no_output docb-early.dcm
# a study: exactly that study
check "docb asks for the 2024 study" as docb consent request pat1 --study "$STUDY" --reason-file why.txt
C_STUDY=$(image_id)
check "--study-of reads the study from a DICOM" as docb consent request pat1 --study-of scan.dcm --reason x --json
py 'import json,sys; c=json.load(open(sys.argv[1])); assert c["request"]["scope"] == "study" and c["request"]["study"] == sys.argv[2], c' \
	.out "$STUDY" && ok || bad "--study-of: $(cat .out)"
check "docb withdraws that one" as docb consent withdraw "$(py 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' .out)"
expect_exit 2 "--study-of a PNG" as docb consent request pat1 --study-of scan.png --reason x
expect_exit 11 "docb cannot approve" as docb consent approve "$C_STUDY"
expect_exit 11 "pat2 cannot approve" as pat2 consent approve "$C_STUDY"
check "pat1 approves the study" as pat1 consent approve "$C_STUDY"
expect_in .out "docb can now open 1 of your images" "says how many"
expect_in .err "not covered" "says later images need a new request"
[ "$(wraps_of docb)" = 1 ] && ok || bad "the study consent gave docb $(wraps_of docb) wraps"
check "docb opens the study's DICOM" as docb get "$DCM" -o docb-scan.dcm
same scan.dcm docb-scan.dcm
expect_exit 11 "the 2023 study is not covered" as docb get "$OLD" -o docb-old.dcm
expect_exit 11 "the PNG is not covered" as docb get "$PNG" -o docb-scan.png
[ "$(db "SELECT count(*) FROM wraps WHERE consent_id = '$C_STUDY'")" = 1 ] && ok || bad "the wrap names its consent"
check "pat1 withdraws" as pat1 consent withdraw "$C_STUDY"
expect_in .out "can no longer download the 1 image it covered" "says what it took back"
expect_in .err "stays with them" "says what downloaded stays"
expect_exit 11 "after the withdrawal docb gets 404" as docb get "$DCM" -o docb-after.dcm
expect_exit 15 "a withdrawn consent cannot be approved" as pat1 consent approve "$C_STUDY"
# a date range: the StudyDate decides
check "docb asks for 2024" as docb consent request pat1 --from 20240101 --to 20241231 --reason "$REASON"
C_RANGE=$(image_id)
check "pat1 approves the range (--json)" as pat1 consent approve "$C_RANGE" --json
py 'import json,sys; c=json.load(open(sys.argv[1])); assert c["status"] == "approved" and c["added"] == 1 and c["selected"] == 1, c' .out &&
	ok || bad "approve --json: $(cat .out)"
check "docb opens the 2024 DICOM" as docb get "$DCM" -o docb-range.dcm
same scan.dcm docb-range.dcm
expect_exit 11 "2023 is outside the range" as docb get "$OLD" -o docb-old.dcm
check "pat1 withdraws the range" as pat1 consent withdraw "$C_RANGE"
# everything
check "docb asks for everything" as docb consent request pat1 --reason "$REASON" --json
C_ALL=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' .out)
check "pat1 approves everything" as pat1 consent approve "$C_ALL"
expect_in .out "docb can now open 4 of your images" "all four"
for x in "$PNG:scan.png" "$JPG:scan.jpg" "$DCM:scan.dcm" "$OLD:old.dcm"; do
	check "docb opens ${x#*:}" as docb get "${x%%:*}" -o "docb-all-${x#*:}"
	same "${x#*:}" "docb-all-${x#*:}"
done
check "docb's list shows 4 images" as docb consent list --status approved --json
py 'import json,sys; c=json.load(open(sys.argv[1]))["consents"]; assert [(x["id"], x["images"]) for x in c] == [(sys.argv[2], 4)], c' \
	.out "$C_ALL" && ok || bad "approved list: $(cat .out)"
check "docb, consented, sends about pat1" as docb send scan.png --patient pat1
# a doctor cancels their own pending request; the refusals
check "docb asks again" as docb consent request pat1 --reason "$REASON"
C_OWN=$(image_id)
check "docb withdraws their request" as docb consent withdraw "$C_OWN"
expect_in .out "withdrew your request $C_OWN to pat1" "says so"
expect_exit 15 "a withdrawn request cannot be approved" as pat1 consent approve "$C_OWN"
expect_exit 11 "a technician cannot ask" as tech consent request pat1 --reason "$REASON"
expect_exit 15 "a doctor is not a patient" as docb consent request doca --reason "$REASON"
expect_exit 11 "an unknown patient" as docb consent request nobody --reason "$REASON"
expect_exit 2 "study and range" as docb consent request pat1 --study "$STUDY" --from 20240101 --to 20241231 --reason x
expect_exit 2 "a bad date" as docb consent request pat1 --from 20241301 --to 20241231 --reason x
expect_exit 2 "from after to" as docb consent request pat1 --from 20241231 --to 20240101 --reason x
expect_exit 2 "no reason" as docb consent request pat1
expect_exit 2 "a too long reason" as docb consent request pat1 --reason "$(head -c 4097 /dev/zero | tr '\0' r)"
expect_exit 2 "a bad expiry" as docb consent request pat1 --reason x --expires-in 7776001
expect_exit 2 "a bad id" as pat1 consent approve 123
expect_exit 11 "an unknown id" as pat1 consent deny 0123456789abcdef0123456789abcdef
# what the server keeps of a request: ids, users, times, the sealed bytes
db ".dump consents" >consents.sql
db ".dump images" >images.sql
for secret in "$REASON" "heron-4471" "ibis-2203" "$STUDY" 20240101 "$PID" "Quokka"; do
	grep -qF -- "$secret" consents.sql images.sql && bad "the database holds '$secret'" || ok
done

# ---- dismiss: the doctor loses the images about the patient ----
n=$(db "SELECT count(*) FROM wraps w JOIN users u ON u.id = w.user_id JOIN images i ON i.n = w.image_n JOIN users p ON p.id = i.patient_id WHERE u.username = 'doca' AND p.username = 'pat1' AND i.sender_id <> u.id")
[ "$n" = 4 ] && ok || bad "doca holds $n wraps of pat1's images, expected 4"
check "pat1 dismisses doca" as pat1 dismiss doca
expect_in .out "doca can no longer download 4 images about you" "says how many"
expect_in .err "stays with them" "says what was downloaded stays"
expect_exit 11 "doca after the dismissal" as doca get "$DCM" -o doca-after.dcm
check "pat1 still opens" as pat1 get "$DCM" -o pat1-after.dcm
same scan.dcm pat1-after.dcm
check "pat1 appoints doca again" as pat1 appoint doca
check "dismiss --json" as pat1 dismiss doca --json
py 'import json,sys; d=json.load(open(sys.argv[1])); assert d == {"dismissed": "doca", "wraps_deleted": 0}, d' .out &&
	ok || bad "dismiss --json: $(cat .out)"
check "pat1 appoints doca for the examples" as pat1 appoint doca

# ---- every example of the --help of send, patients and consent, and of the man page ----
mkdir -p "$T/bin" && ln -sf "$MEDCRYPT" "$T/bin/medcrypt"
examples_of() { # the examples of one command's --help, then of the man page's section
	"$MEDCRYPT" "$1" --help | sed -n '/^examples:/,$s/^  \(medcrypt .*\)/\1/p'
	sed -n '/^\.SS "Patients and consent"/,/^\.S[SH] /{s/\\-/-/g;s/\\(aq/'"'"'/g;s/^\$ \(medcrypt '"$1"' .*\)/\1/p}' \
		"$REPO/docs/medcrypt.1"
}
run_example() { # run_example USER EXAMPLE
	if PATH=$T/bin:$PATH MEDCRYPT_HOME=$T/home-$1 MEDCRYPT_PASSPHRASE=$(pw "$1") bash -o pipefail -c "$2" \
		>.out 2>.err </dev/null; then
		ok
	else
		bad "example '$2' as $1: $(head -c 300 .err)"
	fi
}
check "the examples' mapping" as tech patients map --from scan.dcm pat1
count=0
while IFS= read -r example; do
	run_example tech "$example"
	count=$((count + 1))
done < <(examples_of send; examples_of patients)
# each pass (the --help, then the man page) asks a few times, then approves the first request,
# denies the second and withdraws the first
REQ=() placeholder=0123456789abcdef0123456789abcdef
while IFS= read -r example; do
	case $example in
	*"consent request"*)
		run_example docb "$example"
		REQ+=("$(image_id)")
		;;
	*"consent approve"*) run_example pat1 "${example//$placeholder/${REQ[0]}}" ;;
	*"consent deny"*) run_example pat1 "${example//$placeholder/${REQ[1]}}" ;;
	*"consent withdraw"*)
		run_example pat1 "${example//$placeholder/${REQ[0]}}"
		REQ=()
		;;
	*) run_example pat1 "$example" ;;
	esac
	count=$((count + 1))
done < <(examples_of consent)
[ "$count" -ge 24 ] && ok || bad "examples found: $count"

server_stop
if grep -q "Sanitizer\|runtime error" "$T/server.log"; then
	bad "the server's sanitizer report: $(grep -A5 'Sanitizer\|runtime error' "$T/server.log" | head -20)"
fi
summary consent
