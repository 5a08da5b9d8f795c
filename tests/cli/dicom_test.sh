#!/usr/bin/env bash
# dicom_test.sh: `medcrypt meta` on DICOM files made by a peer: dcmtk's img2dcm turns a JPEG
# (made by libjpeg-turbo's cjpeg) into DICOM with fake patient attributes, dcmodify adds a
# sequence, and dcmconv/dcmdjpeg/dcmcjpeg re-encode it as explicit VR little endian, implicit VR
# little endian, explicit VR big endian (sequences of defined and of undefined length), JPEG
# baseline and JPEG lossless (encapsulated pixel data). For every file each attribute that
# `medcrypt meta --json` prints must equal what `dcmdump +P` prints. PNG and JPEG are recognised.
# Then the refusals: not DICOM, truncated, nested too deep, deflated, usage; and hostile values in plain text.
# usage: dicom_test.sh PATH/TO/medcrypt
MEDCRYPT=$(realpath "${1:?usage: dicom_test.sh MEDCRYPT}")
source "$(dirname "$0")/lib.sh"
M=$MEDCRYPT
for tool in img2dcm dcmdump dcmconv dcmodify dcmdjpeg dcmcjpeg cjpeg; do
	command -v $tool >/dev/null || { echo "dicom-cli: $tool missing (scripts/bootstrap installs dcmtk and libjpeg-turbo-progs)" >&2; exit 1; }
done

# --- inputs: a 16x12 grey JPEG, then DICOM
$PY - <<'PY'
import random
random.seed(3)
open("g.pgm", "wb").write(b"P5\n16 12\n255\n" + bytes(random.randrange(256) for _ in range(16 * 12)))
PY
cjpeg g.pgm >g.jpg
check "img2dcm" img2dcm -k "PatientName=Test^Patient" -k PatientID=TEST-0001 -k PatientBirthDate=19700101 \
	-k PatientSex=O -k StudyDate=20240102 -k StudyTime=101112 -k Modality=OT \
	-k 'StudyDescription=Fake "study" with a quote' -k BodyPartExamined=HAND g.jpg jpeg_baseline.dcm
check "dcmdjpeg" dcmdjpeg jpeg_baseline.dcm native.dcm
check "dcmodify adds a sequence" dcmodify -nb -i "(0008,1115)[0].(0008,1150)=1.2.3" -i "(0008,1115)[0].(0008,1155)=1.2.3.4" \
	-i "(0028,0008)=1" native.dcm
check "dcmconv +te" dcmconv +te native.dcm explicit_le.dcm
check "dcmconv +te -e" dcmconv +te -e native.dcm explicit_le_undefined.dcm
check "dcmconv +ti" dcmconv +ti native.dcm implicit_le.dcm
check "dcmconv +ti -e" dcmconv +ti -e native.dcm implicit_le_undefined.dcm
check "dcmconv +tb" dcmconv +tb native.dcm explicit_be.dcm
check "dcmconv +tb -e" dcmconv +tb -e native.dcm explicit_be_undefined.dcm
check "dcmcjpeg" dcmcjpeg native.dcm jpeg_lossless.dcm

# --- every attribute equals dcmdump's
attrs="PatientID:0010,0020 PatientName:0010,0010 PatientBirthDate:0010,0030 PatientSex:0010,0040
StudyDate:0008,0020 StudyTime:0008,0030 Modality:0008,0060 StudyDescription:0008,1030
BodyPartExamined:0018,0015 StudyInstanceUID:0020,000D SeriesInstanceUID:0020,000E
SOPInstanceUID:0008,0018 Rows:0028,0010 Columns:0028,0011 NumberOfFrames:0028,0008 TransferSyntax:0002,0010"
# dcmdump_value FILE TAG: the first top-level value dcmdump prints for TAG ("" if absent)
dcmdump_value() {
	dcmdump -Un -s +P "$2" "$1" 2>/dev/null | grep -v '^ ' | head -n 1 |
		sed -E 's/^\([0-9a-fA-F,]+\) [A-Z]{2} //; s/ +#.*$//; s/^\[(.*)\]$/\1/; s/^\(no value available\)$//'
}
for f in jpeg_baseline native explicit_le explicit_le_undefined implicit_le implicit_le_undefined explicit_be \
	explicit_be_undefined jpeg_lossless; do
	if ! $M meta --json $f.dcm >$f.json 2>$f.err; then
		bad "meta --json $f.dcm failed: $(cat $f.err)"
		continue
	fi
	ok
	for a in $attrs; do
		name=${a%%:*}
		tag=${a#*:}
		want=$(dcmdump_value $f.dcm "$tag")
		got=$($PY -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2], ""); print(v)' $f.json $name)
		if [ "$got" = "$want" ]; then ok; else bad "$f.dcm $name: medcrypt '$got', dcmdump '$want'"; fi
	done
	[ -n "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1])).get("TransferSyntaxName", ""))' $f.json)" ] && ok ||
		bad "$f.dcm: no TransferSyntaxName"
