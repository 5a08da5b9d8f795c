#!/usr/bin/env bash
# image_test.sh: the image layer from the command line. `medcrypt meta` on PNG and JPEG files made
# by ImageMagick and libjpeg-turbo's cjpeg (16-bit, palette, alpha, interlaced, progressive, CMYK),
# with text chunks, a tIME chunk, a COM segment and EXIF dates (eXIf chunk and APP1 segment added
# here); `medcrypt preview` of every kind of input, checked by decoding the result with
# ImageMagick: its size, its mean against the source's, its blocks; DICOM previews of files made
# by dcmtk (img2dcm, dcmdjpeg with pixel and plane colour order, dcmconv to big endian and
# implicit VR, dcmcjpeg lossless, dcmcjpls JPEG-LS: refused) and by a small writer here (16-bit signed and unsigned
# CT-like frames, windows given or computed, MONOCHROME1, several frames); a test that large text
# is no longer legible at the default block (and is at block 1, so the check can fail); `seal`
# storing the metadata and the preview and `open`/`inspect` giving them back; decompression bombs,
# truncated and corrupt files: a clear error, the documented exit status and no output.
# usage: image_test.sh PATH/TO/medcrypt
MEDCRYPT=$(realpath "${1:?usage: image_test.sh MEDCRYPT}")
source "$(dirname "$0")/lib.sh"
M=$MEDCRYPT
export MEDCRYPT_PASSPHRASE="test passphrase, not a secret"
for tool in convert identify cjpeg wrjpgcom img2dcm dcmdjpeg dcmcjpeg dcmcjpls dcmconv dcmdump; do
	command -v $tool >/dev/null || { echo "image-cli: $tool missing (scripts/bootstrap installs imagemagick, dcmtk, libjpeg-turbo-progs)" >&2; exit 1; }
done

# json FILE KEY: a top-level value of a JSON file ("" when absent)
json() { $PY -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2], ""); print(json.dumps(v) if isinstance(v,(dict,list,bool)) else v)' "$1" "$2"; }
# mean FILE: the mean of all samples, 0..255
mean() { convert "$1" -format '%[fx:mean*255]' info:; }
# near A B TOLERANCE: |A - B| <= TOLERANCE
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }
# size FILE: "WxH" as ImageMagick reads it (so the PNG is valid for a peer too)
size() { identify -format '%wx%h' "$1"; }

# --- helpers in Python: chunks into a PNG, segments into a JPEG, a DICOM writer
cat >tool.py <<'PY'
import struct, sys, zlib

def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

def tiff(big):
    # IFD0: DateTime and the Exif IFD pointer; Exif IFD: DateTimeOriginal, DateTimeDigitized
    e = ">" if big else "<"
    b = bytearray(160)
    b[0:2] = b"MM" if big else b"II"
    struct.pack_into(e + "HI", b, 2, 42, 8)
    struct.pack_into(e + "H", b, 8, 2)
    struct.pack_into(e + "HHII", b, 10, 0x0132, 2, 20, 100)
    struct.pack_into(e + "HHII", b, 22, 0x8769, 4, 1, 38)
    struct.pack_into(e + "I", b, 34, 0)
    struct.pack_into(e + "H", b, 38, 2)
    struct.pack_into(e + "HHII", b, 40, 0x9003, 2, 20, 120)
    struct.pack_into(e + "HHII", b, 52, 0x9004, 2, 20, 140)
    b[100:120] = b"2024:05:06 07:08:09\0"
    b[120:140] = b"2023:01:02 03:04:05\0"
    b[140:160] = b"2023:01:02 03:04:06\0"
    return bytes(b)

def png_add(src, dst, *chunks):
    d = open(src, "rb").read()
    open(dst, "wb").write(d[:33] + b"".join(chunks) + d[33:])

def jpeg_add(src, dst, seg):
    d = open(src, "rb").read()
    open(dst, "wb").write(d[:2] + seg + d[2:])

def el(tag, vr, value):
    g, e = tag
    if len(value) % 2:
        value += b"\0" if vr in ("UI", "OB") else b" "
    if vr in ("OB", "OW", "UN", "SQ", "UT"):
        return struct.pack("<HH2sHI", g, e, vr.encode(), 0, len(value)) + value
    return struct.pack("<HH2sH", g, e, vr.encode(), len(value)) + value

