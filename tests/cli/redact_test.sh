#!/usr/bin/env bash
# redact_test.sh: `medcrypt redact` and `medcrypt restore` on images made by peers: ImageMagick's
# convert makes PNGs (8- and 16-bit grey, RGB, RGBA, an 8-bit palette) and libjpeg-turbo's cjpeg
# JPEGs (baseline 4:2:0, 4:4:4, greyscale, progressive). For each: the output opens in identify /
# djpeg; the regions are hidden (black is black) and nothing outside them changed (for JPEG:
# decoded with -nosmooth, outside the regions as snapped to blocks); restore gives back the
# original's decoded pixels exactly. Then the refusals: another key, altered side data, an image
# altered outside the regions, regions out of bounds, files that are not PNG/JPEG, --trust.
# DICOM: native pixel data in files written here and by img2dcm, restored byte for byte.
# usage: redact_test.sh PATH/TO/medcrypt
MEDCRYPT=$(realpath "${1:?usage: redact_test.sh MEDCRYPT}")
source "$(dirname "$0")/lib.sh"
M=$MEDCRYPT
K=$VEC/keys
for tool in convert identify compare cjpeg djpeg; do
	command -v $tool >/dev/null || { echo "redact-cli: $tool missing (scripts/bootstrap installs imagemagick and libjpeg-turbo-progs)" >&2; exit 1; }
done
export MEDCRYPT_PASSPHRASE=unused # the test keys are not encrypted

# ae A B: the number of pixels that differ (ImageMagick compare -metric AE; alpha included)
ae() { compare -metric AE "$1" "$2" null: 2>&1 | sed 's/ .*//'; }
# blank IN X,Y,W,H OUT: IN with the rectangle painted black (alpha dropped), to compare the rest
blank() {
	local x y w h
	IFS=, read -r x y w h <<<"$2"
	convert "$1" -alpha off -fill black -draw "rectangle $x,$y,$((x + w - 1)),$((y + h - 1))" "$3"
}
# region_max IN X,Y,W,H: the largest sample in the rectangle, as a fraction 0..1 (alpha dropped)
region_max() {
	local x y w h
	IFS=, read -r x y w h <<<"$2"
	convert "$1" -alpha off -crop "${w}x${h}+${x}+${y}" +repage -format '%[fx:maxima]' info:
}
# snapped JSON I: region I of a redact --json report as X,Y,W,H
snapped() {
	$PY -c 'import json,sys; g=json.load(open(sys.argv[1]))["regions"][int(sys.argv[2])]; print("%d,%d,%d,%d" % (g["x"],g["y"],g["w"],g["h"]))' "$1" "$2"
}

