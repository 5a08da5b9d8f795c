#!/usr/bin/env bash
# deid_test.sh: the DICOM writer's round trip, `medcrypt deid` and `medcrypt reid`, on files made
# here by dcmtk: img2dcm (from a cjpeg JPEG) with fake patient attributes, dump2dcm adding
# addresses, telephone numbers, other names, dates, a private block and a nested sequence, and
# dcmconv re-encoding as explicit/implicit VR little endian, explicit VR big endian, undefined
# lengths, JPEG baseline. Checks: the copy (test_dicom_write IN OUT) prints the same in dcmdump;
# deid output passes dciodvfy with no error the input did not have, and holds none of the
# identifying values anywhere in its bytes; reid gives back the dataset dcmdump prints for the
# original; gdcmanon -d restores our output, and reid restores gdcmanon -e output; a directory
# keeps one Series Instance UID per series, --key-map keeps the mapping across runs; a
# malformed corpus fails with a clear message and leaves no output.
# usage: deid_test.sh PATH/TO/medcrypt PATH/TO/test_dicom_write
MEDCRYPT=$(realpath "${1:?usage: deid_test.sh MEDCRYPT TEST_DICOM_WRITE}")
COPY=$(realpath "${2:?usage: deid_test.sh MEDCRYPT TEST_DICOM_WRITE}")
source "$(dirname "$0")/lib.sh"
M=$MEDCRYPT
KEYS=$VEC/keys
for tool in img2dcm dcmdump dump2dcm dcmconv dcmodify cjpeg dciodvfy gdcmanon openssl; do
	command -v $tool >/dev/null || { echo "deid-cli: $tool missing (scripts/bootstrap installs it)" >&2; exit 1; }
done
export MEDCRYPT_PASSPHRASE=unused

# dataset FILE: what dcmdump prints of the dataset (the file meta group and its transfer syntax
# line left out: they legitimately change)
dataset() { dcmdump +L "$1" 2>&1 | sed -n '/^# Dicom-Data-Set/,$p' | grep -v '^# Used TransferSyntax'; }

# --- inputs
$PY - <<'PY'
import random
random.seed(5)
open("g.pgm", "wb").write(b"P5\n32 24\n255\n" + bytes(random.randrange(256) for _ in range(32 * 24)))
PY
cjpeg g.pgm >g.jpg
check "img2dcm" img2dcm -k "PatientName=Doe^Jane^Q" -k PatientID=PID-4711-X -k PatientBirthDate=19610203 \
	-k PatientSex=F -k StudyDate=20240117 -k StudyTime=093015 -k AccessionNumber=ACC-99812 \
	-k "ReferringPhysicianName=House^Gregory" -k "InstitutionName=Springfield General" \
	-k "StudyDescription=Hand of Jane" -k StudyID=STUDY-77 g.jpg jpeg_baseline.dcm
