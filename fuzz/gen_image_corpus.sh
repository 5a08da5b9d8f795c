#!/usr/bin/env bash
# gen_image_corpus.sh: (re)writes the seed corpora of fuzz_png, fuzz_jpeg and fuzz_exif from
# ImageMagick, libjpeg-turbo's tools, dcmtk and the Python helpers of tests/cli/image_test.sh.
# The seeds are small fake images (no patient data). usage: fuzz/gen_image_corpus.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
c=$root/fuzz/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
# the helpers (chunk writers, EXIF blocks, the DICOM writer) are the test's own
sed -n "/^cat >tool.py <<'PY'$/,/^PY$/p" "$root/tests/cli/image_test.sh" | sed '1d;$d' >tool.py
mkdir -p "$c/fuzz_png" "$c/fuzz_jpeg" "$c/fuzz_exif"
P=$c/fuzz_png J=$c/fuzz_jpeg E=$c/fuzz_exif
convert -size 16x12 gradient:black-white -depth 16 -set 'Creation Time' '2024-01-02T03:04:05' "$P/gray16_text.png"
convert -size 16x12 gradient:red-blue -depth 8 "$P/rgb8.png"
convert -size 16x12 gradient:red-blue -depth 16 "$P/rgb16.png"
convert -size 16x12 'xc:rgba(255,0,0,0.5)' "$P/rgba8.png"
convert -size 16x12 xc:red -fill blue -draw 'rectangle 0,0 7,11' png8:"$P/palette.png"
convert -size 16x12 pattern:checkerboard -monochrome "$P/gray1.png"
convert -size 16x12 gradient:red-blue -interlace PNG "$P/interlaced.png"
convert -size 16x12 gradient: -define png:color-type=4 'xc:gray' -compose copy -composite "$P/gray_alpha.png" || true
python3 tool.py png-exif "$P/rgb8.png" "$P/exif.png"
python3 - "$P/rgb8.png" "$P/ztxt_itxt.png" <<'PY'
import struct, sys, zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
d = open(sys.argv[1], "rb").read()
extra = chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"fake compressed comment")) + \
    chunk(b"iTXt", b"Title\0\0\0en\0Titel\0fake \xc3\xa9 title") + chunk(b"tIME", bytes([7, 232, 1, 2, 3, 4, 5]))
open(sys.argv[2], "wb").write(d[:33] + extra + d[33:])
PY
python3 tool.py png-bomb "$P/bomb.png"
python3 tool.py dicom-ct "$P/ct2.dcm" 2 >/dev/null
python3 tool.py dicom-halves "$P/halves_mono1.dcm" MONOCHROME1
convert -size 16x12 gradient:red-blue -depth 8 rgb.jpg
img2dcm rgb.jpg rgb_jpeg.dcm && dcmdjpeg +pl rgb_jpeg.dcm "$P/rgb_planar.dcm"
convert -size 16x12 gradient:red-blue -quality 90 "$J/rgb.jpg"
convert -size 16x12 gradient:red-blue -interlace JPEG "$J/progressive.jpg"
convert -size 16x12 gradient:red-blue -colorspace CMYK "$J/cmyk.jpg"
convert -size 16x12 gradient:black-white -depth 8 g.pgm
cjpeg -grayscale -restart 1 g.pgm >"$J/gray_restart.jpg"
wrjpgcom -comment 'fake comment' "$J/rgb.jpg" >com.jpg
python3 tool.py jpeg-exif com.jpg "$J/exif_comment.jpg"
python3 tool.py jpeg-bomb "$J/rgb.jpg" "$J/bomb.jpg"
cjpeg g.pgm >g.jpg && img2dcm g.jpg "$J/jpeg_baseline.dcm"
python3 - "$E" <<'PY'
import struct, sys
src = open("tool.py").read().split("cmd = sys.argv[1]")[0]
ns = {}
exec(src, ns)
e = sys.argv[1]
le, be = ns["tiff"](False), ns["tiff"](True)
open(e + "/le.tiff", "wb").write(le)
open(e + "/be.tiff", "wb").write(be)
open(e + "/truncated.tiff", "wb").write(le[:60])
loop = bytearray(le); struct.pack_into("<I", loop, 30, 8)
open(e + "/exif_ifd_loop.tiff", "wb").write(bytes(loop))
inline = bytearray(le); struct.pack_into("<I", inline, 14, 4); inline[18:22] = b"abc\0"
open(e + "/inline_ascii.tiff", "wb").write(bytes(inline))
PY
ls "$P" "$J" "$E" | wc -l