# --- PNG
for spec in "g8:-colorspace Gray -depth 8" "g16:-colorspace Gray -depth 16" "p8:-colors 16 PNG8" \
	"rgb8:-depth 8 PNG24" "rgb16:-depth 16 PNG48" "rgba8:-alpha set -channel A -evaluate set 60% +channel PNG32" \
	"rgba16:-alpha set -channel A -evaluate set 60% +channel PNG64"; do
	name=${spec%%:*}
	args=${spec#*:}
	prefix=
	case $args in *PNG[0-9]*) prefix=${args##* }: args=${args% *} ;; esac
	# shellcheck disable=SC2086
	convert -seed 7 -size 97x61 plasma:fractal $args "$prefix$name.png"
	for fill in black noise pixelate; do
		out=$name-$fill.red.png
		check "$name $fill: redact" $M redact --region 5,6,30,20 --region 25,20,40,30 --fill $fill -r $K/alice.pub \
			-r $K/bob.pub -o $out $name.png
		check "$name $fill: identify reads the output" identify -verbose $out
		# the colour type and bit depth are kept (IHDR bytes 24 and 25)
		if [ "$(od -An -tu1 -j24 -N2 $name.png)" = "$(od -An -tu1 -j24 -N2 $out)" ]; then ok; else bad "$name $fill: IHDR changed"; fi
		# nothing outside the two regions changed
		blank $name.png 5,6,30,20 a.png && blank a.png 25,20,40,30 a.png
		blank $out 5,6,30,20 b.png && blank b.png 25,20,40,30 b.png
		n=$(ae a.png b.png)
		if [ "$n" = 0 ]; then ok; else bad "$name $fill: $n pixels outside the regions changed"; fi
		n=$(ae $name.png $out)
		if [ "$n" -gt 1000 ]; then ok; else bad "$name $fill: only $n pixels hidden"; fi
		if [ $fill = black ] && [ $name != p8 ]; then
			mx=$(region_max $out 25,20,40,30)
			if [ "$mx" = 0 ]; then ok; else bad "$name black: the region's maximum is $mx"; fi
		fi
		check "$name $fill: restore" $M restore -k $K/bob.key -o $name-$fill.back.png $out
		n=$(ae $name.png $name-$fill.back.png)
		if [ "$n" = 0 ]; then ok; else bad "$name $fill: restored image differs in $n pixels"; fi
		# the same samples at full depth, alpha included
		if [ "$(convert $name.png -depth 16 rgba:- | sha256sum)" = "$(convert $name-$fill.back.png -depth 16 rgba:- | sha256sum)" ]; then
			ok
		else
			bad "$name $fill: restored samples differ"
		fi
	done
done

# --- JPEG
convert -seed 9 -size 101x75 plasma:fractal -depth 8 src.ppm
cjpeg -sample 2x2 src.ppm >j420.jpg
cjpeg -sample 1x1 src.ppm >j444.jpg
cjpeg -grayscale src.ppm >jgray.jpg
cjpeg -progressive -sample 2x2 src.ppm >jprog.jpg
for name in j420 j444 jgray jprog; do
	for fill in black noise pixelate; do
		out=$name-$fill.red.jpg
		check "$name $fill: redact" $M redact --region 5,6,30,20 --region 60,40,41,35 --fill $fill -r $K/alice.pub \
			--json -o $out $name.jpg
		cp "$T/.out" $name-$fill.json
		check "$name $fill: djpeg reads the output" djpeg -outfile /dev/null $out
		r1=$(snapped $name-$fill.json 0)
		r2=$(snapped $name-$fill.json 1)
		# snapped outward to whole blocks: the first region grows, the second reaches the corner
		case $r1 in 0,0,*) ok ;; *) bad "$name: region 1 snapped to $r1" ;; esac
		case $r2 in *,*,$((101 - ${r2%%,*})),$((75 - $(echo $r2 | cut -d, -f2)))) ok ;; *) bad "$name: region 2 snapped to $r2" ;; esac
		djpeg -nosmooth -pnm $name.jpg >a.pnm
		djpeg -nosmooth -pnm $out >b.pnm
		blank a.pnm $r1 a.png && blank a.png $r2 a.png
		blank b.pnm $r1 b.png && blank b.png $r2 b.png
		n=$(ae a.png b.png)
		if [ "$n" = 0 ]; then ok; else bad "$name $fill: $n pixels outside the snapped regions changed"; fi
		n=$(ae a.pnm b.pnm)
		if [ "$n" -gt 1000 ]; then ok; else bad "$name $fill: only $n pixels hidden"; fi
		if [ $fill = black ]; then
			mx=$(region_max b.pnm $r1)
			if $PY -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 2/255 else 1)' "$mx"; then ok; else bad "$name black: maximum $mx"; fi
		fi
		check "$name $fill: restore" $M restore -k $K/alice.key -o $name-$fill.back.jpg $out
		djpeg -pnm $name.jpg >a.pnm
		djpeg -pnm $name-$fill.back.jpg >c.pnm
		same a.pnm c.pnm
	done
done
# the progressive JPEG stays progressive (SOF2), the baseline one baseline (SOF0)
$PY - jprog-black.red.jpg jprog-black.back.jpg j420-black.back.jpg <<'PY' && ok || bad "SOF kinds"
import sys
def sof(p):
    d = open(p, "rb").read(); i = 2
    while i < len(d):
        m = d[i + 1]
        if m in (0xC0, 0xC1, 0xC2): return m
        i += 2 + int.from_bytes(d[i + 2:i + 4], "big")