check "dcmdjpeg" dcmdjpeg jpeg_baseline.dcm plain.dcm
dcmdump +L +E -q plain.dcm >plain.txt 2>/dev/null
cat >>plain.txt <<'EOF'
(0008,0081) ST [12 Elm Street, Springfield]
(0008,0092) ST [221B Baker Street]
(0008,0094) SH [555-0199]
(0008,1010) SH [CT-ROOM-7]
(0008,1048) PN [Cuddy^Lisa]
(0008,1070) PN [Operator^Otto]
(0010,1001) PN [Roe^Janet]
(0010,1040) LO [42 Wallaby Way, Sydney]
(0010,2154) SH [555-0142]
(0010,1010) AS [062Y]
(0010,4000) LT [Patient remarks nobody should read]
(0018,1000) LO [SERIAL-31337]
(0032,1032) PN [Wilson^James]
(0008,0021) DA [20240118]
(0008,0031) TM [101500]
(0009,0010) LO [ACME PRIVATE]
(0009,1001) LO [private secret value]
(0009,1002) OB 01\02\03\04
(0008,1140) SQ (Sequence with explicit length #=1)
  (fffe,e000) na (Item with explicit length #=2)
    (0008,1150) UI [1.2.840.10008.5.1.4.1.1.7]
    (0008,1155) UI [1.2.826.0.1.3680043.2.1125.777.1]
  (fffe,e00d) na (ItemDelimitationItem for re-encoding)
(fffe,e0dd) na (SequenceDelimitationItem for re-encoding)
(0040,0275) SQ (Sequence with explicit length #=1)
  (fffe,e000) na (Item with explicit length #=1)
    (0040,1001) SH [REQ-PROC-5]
  (fffe,e00d) na (ItemDelimitationItem for re-encoding)
(fffe,e0dd) na (SequenceDelimitationItem for re-encoding)
EOF
check "dump2dcm" dump2dcm +te plain.txt rich.dcm
check "dcmconv +te" dcmconv +te rich.dcm explicit_le.dcm
check "dcmconv +te -e" dcmconv +te -e rich.dcm explicit_le_undefined.dcm
check "dcmconv +ti" dcmconv +ti rich.dcm implicit_le.dcm
check "dcmconv +tb" dcmconv +tb rich.dcm explicit_be.dcm
formats="explicit_le explicit_le_undefined implicit_le explicit_be jpeg_baseline"
identifying="Doe^Jane PID-4711-X 19610203 20240117 093015 ACC-99812 House^Gregory Springfield STUDY-77
Hand.of.Jane Elm.Street Baker.Street 555-0199 555-0142 CT-ROOM-7 Cuddy Operator Roe^Janet Wallaby
remarks SERIAL-31337 Wilson private.secret ACME.PRIVATE REQ-PROC-5 20240118 101500 1.2.826.0.1.3680043.2.1125.777.1"

# --- the writer: copying changes nothing dcmdump shows (the big endian file becomes little endian)
for f in $formats; do
	if ! "$COPY" $f.dcm $f.copy.dcm 2>.err; then bad "copy of $f.dcm failed: $(cat .err)"; continue; fi
	if [ "$(dataset $f.dcm)" = "$(dataset $f.copy.dcm)" ]; then ok; else bad "copy of $f.dcm: dataset differs"; fi
	if [ $f = explicit_be ]; then
		dcmdump $f.copy.dcm | grep -q '^(0002,0010) UI =LittleEndianExplicit' && ok || bad "big endian copy is not explicit LE"
	else
		same $f.dcm $f.copy.dcm # little endian files copy byte for byte
	fi
done

# --- deid, dciodvfy, no identifying byte left, reid exact, gdcmanon both ways
openssl req -new -x509 -key "$KEYS/alice.key" -subj /CN=alice -days 2 -out alice.crt 2>/dev/null
errors() { dciodvfy "$1" 2>&1 | grep '^Error' | sort -u; }
for f in $formats; do
	check "deid $f" $M deid -r "$KEYS/alice.pub" -r "$KEYS/bob.pub" -o $f.deid.dcm $f.dcm
	[ -s $f.deid.dcm ] || { bad "no output for $f"; continue; }
	new_errors=$(comm -13 <(errors $f.dcm) <(errors $f.deid.dcm))
	if [ -z "$new_errors" ]; then ok; else bad "dciodvfy errors the input did not have in $f.deid.dcm: $new_errors"; fi
	for v in $identifying; do
		pat=${v//./ }
		[ $f = jpeg_baseline ] && grep -q -- "$pat" $f.dcm || [ $f != jpeg_baseline ] || continue
		n=$(grep -c -a -F -- "$pat" $f.deid.dcm)
		if [ "$n" = 0 ]; then ok; else bad "$f.deid.dcm still holds '$pat'"; fi
	done
	dcmdump $f.deid.dcm >$f.deid.txt 2>&1
	grep -q '(0012,0062) CS \[YES\]' $f.deid.txt && ok || bad "$f: PatientIdentityRemoved is not YES"
	grep -q '(0008,0100) SH \[113100\]' $f.deid.txt && ok || bad "$f: no 113100 code"
	grep -q '(0400,0520) OB' $f.deid.txt && ok || bad "$f: no Encrypted Content"
	check "reid $f" $M reid -k "$KEYS/bob.key" -o $f.reid.dcm $f.deid.dcm
	if [ "$(dataset $f.dcm)" = "$(dataset $f.reid.dcm)" ]; then ok; else
		bad "reid of $f: dataset differs: $(diff <(dataset $f.dcm) <(dataset $f.reid.dcm) | head -5)"
	fi
	[ $f = implicit_le ] && continue # gdcmanon reads explicit VR little endian encrypted content only
	check "gdcmanon -d $f" gdcmanon -d -k "$KEYS/alice.key" -i $f.deid.dcm -o $f.gdcm_reid.dcm
	# GDCM's re-identifier leaves (0012,0064) in place (it removes only 0012,0062/0063, 0400,0500)
	d=$(diff <(dataset $f.dcm) <(dataset $f.gdcm_reid.dcm) | grep '^[<>]' | grep -v -E '^> *\((0012,0064|0008,010[024]|fffe,e0[0d]d|fffe,e000)\)')
	if [ -z "$d" ]; then ok; else bad "gdcmanon -d of $f: $(echo "$d" | head -5)"; fi
done
# gdcmanon -e output restored by medcrypt reid (explicit VR files; GDCM drops group lengths and
# makes every sequence's length undefined, which no re-identifier can undo: lengths not compared)
for f in explicit_le jpeg_baseline; do
	check "gdcmanon -e $f" gdcmanon -e -c alice.crt -i $f.dcm -o $f.gdcm.dcm
	check "reid of gdcmanon's $f" $M reid -k "$KEYS/alice.key" -o $f.gdcm.reid.dcm $f.gdcm.dcm
	norm() { dataset "$1" | sed -E 's/\((Sequence|Item) with (un)?defined length/(\1/; s/\((Sequence|Item) with explicit length/(\1/; s/# +(u\/l|[0-9]+), ([0-9]+) (Item|[A-Za-z]*Sequence)$/# \2 \3/' | grep -v -E '^ *\(fffe,e0[0d]d\)'; }
	if [ "$(norm $f.dcm)" = "$(norm $f.gdcm.reid.dcm)" ]; then ok; else
		bad "reid of gdcmanon's $f: $(diff <(norm $f.dcm) <(norm $f.gdcm.reid.dcm) | head -6)"
	fi
done
expect_exit 6 "reid with a key it was not sealed for" $M reid -k "$KEYS/carol4096.key" -o wrong.dcm explicit_le.deid.dcm
no_output wrong.dcm
grep -q "not encrypted for this key" .err && ok || bad "no-match message: $(cat .err)"
expect_exit 5 "reid of a file never de-identified" $M reid -k "$KEYS/alice.key" -o never.dcm explicit_le.dcm
no_output never.dcm
expect_exit 5 "deid of a de-identified file" $M deid -r "$KEYS/alice.pub" -o twice.dcm explicit_le.deid.dcm
no_output twice.dcm
grep -q "de-identified before" .err && ok || bad "twice message: $(cat .err)"

# --- batch: two instances of one series keep one Series Instance UID; --key-map keeps it across runs
mkdir series
cp explicit_le.dcm series/a.dcm
cp explicit_le.dcm series/b.dcm
check "dcmodify second instance" dcmodify -nb -m "SOPInstanceUID=1.2.826.0.1.3680043.2.1125.777.2" series/b.dcm
check "deid a directory" $M deid -r "$KEYS/alice.pub" --key-map map.medcrypt -o out1 series
uid() { dcmdump +P "$2" "$1" 2>/dev/null | head -1 | sed -E 's/.*\[(.*)\].*/\1/'; }
[ -n "$(uid out1/a.dcm 0020,000e)" ] && [ "$(uid out1/a.dcm 0020,000e)" = "$(uid out1/b.dcm 0020,000e)" ] && ok ||
	bad "one series got two Series Instance UIDs"
[ "$(uid out1/a.dcm 0008,0018)" != "$(uid out1/b.dcm 0008,0018)" ] && ok || bad "two instances got one SOP Instance UID"
[ "$(uid out1/a.dcm 0020,000e)" != "$(uid series/a.dcm 0020,000e)" ] && ok || bad "Series Instance UID not replaced"
[ "$(uid out1/a.dcm 0008,0018)" = "$(uid out1/a.dcm 0002,0003)" ] && ok || bad "meta SOP Instance UID not the new one"
expect_exit 2 "existing --key-map without -k" $M deid -r "$KEYS/alice.pub" --key-map map.medcrypt -o out2 series
check "deid again with the key map" $M deid -r "$KEYS/alice.pub" --key-map map.medcrypt -k "$KEYS/alice.key" -o out2 series
[ "$(uid out1/b.dcm 0020,000e)" = "$(uid out2/b.dcm 0020,000e)" ] && ok || bad "--key-map did not keep the UID mapping"
check "deid again without the key map" $M deid -r "$KEYS/alice.pub" -o out3 series
[ "$(uid out1/b.dcm 0020,000e)" != "$(uid out3/b.dcm 0020,000e)" ] && ok || bad "a fresh run reused the UID mapping"

# --- malformed inputs: a clear error, a non-zero exit, no output
size=$(stat -c %s explicit_le.dcm)
head -c $((size - 37)) explicit_le.dcm >truncated.dcm
head -c 700 explicit_le_undefined.dcm >truncated_seq.dcm
$PY - <<'PY'
import struct
def meta(ts):
    ts = ts.encode() + (b"\0" if len(ts) % 2 else b"")
    body = b"\x02\x00\x01\x00OB\0\0" + struct.pack("<I", 2) + b"\0\1"
    body += b"\x02\x00\x10\x00UI" + struct.pack("<H", len(ts)) + ts
    return b"\0" * 128 + b"DICM" + b"\x02\x00\x00\x00UL" + struct.pack("<HI", 4, len(body)) + body
E = "1.2.840.10008.1.2.1"
def el(g, e, vr, v):
    return struct.pack("<HH", g, e) + vr + struct.pack("<H", len(v)) + v
# a length past the end
open("past_end.dcm", "wb").write(meta(E) + el(0x10, 0x10, b"PN", b"Doe^John") + struct.pack("<HH", 0x10, 0x20) + b"LO" + struct.pack("<H", 4000) + b"X" * 10)
# an odd length
open("odd.dcm", "wb").write(meta(E) + struct.pack("<HH", 0x10, 0x10) + b"PN" + struct.pack("<H", 3) + b"Doe")
# 10,000 nested sequences of undefined length
seq = struct.pack("<HH", 0x0008, 0x1115) + b"SQ\0\0" + b"\xff" * 4 + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
end = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
open("deep.dcm", "wb").write(meta(E) + seq * 10000 + end * 10000)
# a VR that is not two letters
open("bad_vr.dcm", "wb").write(meta(E) + struct.pack("<HH", 0x10, 0x10) + b"\x01\x02" + struct.pack("<H", 2) + b"ab")
# elements out of order
open("disorder.dcm", "wb").write(meta(E) + el(0x10, 0x20, b"LO", b"ID") + el(0x10, 0x10, b"PN", b"Doe^"))
# a defined-length item running past its sequence
open("item_past.dcm", "wb").write(meta(E) + struct.pack("<HH", 0x0008, 0x1115) + b"SQ\0\0" + struct.pack("<I", 8) + struct.pack("<HHI", 0xFFFE, 0xE000, 100) + b"\0" * 100)
open("not_dicom.dcm", "wb").write(b"hello, this is no DICOM file at all" * 10)
PY
for f in truncated truncated_seq past_end odd deep bad_vr disorder item_past not_dicom; do
	expect_exit 4 "deid of $f.dcm" $M deid -r "$KEYS/alice.pub" -o $f.out.dcm $f.dcm
	no_output $f.out.dcm
	grep -q -E "malformed|truncated|not a DICOM|out of order|nested too deep" .err && ok || bad "$f message: $(cat .err)"
	# a file that parses but is out of order is refused by reid as not de-identified (5)
	expect_exit $([ $f = disorder ] && echo 5 || echo 4) "reid of $f.dcm" $M reid -k "$KEYS/alice.key" -o $f.reid.out.dcm $f.dcm
	no_output $f.reid.out.dcm
done
check "dcmconv +td" dcmconv +td rich.dcm deflated.dcm
expect_exit 5 "deid of a deflated file" $M deid -r "$KEYS/alice.pub" -o deflated.out.dcm deflated.dcm
no_output deflated.out.dcm
mkdir bad_dir
cp explicit_le.dcm bad_dir/1.dcm
cp past_end.dcm bad_dir/2.dcm
expect_exit 4 "deid of a directory with a malformed file" $M deid -r "$KEYS/alice.pub" -o bad_out bad_dir
no_output bad_out/2.dcm
grep -q "bad_dir/2.dcm" .err && ok || bad "the failing file is not named: $(cat .err)"
expect_exit 2 "deid without a recipient" $M deid -o x.dcm explicit_le.dcm
expect_exit 2 "deid without -o" $M deid -r "$KEYS/alice.pub" explicit_le.dcm
expect_exit 2 "deid with a bad region" $M deid -r "$KEYS/alice.pub" --region 1,2,3 -o x.dcm explicit_le.dcm
expect_exit 3 "deid to a 2048-bit key" $M deid -r "$KEYS/weak2048.pub" -o x.dcm explicit_le.dcm
no_output x.dcm
expect_exit 1 "deid refuses to overwrite" $M deid -r "$KEYS/alice.pub" -o explicit_le.deid.dcm explicit_le.dcm
expect_exit 2 "reid without -k" $M reid -o x.dcm explicit_le.deid.dcm
check "deid --help" $M deid --help
check "reid --help" $M reid --help

summary deid-cli
