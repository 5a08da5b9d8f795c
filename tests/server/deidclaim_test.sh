#!/usr/bin/env bash
# deidclaim_test.sh: research copies and the de-identification claim (issue 12, item 4; docs/FORMAT.md
# "The de-identification claim", src/medcrypt/deidclaim.c) with the CLI against a real medcryptd:
# - a doctor's send --deidentified of an identified DICOM is refused before anything is stored,
#   naming the attribute and showing no value; what `medcrypt deid` made of it is sent to a
#   researcher, who opens it bit-exact; get prints the claim and who signed it (the signer's
#   signing key), get --json carries "deidentified": the claim (profile, checked, pixels, tool,
#   time), ls shows it under the item; an identified item's get --json has "deidentified": null;
# - a JPEG with --confirm-deidentified ("confirmed by sender") and a region-encrypted PNG
#   ("regions cleaned");
# - the server's mark is not the sender's claim: an upload marked deidentified=1 whose sealed
#   metadata has no claim (sealed by hand and posted with curl) makes get and ls warn;
# - a --meta object may not carry a "deidentified" member of its own.
# Every example of the man page's "De-identified copies" section runs here (as the doctor doca
# and the researcher resa).
#
# usage: tests/server/deidclaim_test.sh [path/to/medcrypt [path/to/medcryptd]]
# Ends with "deidclaim: N passed, M failed".
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/e2e_setup.sh" "$@"
for tool in img2dcm cjpeg curl; do
	command -v $tool >/dev/null || { echo "deidclaim: $tool missing (scripts/bootstrap installs it)" >&2; exit 1; }
done

image_id() { grep -oE '^[0-9a-f]{32}$' .out | head -1; }
images() { sqlite3 -cmd '.timeout 5000' "$DATA/medcryptd.db" "SELECT count(*) FROM images"; }

# ---- made-up files ----
PNAME="Wombat^Philippa"
PID=PID-DEID-88213
py '
import random, sys
random.seed(9)
sys.stdout.buffer.write(b"P5 32 32 255\n" + bytes(random.randrange(256) for _ in range(32 * 32)))' >small.pgm
cjpeg small.pgm >photo.jpg
check "img2dcm" img2dcm -k "PatientName=$PNAME" -k "PatientID=$PID" -k StudyDate=20240311 -k Modality=DX photo.jpg scan.dcm
py '
import struct, sys, zlib
w, h = 40, 30
raw = b"".join(b"\0" + bytes((x * 5 + y) % 256 for x in range(w)) for y in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
sys.stdout.buffer.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                        + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))' >face.png

# ---- the server and the accounts ----
check "server starts" server_start
check "admin registers" as admin register "$INVITATION" --user admin --url "$URL" --yes
declare -A role=([doca]=doctor [resa]=researcher [pat]=patient)
for u in doca resa pat; do
	as admin invite --role "${role[$u]}" >.code 2>.err && ok || bad "invite $u: $(cat .err)"
	check "register $u" as $u register "$(cat .code)" --user $u --url "$URL"
done
cp "$T/home-doca/keys/doca.pub" doca.pub
check "pat appoints doca" as pat appoint doca

# ---- refused before anything is stored ----
before=$(images)
expect_exit 2 "the identified DICOM is refused" as doca send scan.dcm --deidentified --to resa
expect_in .err "PatientName" "the refusal names the attribute"
not_in .err "Wombat" "the refusal shows no value"
not_in .err "$PID" "the refusal shows no PatientID"
expect_exit 2 "a JPEG without confirmation is refused" as doca send photo.jpg --deidentified --to resa
expect_in .err "--confirm-deidentified" "the refusal says how to confirm"
echo '{"deidentified": {"profile": "made up"}}' >fake.json
check "deid for the --meta test" as doca deid -r doca.pub -o meta-test.dcm scan.dcm
expect_exit 2 "--meta may not carry its own claim" as doca send meta-test.dcm --meta fake.json --to resa
expect_exit 11 "the server refuses an unmarked item to a researcher" as doca send meta-test.dcm --patient pat --to resa
[ "$(images)" = "$before" ] && ok || bad "a refused send stored an image"

# ---- the man page's examples (docs/medcrypt.1, "De-identified copies") ----
mkdir -p "$T/bin" && ln -sf "$MEDCRYPT" "$T/bin/medcrypt"
examples=$(sed -n '/^\.SS "De\\-identified copies"/,/^\.S[SH] /{s/\\-/-/g;s/^\$ \(medcrypt .*\)/\1/p}' "$REPO/docs/medcrypt.1")
placeholder=0123456789abcdef0123456789abcdef
RID="" JID=""
n=0
while IFS= read -r example; do
	[ -n "$example" ] || continue
	user=doca
	case $example in "medcrypt get "* | "medcrypt ls"*) user=resa ;; esac
	example=${example//$placeholder/$RID}
	if PATH=$T/bin:$PATH MEDCRYPT_HOME=$T/home-$user MEDCRYPT_PASSPHRASE=$(pw "$user") bash -o pipefail -c "$example" \
		>.out 2>.err </dev/null; then
		ok
	else
		bad "example '$example' as $user: $(head -c 400 .err)"
	fi
	case $example in
	*"send research.dcm"*) RID=$(image_id) ;;
	*"send photo.jpg"*) JID=$(image_id) ;;
	*"get "*"--json"*) cp .out get.json ;;
	*"get "*) cp .out get.txt && cp .err get.err ;;
	"medcrypt ls"*) cp .out ls.txt ;;
	esac
	n=$((n + 1))