sys.exit(0 if [sof(p) for p in sys.argv[1:]] == [0xC2, 0xC2, 0xC0] else 1)
PY

# --- DICOM: files written here (explicit and implicit VR little endian, 8- and 16-bit, signed,
# multi-frame, RGB planar 0 and 1) and by dcmtk's img2dcm; the restored file is the original byte
# for byte; dcmdump reads the output, dciodvfy finds no error the input did not have
cat >mkdcm.py <<'PY'
import random, struct, sys
def el(g, e, vr, val, explicit):
    if len(val) % 2: val += b"\0" if vr in ("UI", "OB") else b" "
    if not explicit: return struct.pack("<HHI", g, e, len(val)) + val
    if vr in ("OB", "OW"): return struct.pack("<HH", g, e) + vr.encode() + b"\0\0" + struct.pack("<I", len(val)) + val
    return struct.pack("<HH", g, e) + vr.encode() + struct.pack("<H", len(val)) + val
path, rows, cols, bits, spp, frames, syntax, planar, pi, pixrep = sys.argv[1:]
rows, cols, bits, spp, frames, planar, pixrep = map(int, (rows, cols, bits, spp, frames, planar, pixrep))
x = syntax == "explicit"
us = lambda v: struct.pack("<H", v)
meta = (el(2, 1, "OB", b"\0\1", True) + el(2, 2, "UI", b"1.2.840.10008.5.1.4.1.1.7", True)
        + el(2, 3, "UI", b"1.2.826.0.1.3680043.2.1143.1", True)
        + el(2, 0x10, "UI", b"1.2.840.10008.1.2.1" if x else b"1.2.840.10008.1.2", True))
ds = (el(8, 0x16, "UI", b"1.2.840.10008.5.1.4.1.1.7", x) + el(8, 0x18, "UI", b"1.2.826.0.1.3680043.2.1143.1", x)
      + el(0x10, 0x10, "PN", b"Test^Fake", x) + el(0x10, 0x20, "LO", b"FAKE-0001", x)
      + el(0x28, 2, "US", us(spp), x) + el(0x28, 4, "CS", pi.encode(), x))
if spp == 3: ds += el(0x28, 6, "US", us(planar), x)
if frames > 1: ds += el(0x28, 8, "IS", str(frames).encode(), x)
ds += el(0x28, 0x10, "US", us(rows), x) + el(0x28, 0x11, "US", us(cols), x) + el(0x28, 0x100, "US", us(bits), x)
ds += el(0x28, 0x101, "US", us(8 if bits == 8 else 12), x) + el(0x28, 0x102, "US", us(7 if bits == 8 else 11), x)
ds += el(0x28, 0x103, "US", us(pixrep), x)
r = random.Random(rows * cols + bits)
n = rows * cols * spp * frames
px = bytes(r.randrange(256) for _ in range(n)) if bits == 8 else b"".join(struct.pack("<H", r.randrange(4096)) for _ in range(n))
ds += el(0x7FE0, 0x10, "OB" if bits == 8 else "OW", px, x)
open(path, "wb").write(b"\0" * 128 + b"DICM" + el(2, 0, "UL", struct.pack("<I", len(meta)), True) + meta + ds)
PY
$PY mkdcm.py d8.dcm 40 50 8 1 1 explicit 0 MONOCHROME2 0
$PY mkdcm.py d16.dcm 30 44 16 1 3 implicit 0 MONOCHROME2 1
$PY mkdcm.py drgb0.dcm 20 36 8 3 2 explicit 0 RGB 0
$PY mkdcm.py drgb1.dcm 20 36 8 3 1 implicit 1 RGB 0
convert -seed 3 -size 64x48 plasma:fractal bmp3:plasma.bmp
check "img2dcm" img2dcm -i BMP -k PatientID=FAKE-0002 plasma.bmp dimg.dcm
for name in d8 d16 drgb0 drgb1 dimg; do
	for fill in black noise pixelate; do
		out=$name-$fill.red.dcm
		check "$name $fill: redact" $M redact --region 2,3,12,8 --region 10,10,9,9 --fill $fill -r $K/alice.pub \
			-o $out $name.dcm
		check "$name $fill: dcmdump reads the output" dcmdump -q $out
		dcmdump $out | grep -q '(7fd1,0010) LO \[MEDCRYPT REGIONS\]' && ok || bad "$name: no private creator"
		check "$name $fill: restore" $M restore -k $K/alice.key -o $name-$fill.back.dcm $out
		same $name.dcm $name-$fill.back.dcm
	done
	# the pixels: the regions hidden (black: 0 for MONOCHROME2 and RGB), the rest unchanged
	if [ $name != d16 ]; then
		dcm2pnm --write-raw-pnm $name.dcm a.pnm 2>/dev/null && dcm2pnm --write-raw-pnm $name-black.red.dcm b.pnm 2>/dev/null
		mx=$(region_max b.pnm 2,3,12,8)
		if [ "$mx" = 0 ]; then ok; else bad "$name black: maximum $mx"; fi
		blank a.pnm 2,3,12,8 a.png && blank a.png 10,10,9,9 a.png
		blank b.pnm 2,3,12,8 b.png && blank b.png 10,10,9,9 b.png
		n=$(ae a.png b.png)
		if [ "$n" = 0 ]; then ok; else bad "$name: $n pixels outside the regions changed"; fi
	fi
	before=$(dciodvfy $name.dcm 2>&1 | grep -c '^Error')
	after=$(dciodvfy $name-noise.red.dcm 2>&1 | grep -c '^Error')
	if [ "$after" -le "$before" ]; then ok; else bad "$name: dciodvfy finds $after errors, the input had $before"; fi