def dicom(path, rows, cols, frames, pixels, signed=False, window=None, intercept=None, photometric="MONOCHROME2",
          bits_stored=12):
    ts = b"1.2.840.10008.1.2.1"
    meta = el((2, 1), "OB", b"\0\1") + el((2, 2), "UI", b"1.2.840.10008.5.1.4.1.1.2") + \
        el((2, 3), "UI", b"1.2.3.4.5") + el((2, 0x10), "UI", ts) + el((2, 0x12), "UI", b"1.2.3.4")
    meta = el((2, 0), "UL", struct.pack("<I", len(meta))) + meta
    ds = el((8, 0x16), "UI", b"1.2.840.10008.5.1.4.1.1.2") + el((8, 0x18), "UI", b"1.2.3.4.5") + \
        el((8, 0x60), "CS", b"CT") + el((0x10, 0x10), "PN", b"Fake^Patient") + el((0x10, 0x20), "LO", b"FAKE-16") + \
        el((0x28, 2), "US", struct.pack("<H", 1)) + el((0x28, 4), "CS", photometric.encode()) + \
        el((0x28, 8), "IS", str(frames).encode()) + el((0x28, 0x10), "US", struct.pack("<H", rows)) + \
        el((0x28, 0x11), "US", struct.pack("<H", cols)) + el((0x28, 0x100), "US", struct.pack("<H", 16)) + \
        el((0x28, 0x101), "US", struct.pack("<H", bits_stored)) + \
        el((0x28, 0x102), "US", struct.pack("<H", bits_stored - 1)) + \
        el((0x28, 0x103), "US", struct.pack("<H", 1 if signed else 0))
    if window:
        ds += el((0x28, 0x1050), "DS", window[0].encode()) + el((0x28, 0x1051), "DS", window[1].encode())
    if intercept is not None:
        ds += el((0x28, 0x1052), "DS", intercept.encode()) + el((0x28, 0x1053), "DS", b"1")
    data = struct.pack("<%d%s" % (len(pixels), "h" if signed else "H"), *pixels)
    ds += el((0x7FE0, 0x10), "OW", data)
    open(path, "wb").write(b"\0" * 128 + b"DICM" + meta + ds)

cmd = sys.argv[1]
if cmd == "png-exif":
    png_add(sys.argv[2], sys.argv[3], chunk(b"eXIf", tiff(True)))
elif cmd == "png-bad-exif":  # offsets past the end: ignored, not fatal
    t = bytearray(tiff(False)); t[4] = 0xF0
    png_add(sys.argv[2], sys.argv[3], chunk(b"eXIf", bytes(t)))
elif cmd == "jpeg-exif":
    t = b"Exif\0\0" + tiff(False)
    jpeg_add(sys.argv[2], sys.argv[3], b"\xFF\xE1" + struct.pack(">H", len(t) + 2) + t)
elif cmd == "png-bomb":  # declares 100000 x 100000, holds one byte of image data
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)
    open(sys.argv[2], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
                                  chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b""))
elif cmd == "jpeg-bomb":  # the SOF of a small JPEG patched to 60000 x 60000
    d = bytearray(open(sys.argv[2], "rb").read())
    i = d.index(b"\xFF\xC0")
    d[i + 5:i + 9] = struct.pack(">HH", 60000, 60000)
    open(sys.argv[3], "wb").write(bytes(d))
elif cmd == "dicom-ct":  # a CT-like 64 x 48 frame: a disk of 40 HU on -1000 HU, stored + 1024
    rows, cols, frames = 48, 64, int(sys.argv[3])
    frame = [1064 if (x - 32) ** 2 + (y - 24) ** 2 < 15 ** 2 else 24 for y in range(rows) for x in range(cols)]
    pixels = frame + [4095] * (rows * cols * (frames - 1))
    dicom(sys.argv[2], rows, cols, frames, pixels, window=("40", "400"), intercept="-1024")
    n_in = sum(1 for v in frame if v == 1064)
    # the expected mean: window 40/400 maps 40 HU to 128 and -1000 HU to 0 (PS3.3 C.11.2.1.2.1)
    print("%.3f" % (n_in * round(((40 - 39.5) / 399 + 0.5) * 255) / (rows * cols)))
elif cmd == "dicom-halves":  # left half -1000, right half +1000, signed, no window: computed
    rows, cols = 40, 64
    pixels = [-1000 if x < 32 else 1000 for y in range(rows) for x in range(cols)]
    dicom(sys.argv[2], rows, cols, 1, pixels, signed=True, photometric=sys.argv[3])