done <<<"$examples"
[ "$n" -ge 5 ] && ok || bad "examples found: $n"
[ -n "$RID" ] && ok || bad "the example's send printed no id"
[ -n "$JID" ] && ok || bad "the JPEG's send printed no id"
same research.dcm copy.dcm
[ -s get.txt ] && ok || bad "get printed nothing"
expect_in get.txt "de-identified, as claimed by doca" "get names who claims it"
expect_in get.txt "DICOM PS3.15 E.1-1 Basic Application Level Confidentiality Profile" "get shows the profile"
expect_in get.txt "signed:   by doca, signing key" "get shows the signing key"
SIGN_FP=$(as resa users --json | py 'import json,sys; print([u["sign_fingerprint"] for u in json.load(sys.stdin)["users"] if u["username"] == "doca"][0])' 2>/dev/null)
[ -n "$SIGN_FP" ] && expect_in get.txt "$SIGN_FP" "the key shown is doca's signing key in the directory" ||
	bad "no signing fingerprint of doca in the directory"
py '
import json, sys
d = json.load(open("get.json"))
c = d["deidentified"]
assert c["profile"] == "DICOM PS3.15 E.1-1 Basic Application Level Confidentiality Profile", c
assert c["pixels"] in ("burned-in annotation NO", "burned-in annotation not stated", "regions cleaned"), c
assert any("PatientIdentityRemoved" in x for x in c["checked"]), c
assert c["tool"].startswith("medcrypt "), c
assert c["time"].endswith("Z") and "T" in c["time"], c
assert d["signer"] and d["sender"] == "doca", d
' && ok || bad "get --json: $(cat get.json)"
expect_in ls.txt "de-identified, as claimed by doca" "ls shows the claim"
expect_in ls.txt "'medcrypt get' verifies the signature" "ls says the signature is get's to verify"

# the copy the researcher holds carries none of the patient's values
for s in Wombat "$PID" 20240311; do
	if grep -aqF -- "$s" copy.dcm; then bad "the research copy carries '$s'"; else ok; fi
done
check "the researcher's JPEG" as resa get "$JID" -o photo-res.jpg --json
same photo.jpg photo-res.jpg
py 'import json,sys; c=json.load(open(sys.argv[1]))["deidentified"]; assert c["profile"] == "sender confirmation" and c["pixels"] == "confirmed by sender", c' .out &&
	ok || bad "the JPEG's claim: $(cat .out)"

# ---- a region-encrypted PNG: "regions cleaned" ----
check "redact the face" as doca redact --region 0,0,40,10 -r doca.pub -o face-rg.png face.png
if as doca send face-rg.png --deidentified --confirm-deidentified --to resa >.out 2>.err; then ok; else bad "send face-rg.png: $(cat .err)"; fi
expect_in .err "carries medcrypt region encryption (regions cleaned)" "send notices the region encryption"
PID_PNG=$(image_id)
check "the researcher's PNG" as resa get "$PID_PNG" -o face-res.png --json
py 'import json,sys; c=json.load(open(sys.argv[1]))["deidentified"]; assert c["pixels"] == "regions cleaned", c' .out &&
	ok || bad "the PNG's claim: $(cat .out)"

# ---- an identified item has no claim ----
if as doca send scan.dcm --patient pat --to pat >.out 2>.err; then ok; else bad "send about pat: $(cat .err)"; fi
IID=$(image_id)
check "pat opens it" as pat get "$IID" -o pat.dcm --json
py 'import json,sys; d=json.load(open(sys.argv[1])); assert d["deidentified"] is None, d' .out && ok || bad "identified get --json: $(cat .out)"

# ---- the server's mark without a claim: get and ls warn ----
check "seal by hand (no claim in the metadata)" as doca seal -r doca.pub -r "$T/home-resa/keys/resa.pub" \
	--sign "$T/home-doca/keys/doca.key" -o noclaim.medcrypt meta-test.dcm
CSRF=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["csrf"])' "$T/home-doca/session")
TOKEN=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$T/home-doca/session")
STATUS=$(curl -sk --tlsv1.3 -o .body -w '%{http_code}' -X POST -H "Cookie: __Host-medcrypt=$TOKEN" \
	-H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/octet-stream' --data-binary @noclaim.medcrypt \
	"$URL/api/v1/images?deidentified=1")
[ "$STATUS" = 201 ] && ok || bad "the marked upload without a claim: $STATUS $(head -c 300 .body)"
NID=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' .body 2>/dev/null)
check "the researcher opens it" as resa get "$NID" -o noclaim.dcm --json
expect_in .err "WARNING: the server lists this image as de-identified, but its sealed metadata carries no de-identification claim" "get warns"
py 'import json,sys; d=json.load(open(sys.argv[1])); assert d["deidentified"] is None, d' .out && ok || bad "get --json of the unclaimed: $(cat .out)"
check "ls" as resa ls
expect_in .err "image $NID: WARNING" "ls warns too, naming the image"

server_stop
if grep -q "Sanitizer\|runtime error" "$T/server.log"; then
	bad "the server's sanitizer report: $(grep -A5 'Sanitizer\|runtime error' "$T/server.log" | head -20)"
fi
summary deidclaim