done
expect_exit 6 "DICOM: another key" $M restore -k $K/bob.key -o x.dcm d8-black.red.dcm
no_output x.dcm
# an attribute changed after redaction
$PY -c 'import sys; d=open(sys.argv[1],"rb").read(); open(sys.argv[2],"wb").write(d.replace(b"FAKE-0001", b"FAKE-0009"))' \
	d8-black.red.dcm renamed.dcm
expect_exit 8 "DICOM altered after redaction" $M restore -k $K/alice.key -o x.dcm renamed.dcm
no_output x.dcm
expect_exit 5 "DICOM redacted twice" $M redact --region 0,0,1,1 -r $K/alice.pub -o x.dcm d8-black.red.dcm
expect_exit 4 "DICOM never redacted" $M restore -k $K/alice.key -o x.dcm d8.dcm
cjpeg src.ppm >src.jpg
check "img2dcm JPEG" img2dcm src.jpg djpeg.dcm
expect_exit 5 "compressed DICOM" $M redact --region 0,0,1,1 -r $K/alice.pub -o x.dcm djpeg.dcm
grep -q "not supported" "$T/.err" && ok || bad "no clear message: $(cat "$T/.err")"
no_output x.dcm
expect_exit 2 "DICOM region outside" $M redact --region 0,0,51,1 -r $K/alice.pub -o x.dcm d8.dcm

# --- signatures
check "redact signed" $M redact --region 0,0,10,10 -r $K/alice.pub -k $K/signer_ed25519.key -o signed.png rgb8.png
fp=$($M fingerprint --json $K/signer_ed25519.pub | $PY -c 'import json,sys; print(json.load(sys.stdin)["signing_fingerprint"])')
check "restore signed, trusted" $M restore -k $K/alice.key --trust $K/signer_ed25519.pub -o signed.back.png signed.png
if [ -n "$fp" ] && grep -q "good signature by $fp (trusted)" "$T/.err"; then ok; else bad "signer not reported: $(cat "$T/.err")"; fi
n=$(ae rgb8.png signed.back.png)
if [ "$n" = 0 ]; then ok; else bad "signed: $n pixels differ"; fi
expect_exit 9 "restore with --trust of another signer" $M restore -k $K/alice.key --trust $K/signer_pss.pub -o x.png signed.png
no_output x.png
expect_exit 9 "restore unsigned with --trust" $M restore -k $K/bob.key --trust $K/signer_ed25519.pub -o x.png rgb8-black.red.png
no_output x.png