elif cmd == "dicom-jpeg-frames":  # JPEG Baseline, one fragment per frame, with or without an offset table
    out, bot, frames = sys.argv[2], sys.argv[3] == "bot", [open(f, "rb").read() for f in sys.argv[4:]]
    frames = [f + b"\0" * (len(f) % 2) for f in frames]
    ts = b"1.2.840.10008.1.2.4.50"
    meta = el((2, 1), "OB", b"\0\1") + el((2, 2), "UI", b"1.2.840.10008.5.1.4.1.1.7") + \
        el((2, 3), "UI", b"1.2.3.4.6") + el((2, 0x10), "UI", ts) + el((2, 0x12), "UI", b"1.2.3.4")
    meta = el((2, 0), "UL", struct.pack("<I", len(meta))) + meta
    ds = el((0x28, 2), "US", struct.pack("<H", 1)) + el((0x28, 4), "CS", b"MONOCHROME2") + \
        el((0x28, 8), "IS", str(len(frames)).encode()) + el((0x28, 0x10), "US", struct.pack("<H", 96)) + \
        el((0x28, 0x11), "US", struct.pack("<H", 128)) + el((0x28, 0x100), "US", struct.pack("<H", 8)) + \
        el((0x28, 0x101), "US", struct.pack("<H", 8)) + el((0x28, 0x102), "US", struct.pack("<H", 7)) + \
        el((0x28, 0x103), "US", struct.pack("<H", 0))
    offsets, at = [], 0
    for f in frames:
        offsets.append(at)
        at += 8 + len(f)
    table = struct.pack("<%dI" % len(offsets), *offsets) if bot else b""
    items = struct.pack("<HHI", 0xFFFE, 0xE000, len(table)) + table
    for f in frames:
        items += struct.pack("<HHI", 0xFFFE, 0xE000, len(f)) + f
    items += struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    ds += struct.pack("<HH2sHI", 0x7FE0, 0x10, b"OB", 0, 0xFFFFFFFF) + items
    open(out, "wb").write(b"\0" * 128 + b"DICM" + meta + ds)
elif cmd == "png-big-idat":  # 1500 x 1500 random RGB in one IDAT chunk of about 6.7 MB
    import random
    random.seed(7)
    w = h = 1500
    raw = b"".join(b"\0" + random.randbytes(w * 3) for _ in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    open(sys.argv[2], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 1)) +
                                  chunk(b"IEND", b""))
elif cmd == "png-big-text":  # a 5 MiB tEXt chunk: over the 4 MiB limit of ancillary chunks
    png_add(sys.argv[2], sys.argv[3], chunk(b"tEXt", b"Comment\0" + b"x" * (5 << 20)))
elif cmd == "dicom-bomb":
    dicom(sys.argv[2], 65535, 65535, 1, [0] * 16)
PY

# --- PNG and JPEG inputs
check "16-bit gray PNG with text" convert -size 64x48 gradient:black-white -depth 16 \
	-set 'Creation Time' '2024-01-02T03:04:05' -set comment 'fake comment' g16.png
check "RGB PNG" convert -size 120x80 gradient:red-blue -depth 8 rgb.png
check "interlaced PNG" convert rgb.png -interlace PNG rgb_interlaced.png
check "RGBA PNG" convert -size 40x30 'xc:rgba(255,0,0,0.5)' rgba.png
check "palette PNG" convert -size 40x30 xc:red -fill blue -draw 'rectangle 0,0 19,29' png8:palette.png
check "PNG with eXIf" $PY tool.py png-exif rgb.png exif.png
check "PNG with a broken eXIf" $PY tool.py png-bad-exif rgb.png bad_exif.png
check "JPEG" convert rgb.png -quality 92 rgb.jpg
wrjpgcom -comment 'fake jpeg comment' rgb.jpg >comment.jpg && ok || bad "wrjpgcom"
check "JPEG with EXIF" $PY tool.py jpeg-exif comment.jpg exif.jpg
check "progressive JPEG" convert rgb.png -interlace JPEG progressive.jpg
check "CMYK JPEG" convert rgb.png -colorspace CMYK cmyk.jpg
convert -size 72x48 gradient:gray10-gray90 -depth 8 gray.pgm && cjpeg -grayscale gray.pgm >gray.jpg && ok || bad "cjpeg"

# --- meta
check "meta --json PNG" $M meta --json g16.png
cp .out g16.json
[ "$(json g16.json format)" = png ] && [ "$(json g16.json Width)" = 64 ] && [ "$(json g16.json Height)" = 48 ] &&
	[ "$(json g16.json BitDepth)" = 16 ] && [ "$(json g16.json ColorType)" = gray ] && ok || bad "PNG basics: $(cat g16.json)"
[ "$(json g16.json CreationTime)" = 2024-01-02T03:04:05 ] && ok || bad "PNG Creation Time: $(cat g16.json)"
$PY -c 'import json,sys; t=json.load(open("g16.json"))["Text"]; sys.exit(t.get("comment") != "fake comment")' && ok ||
	bad "PNG text chunks: $(cat g16.json)"
