#!/usr/bin/env bash
# gen_tus_static_corpus.sh: writes the seeds of fuzz_tus and fuzz_static_path (files named
# crash-regress-* and found-* are kept, everything else is replaced). Nothing here is random, so
# a rerun writes the same files.
#   fuzz_tus           selector byte (fuzz_tus.c: low two bits pick the parser, the next ones the
#                      method of an upload path) + a header value: Upload-Offset and
#                      Upload-Length numbers, Upload-Metadata as tus-js-client and `medcrypt send`
#                      write it and broken, Content-Types, /api/v1/uploads paths
#   fuzz_static_path   a raw request path: the web client's files, client routes, traversal in
#                      every spelling static_test.sh tries (dot segments, %2e, encoded slash,
#                      backslash and NUL, double encoding, hidden files, links out of the root)
# usage: fuzz/gen_tus_static_corpus.sh
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
C=$ROOT/fuzz/corpus
for t in fuzz_tus fuzz_static_path; do
	mkdir -p "$C/$t"
	find "$C/$t" -type f ! -name 'crash-regress-*' ! -name 'found-*' -delete
done

/usr/bin/python3 - "$C" <<'PY'
import base64, os, sys
C = sys.argv[1]
n = {"fuzz_tus": 0, "fuzz_static_path": 0}
def put(target, data):
    n[target] += 1
    with open(os.path.join(C, target, "s%03d" % n[target]), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)

# ---- fuzz_tus: selector & 3 = 0 number, 1 metadata, 2 Content-Type, 3 upload path ----
NUMBER, META, TYPE, PATH = 0, 1, 2, 3
tus = lambda sel, text: put("fuzz_tus", bytes([sel]) + (text.encode() if isinstance(text, str) else text))
for v in ["0", "1", "65536", "1000000", "50000000", "007", "9999999999999999999", "10000000000000000000",
          "18446744073709551615", "18446744073709551616", "0000000000000000001", "", "-1", "+5", " 5", "5 ",
          "1e6", "0x10", "12a", "\u0661"]:
    tus(NUMBER, v)
b64 = lambda s: base64.b64encode(s.encode()).decode()
for m in ["kind " + b64("sealed"), "kind c2VhbGVk,empty", "filename " + b64("a.mc") + ",filetype " + b64("application/octet-stream"),
          "k", "k ", "a QQ==,b QUI=,c QUJD", " a QQ==, b", "name not*base64", "k =AAA", "k QQ=A", "k Q===", "k ====",
          "k AB=C", "k QQ", ",", "a,", ",a", "a  QQ==", "a QQ== ", "a\tQQ==", b"k\x80 QQ==", "a QQ==,a QUI=",
          "x " + "A" * 4088, "x " + "A" * 4092, "k " + "+/+/" * 3 + "-_-_"]:
    tus(META, m)
for t in ["application/offset+octet-stream", "Application/Offset+Octet-Stream", "application/offset+octet-stream;x=1",
          "application/offset+octet-stream ; x", "application/offset+octet-streamx", "application/offset+octet",
          "application/octet-stream", "", "application/offset+octet-stream\x7f"]:
    tus(TYPE, t)
ID = "0123456789abcdef0123456789abcdef"
for method in range(6):  # OPTIONS POST GET HEAD PATCH DELETE
    sel = PATH | method << 2
    for tail in ["", "/" + ID, "/" + ID.upper(), "/" + ID + "/", "/" + ID[:31], "/" + ID + "0", "/../" + ID[4:],
                 "/" + ID[:16] + "/" + ID[17:], "/", "//" + ID]:
        tus(sel, tail)
# the Upload-Metadata keys the server reads (issue 12): once, twice, lone, with a NUL inside
for m in ["patient " + b64("pat") + ",deidentified " + b64("1"), "patient " + b64("a") + ",patient " + b64("b"),
          "patient,deidentified", "deidentified " + b64("0") + ",kind " + b64("x"), "patient AA==",
          "patient " + b64("p\u00e4t"), " patient " + b64("pat")]:
    tus(META, m)

# ---- fuzz_static_path: the raw path ----
sp = lambda p: put("fuzz_static_path", p)
for p in ["/", "/index.html", "/app-ABCDEFGH.js", "/app-ABCDEFGH.js.map", "/style-ZZZZ2345.css", "/favicon.svg",
          "/notes.txt", "/sub/probe-AAAAAAAA.json", "/a/b/c/deep-7777AAAA.wasm", "/a/b/c/d.e.f",
          "/UPPER_case-1.0.tar.txt", "/inbox", "/images/0123456789abcdef0123456789abcdef", "/missing-ABCDEFGH.js",
          "/app-abcdefgh.js", "/app-ABCDEFG1.js", "/%61pp-ABCDEFGH.js", "/index%2ehtml", "/sub%2fprobe-AAAAAAAA.json",
          "/sub%2Fprobe-AAAAAAAA.json", "/sub%5cprobe-AAAAAAAA.json", "/index.html%00.txt", "/%00", "/%2e%2e/etc/passwd",
          "/..", "/../secret.txt", "/./index.html", "/sub/../index.html", "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
          "/%252e%252e/secret.txt", "/.hidden.txt", "/sub/.git/config", "/leak.txt", "/outdir/secret.txt",
          "/with%20space.txt", "/pct%252e.txt", "//index.html", "/sub/", "/sub", "\\index.html", "/sub\\probe-AAAAAAAA.json",
          "index.html", "", "/api/v1/me", "/%", "/%4", "/%g1", "/%%41", "/\x01", "/\x7f", "/\u00e9", b"/\xe9",
          "/" + "a" * 511, "/" + "a" * 512, "/" + "a/" * 255 + "b", "/.well-known/security.txt",
          "/app-ABCDEFGH.JS", "/x.woff2", "/x.mjs", "/a.b.c", "/-ABCDEFGH.js", "/0123456789-22222222"]:
    sp(p)
print("gen_tus_static_corpus: %d tus, %d static-path seeds" % (n["fuzz_tus"], n["fuzz_static_path"]))
PY