# --- refusals
expect_exit 6 "restore with a key it was not sealed for" $M restore -k $K/bob.key -o x.jpg j420-black.red.jpg
no_output x.jpg
expect_exit 6 "PNG: another key" $M restore -k $K/carol4096.key -o x.png g8-black.red.png
no_output x.png
# the mcRG chunk altered: its CRC fails (exit 4); with the CRC fixed, the sealed container fails (8)
$PY - g8-black.red.png crc.png fixed.png <<'PY'
import struct, sys, zlib
d = bytearray(open(sys.argv[1], "rb").read())
i = d.index(b"mcRG") - 4
n = struct.unpack(">I", d[i:i + 4])[0]
d[i + 8 + n - 40] ^= 1
open(sys.argv[2], "wb").write(d)
d[i + 8 + n:i + 12 + n] = struct.pack(">I", zlib.crc32(bytes(d[i + 4:i + 8 + n])))
open(sys.argv[3], "wb").write(d)
PY
expect_exit 4 "altered mcRG chunk (CRC)" $M restore -k $K/alice.key -o x.png crc.png
grep -q CRC "$T/.err" && ok || bad "no CRC message: $(cat "$T/.err")"
no_output x.png
expect_exit 8 "altered mcRG chunk (CRC fixed)" $M restore -k $K/alice.key -o x.png fixed.png
no_output x.png
# an APP11 segment altered inside the sealed payload
$PY - j444-black.red.jpg seg.jpg <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
i = d.index(b"medcrypt-region\0")
n = int.from_bytes(d[i - 2:i], "big")
d[i - 2 + n - 30] ^= 1
open(sys.argv[2], "wb").write(d)
PY
expect_exit 8 "altered APP11 segment" $M restore -k $K/alice.key -o x.jpg seg.jpg
no_output x.jpg
# the visible image altered outside the regions, the sealed data carried over
convert rgb8-noise.red.png -fill white -draw 'point 90,58' alt0.png
$PY - rgb8-noise.red.png alt0.png alt.png <<'PY'
import struct, sys
red = open(sys.argv[1], "rb").read()
i = red.index(b"mcRG") - 4
n = struct.unpack(">I", red[i:i + 4])[0]
alt = open(sys.argv[2], "rb").read()
j = alt.index(b"IEND") - 4
open(sys.argv[3], "wb").write(alt[:j] + red[i:i + 12 + n] + alt[j:])
PY
expect_exit 8 "PNG altered outside the regions" $M restore -k $K/alice.key -o x.png alt.png
grep -q "altered" "$T/.err" && ok || bad "no 'altered' message: $(cat "$T/.err")"
no_output x.png
djpeg j420-black.red.jpg | cjpeg -sample 2x2 >alt0.jpg
$PY - j420-black.red.jpg alt0.jpg alt.jpg <<'PY'
import sys
red = open(sys.argv[1], "rb").read()
segs, i = b"", 2
while red[i + 1] != 0xDA:
    n = int.from_bytes(red[i + 2:i + 4], "big")
    if red[i + 1] == 0xEB: segs += red[i:i + 2 + n]
    i += 2 + n