done
grep -q '"PatientName": "Test^Patient"' explicit_be.json && ok || bad "PatientName is kept with its ^"
grep -q '"Rows": 12' explicit_be.json && ok || bad "Rows is a number in big endian too"
grep -q '"TransferSyntaxName": "Explicit VR Big Endian"' explicit_be.json && ok || bad "big endian name"
grep -q '"TransferSyntaxName": "JPEG Baseline (Process 1)"' jpeg_baseline.json && ok || bad "JPEG baseline name"
grep -q '"StudyDescription": "Fake \\"study\\" with a quote"' native.json && ok || bad "quote escaped in JSON"

# --- plain text, stdin
check "meta plain text" $M meta implicit_le.dcm
grep -q '^PatientID  *TEST-0001$' .out && ok || bad "plain PatientID: $(cat .out)"
grep -q '^TransferSyntax  *1.2.840.10008.1.2 (Implicit VR Little Endian)$' .out && ok || bad "plain transfer syntax"
$M meta - <explicit_be.dcm >stdin.out 2>&1 && grep -q '^Rows  *12$' stdin.out && ok || bad "meta from stdin: $(cat stdin.out)"

# --- hostile values: control characters never reach the terminal raw, JSON escapes them
cp native.dcm hostile.dcm
check "dcmodify control characters" dcmodify -nb -m "PatientID=X$(printf '\033')[2J\\$(printf '\007')" hostile.dcm
check "meta hostile plain" $M meta hostile.dcm
if grep -q "$(printf '\033')" .out || grep -q "$(printf '\007')" .out; then bad "control character printed raw"; else ok; fi
grep -q '^PatientID  *X?\[2J\\?$' .out && ok || bad "control characters not replaced: $(grep PatientID .out | od -c | head -3)"
check "meta hostile json" $M meta --json hostile.dcm
grep -q '"PatientID": "X\\u001B\[2J\\\\\\u0007"' .out && ok || bad "control characters not escaped: $(grep PatientID .out)"

# --- refusals
$PY -c 'import zlib,struct
def ch(t,d): return struct.pack(">I",len(d))+t+d+struct.pack(">I",zlib.crc32(t+d))
open("g.png","wb").write(b"\x89PNG\r\n\x1a\n"+ch(b"IHDR",struct.pack(">IIBBBBB",1,1,8,0,0,0,0))+ch(b"IDAT",zlib.compress(b"\0\0"))+ch(b"IEND",b""))'
# PNG and JPEG are told apart by their bytes, not read as DICOM (tests/cli/image_test.sh has the rest)
check "meta on a PNG" $M meta g.png
grep -q '^Format  *PNG$' .out && ok || bad "PNG format: $(cat .out)"
check "meta on a JPEG" $M meta g.jpg
grep -q '^Format  *JPEG$' .out && ok || bad "JPEG format: $(cat .out)"
expect_exit 4 "meta on a PGM" $M meta g.pgm
grep -q "not a DICOM" .err && ok || bad "not-DICOM message: $(cat .err)"
expect_exit 4 "meta on an empty file" $M meta /dev/null
size=$(stat -c %s explicit_le.dcm)
head -c $((size - 100)) jpeg_lossless.dcm >truncated.dcm
expect_exit 4 "meta on a truncated file" $M meta truncated.dcm
# meta stops at the pixel data, so cut before it
head -c 700 explicit_le_undefined.dcm >truncated_dataset.dcm
expect_exit 4 "meta on a file cut inside the dataset" $M meta truncated_dataset.dcm
grep -Eq "truncated DICOM file: .* at byte [0-9]+ .* at byte 700" .err && ok || bad "truncation message has no offset: $(cat .err)"
expect_exit 4 "meta on sequences nested too deep" $M meta "$REPO/fuzz/corpus/fuzz_dicom/nested_66.dcm"
grep -q "nested too deep" .err && ok || bad "depth message: $(cat .err)"
expect_exit 4 "meta on an odd length" $M meta "$REPO/fuzz/corpus/fuzz_dicom/odd_length.dcm"
check "dcmconv +td" dcmconv +td native.dcm deflated.dcm
expect_exit 5 "meta on a deflated file" $M meta deflated.dcm
grep -q "deflated" .err && ok || bad "deflate message: $(cat .err)"
expect_exit 2 "meta without a file" $M meta
expect_exit 2 "meta with an unknown option" $M meta --bogus native.dcm
expect_exit 1 "meta on a missing file" $M meta missing.dcm
check "meta --help" $M meta --help

summary dicom-cli