[ -n "$(json g16.json ModificationTime)" ] && ok || bad "PNG tIME"
check "meta plain PNG" $M meta g16.png
grep -q '^Width  *64$' .out && grep -q '^CreationTime  *2024-01-02T03:04:05$' .out && ok || bad "plain PNG: $(cat .out)"
check "meta PNG eXIf" $M meta --json exif.png
cp .out exif_png.json
[ "$(json exif_png.json DateTimeOriginal)" = "2023:01:02 03:04:05" ] &&
	[ "$(json exif_png.json DateTimeDigitized)" = "2023:01:02 03:04:06" ] &&
	[ "$(json exif_png.json DateTime)" = "2024:05:06 07:08:09" ] && ok || bad "eXIf dates: $(cat exif_png.json)"
check "meta PNG with a broken eXIf" $M meta --json bad_exif.png
grep -q DateTime .out && bad "dates from a broken eXIf" || ok
check "meta JPEG EXIF" $M meta --json exif.jpg
cp .out exif_jpg.json
[ "$(json exif_jpg.json format)" = jpeg ] && [ "$(json exif_jpg.json Width)" = 120 ] &&
	[ "$(json exif_jpg.json Components)" = 3 ] && [ "$(json exif_jpg.json ColorType)" = ycbcr ] &&
	[ "$(json exif_jpg.json DateTimeOriginal)" = "2023:01:02 03:04:05" ] && ok || bad "JPEG EXIF: $(cat exif_jpg.json)"
$PY -c 'import json,sys; t=json.load(open("exif_jpg.json"))["Text"]; sys.exit(t.get("Comment") != "fake jpeg comment")' &&
	ok || bad "JPEG COM: $(cat exif_jpg.json)"
check "meta progressive JPEG" $M meta --json progressive.jpg
grep -q '"Progressive": true' .out && ok || bad "progressive: $(cat .out)"
check "meta CMYK JPEG" $M meta --json cmyk.jpg
grep -Eq '"ColorType": "(cmyk|ycck)"' .out && grep -q '"Components": 4' .out && ok || bad "CMYK: $(cat .out)"
check "meta palette PNG" $M meta --json palette.png
grep -q '"ColorType": "palette"' .out && ok || bad "palette: $(cat .out)"
$M meta --json - <gray.jpg >stdin.json 2>&1 && [ "$(json stdin.json ColorType)" = gray ] && ok || bad "meta from stdin: $(cat stdin.json)"
# the name does not matter, the bytes do
cp rgb.png looks_like.jpg
check "meta by content" $M meta --json looks_like.jpg
grep -q '"format": "png"' .out && ok || bad "a PNG named .jpg: $(cat .out)"

# --- previews of PNG and JPEG: valid PNG, the expected size, the source's mean
# preview_ok NAME FILE EXPECTED_SIZE TOLERANCE [OPTIONS]: preview FILE, check its size and its
# mean against FILE's, or $REF's when set (a file ImageMagick reads with the same pixels). The
# images have sides that are multiples of the block, so that every block weighs the same.
preview_ok() {
	local name=$1 f=$2 want=$3 tol=$4 ref=${REF:-$2}
	shift 4
	rm -f "$name.prev.png"
	if ! $M preview "$@" -o "$name.prev.png" "$f" >"$name.prev.err" 2>&1; then
		bad "preview $name: $(cat "$name.prev.err")"
		return
	fi
	local got
	got=$(size "$name.prev.png")
	[ "$got" = "$want" ] && ok || bad "preview $name: size $got, expected $want"
	local a b
	a=$(mean "$ref")
	b=$(mean "$name.prev.png")
	near "$a" "$b" "$tol" && ok || bad "preview $name: mean $b, source $a"
}
preview_ok g16 g16.png 256x192 2    # 64x48, block 8: 8x6 blocks drawn 32 px wide
preview_ok rgb rgb.png 255x170 2    # 120x80: 15x10 blocks of 17 px
preview_ok palette palette.png 255x204 2
preview_ok jpeg rgb.jpg 255x170 2
preview_ok progressive progressive.jpg 255x170 2
preview_ok gray_jpeg gray.jpg 252x168 2  # 72x48: 9x6 blocks of 28 px
REF=rgb.png preview_ok cmyk cmyk.jpg 255x170 6
preview_ok big_block rgb.png 255x170 3 --block 40   # 3x2 blocks of 85 px
preview_ok small rgb.png 60x40 2 --max-size 64      # 15x10 blocks of 4 px
check "interlaced PNG preview" $M preview -o rgb_interlaced.prev.png rgb_interlaced.png
same rgb.prev.png rgb_interlaced.prev.png
# alpha over white: 50% red -> (255, 128, 128)
check "RGBA preview" $M preview -o rgba.prev.png rgba.png
convert rgba.prev.png -format '%[pixel:p{0,0}]' info: | grep -Eq '^srgb\(255,12[78],12[78]\)$' && ok ||
	bad "alpha over white: $(convert rgba.prev.png -format '%[pixel:p{0,0}]' info:)"