alt = open(sys.argv[2], "rb").read()
open(sys.argv[3], "wb").write(alt[:2] + segs + alt[2:])
PY
expect_exit 8 "JPEG altered (re-encoded)" $M restore -k $K/alice.key -o x.jpg alt.jpg
no_output x.jpg
expect_exit 2 "region outside the image" $M redact --region 90,50,10,20 -r $K/alice.pub -o x.png rgb8.png
no_output x.png
expect_exit 2 "region outside a JPEG" $M redact --region 0,0,102,1 -r $K/alice.pub -o x.jpg j420.jpg
no_output x.jpg
expect_exit 2 "empty region" $M redact --region 3,3,0,4 -r $K/alice.pub -o x.png rgb8.png
expect_exit 2 "malformed region" $M redact --region 3,3,4 -r $K/alice.pub -o x.png rgb8.png
expect_exit 2 "negative region" $M redact --region -1,3,4,4 -r $K/alice.pub -o x.png rgb8.png
expect_exit 2 "no region" $M redact -r $K/alice.pub -o x.png rgb8.png
expect_exit 2 "no recipient" $M redact --region 0,0,1,1 -o x.png rgb8.png
expect_exit 2 "bad fill" $M redact --region 0,0,1,1 --fill blur -r $K/alice.pub -o x.png rgb8.png
no_output x.png
printf 'just some text, not an image\n' >text.txt
expect_exit 5 "not an image" $M redact --region 0,0,1,1 -r $K/alice.pub -o x.png text.txt
grep -q "neither PNG, JPEG nor DICOM" "$T/.err" && ok || bad "no clear message: $(cat "$T/.err")"
no_output x.png
expect_exit 5 "restore: not an image" $M restore -k $K/alice.key -o x.png text.txt
expect_exit 4 "restore an image that was never redacted" $M restore -k $K/alice.key -o x.png rgb8.png
expect_exit 5 "redact twice" $M redact --region 0,0,1,1 -r $K/alice.pub -o x.png rgb8-black.red.png
head -c 3000 rgb8.png >trunc.png
expect_exit 4 "truncated PNG" $M redact --region 0,0,1,1 -r $K/alice.pub -o x.png trunc.png
head -c 2000 j420.jpg >trunc.jpg
expect_exit 4 "truncated JPEG" $M redact --region 0,0,1,1 -r $K/alice.pub -o x.jpg trunc.jpg
no_output x.jpg
# issue 10, found by fuzz_redact: a Huffman table codes an AC coefficient of 1726 in the first luma
# block, beyond 8-bit JPEG's -1023..1023. libjpeg decodes it but cannot encode it: redact used to
# hide it, seal it and exit 0, and restore then refused ("DCT coefficient out of range"), the
# region lost. Now redact refuses it wherever the regions are, names it, and writes nothing.
cp "$REPO/tests/data/redact-jpeg-coef-out-of-range.jpg" coef.jpg
for region in 0,0,1,1 16,8,4,8; do
	expect_exit 4 "JPEG with a coefficient out of range ($region)" $M redact --region $region -r $K/alice.pub -o x.jpg coef.jpg
	grep -q "block 0,0 of component 0 holds the AC coefficient 1726, outside -1023..1023, the range of 8-bit JPEG" "$T/.err" &&
		ok || bad "no clear message: $(cat "$T/.err")"
	no_output x.jpg
done
# the same picture encoded validly redacts and restores to the same pixels
djpeg -pnm coef.jpg >coef.pnm && cjpeg -sample 1x1 coef.pnm >coef-valid.jpg
check "the valid re-encoding: redact" $M redact --region 0,0,1,1 -r $K/alice.pub -o coef.red.jpg coef-valid.jpg
check "the valid re-encoding: restore" $M restore -k $K/alice.key -o coef.back.jpg coef.red.jpg
djpeg -pnm coef-valid.jpg >a.pnm
djpeg -pnm coef.back.jpg >c.pnm
same a.pnm c.pnm
expect_exit 1 "output exists" $M redact --region 0,0,1,1 -r $K/alice.pub -o rgb8.png rgb8.png
check "--force" $M redact --region 0,0,1,1 -r $K/alice.pub --force -o rgb8-black.red.png rgb8.png
# 1-bit PNGs are refused clearly
convert -size 16x16 pattern:checkerboard -monochrome mono.png
expect_exit 5 "1-bit PNG" $M redact --region 0,0,1,1 -r $K/alice.pub -o x.png mono.png
# the example of the help text
cp rgb8.png scan.png
check "help example" $M redact --region 0,0,64,40 -r $K/alice.pub -k $K/signer_ed25519.key -o anon.png scan.png
check "help example (restore)" $M restore -k $K/alice.key --trust $K/signer_ed25519.pub -o scan-restored.png anon.png
n=$(ae scan.png scan-restored.png)
if [ "$n" = 0 ]; then ok; else bad "help example: $n pixels differ"; fi

summary redact-cli
