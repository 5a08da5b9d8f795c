#!/usr/bin/env bash
# gen_redact_corpus.sh: writes the seeds of fuzz_redact into fuzz/corpus/fuzz_redact/ (files named
# crash-regress-* and found-* are kept, everything else is replaced; crash-regress-jpeg-coef-out-of-range.jpg
# is issue 10's JPEG, also tests/data/redact-jpeg-coef-out-of-range.jpg):
#   - region records (FORMAT.md §13.4) written here byte by byte from the spec, for PNG and JPEG;
#   - side-data envelopes (§13.1): "MCRG", version, kind, then a record sealed for alice with
#     `medcrypt seal`, so the target's rd_open gets past the container's MAC;
#   - small PNGs (ImageMagick: grey 8/16, RGB, RGBA, palette), JPEGs (cjpeg: 4:2:0, 4:4:4,
#     greyscale, progressive) and DICOM files (the generator of tests/cli/redact_test.sh), plain
#     and redacted for alice with `medcrypt redact` (one signed).
# usage: fuzz/gen_redact_corpus.sh PATH/TO/medcrypt
set -eu
M=$(realpath "${1:?usage: gen_redact_corpus.sh PATH/TO/medcrypt}")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
K=$ROOT/tests/vectors/keys
OUT=$ROOT/fuzz/corpus/fuzz_redact
mkdir -p "$OUT"
find "$OUT" -type f ! -name 'crash-regress-*' ! -name 'found-*' -delete
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
export MEDCRYPT_NO_PROGRESS=1

/usr/bin/python3 - <<'PY'
import struct
def record(kind, fill, w, h, fmt, samp, regions, data_len):
    r = b"MCRD" + bytes([1, kind, fill, len(regions)]) + struct.pack(">II", w, h) + fmt
    for hv in samp: r += bytes(hv)
    for g in regions: r += struct.pack(">IIII", *g)
    r += bytes(range(32)) + bytes(range(32, 64))
    return r + bytes((i * 7) & 0xff for i in range(data_len))
# PNG RGB 8-bit 4x3, one region 1,1,2,1: 2 pixels x 3 bytes
open("record_png_rgb8", "wb").write(record(1, 1, 4, 3, bytes([2, 8, 0, 0]), [], [(1, 1, 2, 1)], 6))
# PNG grey 16-bit 5x5, two overlapping regions: (3*2 + 2*2) pixels x 2 bytes
open("record_png_g16", "wb").write(record(1, 3, 5, 5, bytes([0, 16, 0, 0]), [], [(0, 0, 3, 2), (2, 1, 2, 2)], 20))
# JPEG greyscale 16x8, region 8,0,8,8: one block
open("record_jpeg_gray", "wb").write(record(2, 2, 16, 8, bytes([1, 1, 0, 0]), [(1, 1)], [(8, 0, 8, 8)], 128))
# JPEG YCbCr 4:2:0 33x20, region 16,16,17,4: 3 luma + 2 + 2 chroma blocks (FORMAT.md §13.4)
open("record_jpeg_420", "wb").write(record(2, 1, 33, 20, bytes([3, 2, 0, 0]), [(2, 2), (1, 1), (1, 1)],
                                           [(16, 16, 17, 4)], 7 * 128))
PY
for r in record_png_rgb8 record_png_g16 record_jpeg_gray record_jpeg_420; do
	cp $r "$OUT/$r"
	kind=1
	case $r in record_jpeg*) kind=2 ;; esac
	$M seal -r "$K/alice.pub" -o $r.sealed $r
	{ printf 'MCRG\001'; printf "\\00$kind"; printf '\000\000'; cat $r.sealed; } >"$OUT/envelope_${r#record_}"
done

convert -seed 5 -size 9x7 plasma:fractal -depth 8 PNG24:rgb8.png
convert -seed 5 -size 9x7 plasma:fractal -colorspace Gray -depth 16 g16.png
convert -seed 5 -size 9x7 plasma:fractal -colors 8 PNG8:p8.png
convert -seed 5 -size 9x7 plasma:fractal -alpha set -channel A -evaluate set 50% +channel PNG32:rgba8.png
convert -seed 5 -size 20x18 plasma:fractal -depth 8 src.ppm
cjpeg -sample 2x2 src.ppm >j420.jpg
cjpeg -sample 1x1 src.ppm >j444.jpg
cjpeg -grayscale src.ppm >jgray.jpg
cjpeg -progressive src.ppm >jprog.jpg
for f in rgb8.png g16.png p8.png rgba8.png j420.jpg j444.jpg jgray.jpg jprog.jpg; do
	cp $f "$OUT/plain_$f"
	$M redact --region 1,1,5,4 --fill noise -r "$K/alice.pub" -o "$OUT/redacted_$f" $f 2>/dev/null
done
sed -n "/^cat >mkdcm.py <<'PY'/,/^PY\$/p" "$ROOT/tests/cli/redact_test.sh" | sed '1d;$d' >mkdcm.py
/usr/bin/python3 mkdcm.py d8.dcm 8 9 8 1 1 explicit 0 MONOCHROME2 0
/usr/bin/python3 mkdcm.py d16.dcm 6 7 16 1 2 implicit 0 MONOCHROME1 1
/usr/bin/python3 mkdcm.py drgb.dcm 5 6 8 3 1 explicit 1 RGB 0
for f in d8.dcm d16.dcm drgb.dcm; do
	cp $f "$OUT/plain_$f"
	$M redact --region 1,1,3,2 --fill noise -r "$K/alice.pub" -o "$OUT/redacted_$f" $f 2>/dev/null
done
$M redact --region 0,0,9,7 -r "$K/alice.pub" -k "$K/signer_ed25519.key" -o "$OUT/redacted_signed_rgb8.png" rgb8.png 2>/dev/null
$M redact --region 0,0,3,3 --region 8,8,12,10 -r "$K/alice.pub" -o "$OUT/redacted_two_j420.jpg" j420.jpg 2>/dev/null
ls "$OUT" | wc -l