# every block is one colour, drawn as cell x cell equal pixels
check "preview --json" $M preview --json --block 10 -o blocks.png rgb.png
cp .out blocks.json
[ "$(json blocks.json block)" = 10 ] && [ "$(json blocks.json grid_width)" = 12 ] && [ "$(json blocks.json cell)" = 21 ] &&
	[ "$(json blocks.json preview_width)" = 252 ] && ok || bad "preview geometry: $(cat blocks.json)"
convert blocks.png -depth 8 rgb:blocks.rgb
$PY - <<'PY' && ok || bad "preview cells are not uniform"
import sys
d = open("blocks.rgb", "rb").read(); w, h, c = 252, 168, 21
for y in range(h):
    for x in range(w):
        i, j = (y * w + x) * 3, ((y // c * c) * w + x // c * c) * 3
        if d[i:i + 3] != d[j:j + 3]:
            sys.exit(1)
PY

# --- DICOM previews
convert -size 128x96 gradient:black-white -depth 8 g8.pgm && cjpeg g8.pgm >g8.jpg && ok || bad "cjpeg gray"
check "img2dcm gray" img2dcm -k PatientID=FAKE-8 -k "PatientName=Fake^Eight" g8.jpg gray_jpeg.dcm
check "dcmdjpeg gray" dcmdjpeg gray_jpeg.dcm gray_native.dcm
check "img2dcm RGB" img2dcm rgb.jpg rgb_jpeg.dcm
check "dcmdjpeg RGB by pixel" dcmdjpeg +px rgb_jpeg.dcm rgb_pixel.dcm
check "dcmdjpeg RGB by plane" dcmdjpeg +pl rgb_jpeg.dcm rgb_plane.dcm
dcmdump rgb_plane.dcm | grep -q 'PlanarConfiguration.*1\|(0028,0006) US 1' && ok || bad "dcmdjpeg +pl made planar configuration 1"
check "dcmconv big endian" dcmconv +tb gray_native.dcm gray_be.dcm
check "dcmconv implicit" dcmconv +ti gray_native.dcm gray_implicit.dcm
check "dcmcjpeg lossless" dcmcjpeg gray_native.dcm gray_lossless.dcm
REF=g8.pgm preview_ok dcm_native gray_native.dcm 256x192 2
REF=g8.pgm preview_ok dcm_jpeg gray_jpeg.dcm 256x192 2
check "big endian preview" $M preview -o gray_be.prev.png gray_be.dcm
same dcm_native.prev.png gray_be.prev.png
check "implicit VR preview" $M preview -o gray_implicit.prev.png gray_implicit.dcm
same dcm_native.prev.png gray_implicit.prev.png
REF=rgb.jpg preview_ok dcm_rgb_pixel rgb_pixel.dcm 255x170 2
check "planar RGB preview" $M preview -o rgb_plane.prev.png rgb_plane.dcm
same dcm_rgb_pixel.prev.png rgb_plane.prev.png
REF=rgb.jpg preview_ok dcm_rgb_jpeg rgb_jpeg.dcm 255x170 3
# several JPEG frames: only the first is decoded, found by the offset table or by its EOI marker
convert g8.pgm -negate g8neg.pgm && cjpeg g8neg.pgm >g8neg.jpg && ok || bad "second frame"
check "JPEG frames with an offset table" $PY tool.py dicom-jpeg-frames frames_bot.dcm bot g8.jpg g8neg.jpg g8neg.jpg
check "JPEG frames without one" $PY tool.py dicom-jpeg-frames frames_nobot.dcm nobot g8.jpg g8neg.jpg
check "dcmdump reads the frames" dcmdump frames_bot.dcm
check "preview of the first JPEG frame" $M preview -o g8.prev.png g8.jpg
check "multi-frame JPEG preview (offset table)" $M preview -o frames_bot.png frames_bot.dcm
same g8.prev.png frames_bot.png
check "multi-frame JPEG preview (EOI)" $M preview -o frames_nobot.png frames_nobot.dcm
same g8.prev.png frames_nobot.png
check "preview of JPEG lossless DICOM" $M preview -o lossless.png gray_lossless.dcm
same dcm_native.prev.png lossless.png
check "dcmcjpls (JPEG-LS)" dcmcjpls gray_native.dcm gray_jpegls.dcm
expect_exit 5 "preview of JPEG-LS DICOM" $M preview -o jpegls.png gray_jpegls.dcm
grep -q "not supported" .err && grep -q "JPEG-LS" .err && ok || bad "JPEG-LS message: $(cat .err)"
no_output jpegls.png
# 16-bit CT-like frames with a window; one frame, then three (only the first is shown)
want=$($PY tool.py dicom-ct ct1.dcm 1) && $PY tool.py dicom-ct ct3.dcm 3 >/dev/null && ok || bad "writing CT files"
check "dcmdump reads the CT file" dcmdump ct3.dcm
check "CT preview" $M preview -o ct1.png ct1.dcm
near "$(mean ct1.png)" "$want" 2 && ok || bad "CT window: mean $(mean ct1.png), expected $want"
[ "$(size ct1.png)" = 256x192 ] && ok || bad "CT preview size $(size ct1.png)"
check "multi-frame preview" $M preview -o ct3.png ct3.dcm
same ct1.png ct3.png
# no window: computed from the histogram (1st to 99th percentile), MONOCHROME1 inverted
check "signed halves" $PY tool.py dicom-halves halves2.dcm MONOCHROME2
check "signed halves inverted" $PY tool.py dicom-halves halves1.dcm MONOCHROME1
check "computed window" $M preview --block 32 -o halves2.png halves2.dcm
[ "$(convert halves2.png -format '%[pixel:p{0,0}] %[pixel:p{255,0}]' info:)" = "gray(0) gray(255)" ] && ok ||
	bad "computed window: $(convert halves2.png -format '%[pixel:p{0,0}] %[pixel:p{255,0}]' info:)"
check "MONOCHROME1" $M preview --block 32 -o halves1.png halves1.dcm
[ "$(convert halves1.png -format '%[pixel:p{0,0}] %[pixel:p{255,0}]' info:)" = "gray(255) gray(0)" ] && ok ||
	bad "MONOCHROME1 not inverted: $(convert halves1.png -format '%[pixel:p{0,0}] %[pixel:p{255,0}]' info:)"
cat gray_native.dcm | $M preview -o pipe.png - >.out 2>.err
[ $? = 2 ] && grep -q "regular file" .err && ok || bad "DICOM preview from a pipe: $(cat .err)"
no_output pipe.png
cat rgb.png | $M preview -o pipe.png - 2>.err && ok || bad "PNG preview from a pipe: $(cat .err)"
same rgb.prev.png pipe.png

# --- no text legible at the default block. Large text (64 pt, about 47 px capitals) on a 512 x 512
# image. What makes text readable is how many blocks one line of it spans from top to bottom:
# letters need about 5 rows of samples to be told apart (5x7 pixel fonts are the smallest
# legible ones). The preview's rows of blocks that touch the text are counted from its pixels.
check "text image" convert -size 512x512 xc:white -font DejaVu-Sans -fill black -pointsize 64 \
	-annotate +24+280 'DOE JOHN 1942' text.png
text_h=$(convert text.png -trim -format '%h' info:)
[ "$text_h" -ge 40 ] && ok || bad "the text is $text_h px high"
# text_rows PREVIEW CELL: rows of cells that differ from white (text in them)
text_rows() {
	convert "$1" -depth 8 gray:- | $PY -c '
import sys
d = sys.stdin.buffer.read(); c = int(sys.argv[1]); w = int(sys.argv[2])
rows = set(y // c for y in range(len(d) // w) for x in range(0, w, c) if d[y * w + x] < 250)
print(len(rows))' "$2" "$(identify -format %w "$1")"
}
check "default preview of the text" $M preview --json -o text.prev.png text.png
cp .out text.json
block=$(json text.json block)
rows=$(text_rows text.prev.png "$(json text.json cell)")
[ "$block" -ge 32 ] && ok || bad "default block $block for 512 x 512"
[ "$rows" -le 3 ] && ok || bad "the text spans $rows rows of blocks: legible"
[ $((text_h * 10 / block)) -le 20 ] && ok || bad "a glyph is $text_h px, the block $block: over 2 blocks high"
# the same check on a block of 1 (no pixelation) finds the text legible: the check can fail
check "preview at block 1" $M preview --json --block 1 --max-size 512 -o text1.prev.png text.png
cp .out text1.json
rows1=$(text_rows text1.prev.png "$(json text1.json cell)")
[ "$rows1" -ge 40 ] && ok || bad "at block 1 the text spans only $rows1 rows: the check cannot fail"
# and the default preview keeps no stroke: every cell is one grey, so no edge of a letter survives
uniq_cells=$(convert text.prev.png -depth 8 gray:- | $PY -c '
import sys
d = sys.stdin.buffer.read(); c = int(sys.argv[1]); w = int(sys.argv[2])
print(all(d[y * w + x] == d[(y // c * c) * w + x // c * c] for y in range(len(d) // w) for x in range(w)))' \
	"$(json text.json cell)" "$(identify -format %w text.prev.png)")
[ "$uniq_cells" = True ] && ok || bad "the default preview has cells that are not uniform"

# --- seal stores the metadata and the preview; open and inspect give them back
check "keygen" $M keygen -o doctor
check "seal --preview DICOM" $M seal -r doctor.pub --preview --json -o ct.medcrypt ct3.dcm
grep -q '"preview_bytes": [1-9]' .out && grep -q '"metadata_bytes": [1-9]' .out && ok || bad "seal --json: $(cat .out)"
check "inspect -k" $M inspect -k doctor.key --json ct.medcrypt
cp .out inspect.json
$PY -c 'import json,sys; m=json.load(open("inspect.json"))["metadata"]; sys.exit(not (m["PatientID"] == "FAKE-16" and m["format"] == "dicom" and m["file"] == "ct3.dcm" and m["NumberOfFrames"] == 3))' &&
	ok || bad "inspect shows the DICOM metadata: $(cat inspect.json)"
check "open --preview-out --meta-out" $M open -k doctor.key --preview-out ct.seen.png --meta-out ct.meta.json -o ct.opened.dcm ct.medcrypt
same ct3.dcm ct.opened.dcm
same ct3.png ct.seen.png  # the stored preview is the one `preview` makes
$M meta --json ct3.dcm >ct.direct.json
$PY -c 'import json,sys; a=json.load(open("ct.meta.json")); b=json.load(open("ct.direct.json")); sys.exit(a != b)' &&
	ok || bad "stored metadata differs from meta --json: $(cat ct.meta.json)"
check "seal --preview-block" $M seal -r doctor.pub --preview-block 16 -o png.medcrypt rgb.png
check "open the PNG" $M open -k doctor.key --preview-out png.seen.png --meta-out png.meta.json -o png.opened.png png.medcrypt
$M preview --block 16 -o rgb16.prev.png rgb.png && same rgb16.prev.png png.seen.png
[ "$(json png.meta.json format)" = png ] && [ "$(json png.meta.json Width)" = 120 ] && ok || bad "PNG metadata: $(cat png.meta.json)"
printf '{"PatientID": "FROM-USER", "Note": "fake"}' >user.json
check "seal --meta merges" $M seal -r doctor.pub --meta user.json -o merged.medcrypt ct1.dcm
check "inspect merged" $M inspect -k doctor.key --json merged.medcrypt
$PY -c 'import json,sys; m=json.load(sys.stdin)["metadata"]; sys.exit(not (m["PatientID"] == "FROM-USER" and m["Note"] == "fake" and m["Modality"] == "CT"))' <.out &&
	ok || bad "--meta wins over the file's attributes: $(cat .out)"
check "seal --no-meta" $M seal -r doctor.pub --no-meta -o nometa.medcrypt ct1.dcm
check "inspect --no-meta" $M inspect --json nometa.medcrypt
grep -q '"metadata_bytes": 0' .out && grep -q '"preview_bytes": 0' .out && ok || bad "--no-meta stored something: $(cat .out)"
check "seal --no-meta --meta" $M seal -r doctor.pub --no-meta --meta user.json -o usermeta.medcrypt ct1.dcm
check "inspect --no-meta --meta" $M inspect -k doctor.key --json usermeta.medcrypt
$PY -c 'import json,sys; m=json.load(sys.stdin)["metadata"]; sys.exit(m != {"PatientID": "FROM-USER", "Note": "fake"})' <.out &&
	ok || bad "--no-meta --meta: $(cat .out)"
echo "just text, not an image" >note.txt
check "seal of a non-image" $M seal -r doctor.pub -o note.medcrypt note.txt
[ -s .err ] && bad "warning for a plain file: $(cat .err)" || ok
check "inspect non-image" $M inspect --json note.medcrypt
grep -q '"metadata_bytes": 0' .out && ok || bad "metadata for a plain file"
{ head -c 128 /dev/zero; printf 'DICM'; head -c 3000 /dev/urandom; } >fake.dcm
check "seal of an unreadable DICOM" $M seal -r doctor.pub -o fake.medcrypt fake.dcm
grep -q "warning: no metadata read from fake.dcm" .err && ok || bad "no warning: $(cat .err)"
expect_exit 5 "seal --preview of a non-image" $M seal -r doctor.pub --preview -o note2.medcrypt note.txt
no_output note2.medcrypt
expect_exit 2 "seal --preview from stdin" $M seal -r doctor.pub --preview -o stdin.medcrypt - <rgb.png
no_output stdin.medcrypt
expect_exit 2 "--preview with --preview-file" $M seal -r doctor.pub --preview --preview-file rgb.png -o both.medcrypt rgb.png
check "seal --preview-file" $M seal -r doctor.pub --preview-file rgba.png -o given.medcrypt rgb.png
check "open --preview-out (given)" $M open -k doctor.key --preview-out given.seen.png -o given.png given.medcrypt
same rgba.png given.seen.png
check "open --preview-out without a preview" $M open -k doctor.key --preview-out none.png -o nometa.dcm nometa.medcrypt
grep -q "no preview" .err && ok || bad "no note: $(cat .err)"
no_output none.png

# --- bombs, truncated and corrupt files: a clear error, no output
check "PNG bomb" $PY tool.py png-bomb bomb.png
expect_exit 5 "meta of a PNG bomb" $M meta bomb.png
grep -q "decompression bomb" .err && ok || bad "bomb message: $(cat .err)"
expect_exit 5 "preview of a PNG bomb" $M preview -o bomb.prev.png bomb.png
no_output bomb.prev.png
expect_exit 5 "seal --preview of a PNG bomb" $M seal -r doctor.pub --preview -o bomb.medcrypt bomb.png
no_output bomb.medcrypt
check "JPEG bomb" $PY tool.py jpeg-bomb gray.jpg bomb.jpg
expect_exit 5 "meta of a JPEG bomb" $M meta bomb.jpg
grep -q "60000x60000" .err && ok || bad "JPEG bomb message: $(cat .err)"
expect_exit 5 "preview of a JPEG bomb" $M preview -o bomb.jprev.png bomb.jpg
no_output bomb.jprev.png
check "DICOM bomb" $PY tool.py dicom-bomb bomb.dcm
expect_exit 5 "preview of a DICOM bomb" $M preview -o bomb.dprev.png bomb.dcm
grep -q "65535x65535" .err && ok || bad "DICOM bomb message: $(cat .err)"
no_output bomb.dprev.png
# the chunk limit is for ancillary chunks: image data in one large IDAT is read
check "PNG with a 6.7 MB IDAT" $PY tool.py png-big-idat big_idat.png
check "preview of a PNG with a 6.7 MB IDAT" $M preview -o big_idat.prev.png big_idat.png
check "PNG with a 5 MiB text chunk" $PY tool.py png-big-text rgb.png big_text.png
expect_exit 5 "meta of a PNG with a 5 MiB text chunk" $M meta big_text.png
expect_exit 5 "preview of a PNG with a 5 MiB text chunk" $M preview -o big_text.prev.png big_text.png
no_output big_text.prev.png
head -c $(($(stat -c %s rgb.png) - 30)) rgb.png >truncated.png
expect_exit 4 "meta of a truncated PNG" $M meta truncated.png
expect_exit 4 "preview of a truncated PNG" $M preview -o truncated.prev.png truncated.png
grep -q "truncated" .err && ok || bad "truncated PNG message: $(cat .err)"
no_output truncated.prev.png
head -c $(($(stat -c %s rgb.jpg) - 200)) rgb.jpg >truncated.jpg
expect_exit 4 "preview of a truncated JPEG" $M preview -o truncated.jprev.png truncated.jpg
no_output truncated.jprev.png
cp rgb.png crc.png
flip crc.png 40
expect_exit 4 "meta of a PNG with a bad CRC" $M meta crc.png
expect_exit 4 "preview of a PNG with a bad CRC" $M preview -o crc.prev.png crc.png
no_output crc.prev.png
cp rgb.jpg corrupt.jpg
# 40 bytes of 0xFF inside the entropy-coded data (which starts after the SOS header, below 300)
head -c 40 /dev/zero | tr '\0' '\377' | dd of=corrupt.jpg bs=1 seek=500 conv=notrunc status=none
expect_exit 4 "preview of a corrupt JPEG" $M preview -o corrupt.prev.png corrupt.jpg
no_output corrupt.prev.png
head -c $(($(stat -c %s ct1.dcm) - 100)) ct1.dcm >truncated.dcm
expect_exit 4 "preview of a truncated DICOM" $M preview -o truncated.dprev.png truncated.dcm
no_output truncated.dprev.png
expect_exit 5 "preview of a non-image" $M preview -o note.prev.png note.txt
no_output note.prev.png
expect_exit 2 "preview without -o" $M preview rgb.png
expect_exit 2 "preview --block 0" $M preview --block 0 -o x.png rgb.png
expect_exit 2 "preview --max-size 5000" $M preview --max-size 5000 -o x.png rgb.png
expect_exit 1 "preview refuses to overwrite" $M preview -o rgb.prev.png rgb.png
check "preview --force" $M preview -f -o rgb.prev.png rgb.png
check "preview --help" $M preview --help

summary image-cli
