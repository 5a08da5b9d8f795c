#!/usr/bin/env bash
# gen_sse_corpus.sh: writes the seeds of fuzz_sse (files named crash-regress-* and found-* are
# kept, everything else is replaced). Nothing here is random, so a rerun writes the same files.
# Each seed is a text/event-stream as medcryptd sends it (docs/API.md §17a: retry, notices of
# every type, keepalives, a replay after Last-Event-ID) or as a broken or hostile server could:
# CRLF, CR and mixed line ends, comments, multi-line data, lines at and past SSE_LINE_MAX, data
# past its bound, ids at and past 40 digits and not digits, retry at and past its bounds, events
# without data, NUL bytes, a byte order mark, unknown fields, a last line without its end.
# usage: fuzz/gen_sse_corpus.sh
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
C=$ROOT/fuzz/corpus/fuzz_sse
mkdir -p "$C"
find "$C" -type f ! -name 'crash-regress-*' ! -name 'found-*' -delete

/usr/bin/python3 - "$C" <<'PY'
import os, sys
C = sys.argv[1]
n = 0
def put(data):
    global n
    n += 1
    with open(os.path.join(C, "s%03d" % n), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)

ID = "3f0c0123456789abcdef0123456789ab"
def notice(eid, kind, oid=ID, at=1796676537, nl="\n"):
    return nl.join(["id: %d" % eid, "event: " + kind, 'data: {"id":"%s","at":%d}' % (oid, at), "", ""])

# what the server sends
put("retry: 3000\n\n")
put("retry: 3000\n\n" + notice(1796676537688123, "image"))
for i, kind in enumerate(["message", "consent", "revoked", "image", "unknown-type"]):
    put(notice(1796676537688200 + i, kind))
put("retry: 3000\n\n" + "".join(notice(1796676537688300 + i, k) for i, k in
                                 enumerate(["message", "image", "consent", "revoked", "message"])))
put(": keepalive\n\n: keepalive\n\n" + notice(7, "message") + ": keepalive\n\n")
# line ends
for nl in ["\r\n", "\r"]:
    put("retry: 3000" + nl + nl + notice(8, "message", nl=nl))
put("id: 9\r\nevent: image\rdata: {\"id\":\"%s\",\n\"at\":1}\r\n\n\r" % ID)
put("data: a\r\r\ndata: b\n\r\n\r\r\n")
# comments, fields
put(":\n: a comment\n:data: not data\nevent: message\n: between\ndata: x\n\n")
put("data\ndata:\ndata: \ndata:  two spaces\ndata:no space\n\n")
put("event\nid\nretry\nfoo: bar\nDATA: x\ndata : y\nx\n\ndata: z\n\n")
put("event: a:b:c\ndata: {\"k\": \"v:w\"}\n\n")
put("event: " + "t" * 40 + "\ndata: 1\n\n")
put("event: message\n\nid: 5\n\nretry: 1000\n\n")
put("data: 1\ndata: 2\ndata: 3\n\nevent: e\ndata\n\n")
# bounds of a line and of the data
put("data: " + "x" * (2048 - 6) + "\n\n")
put("data: " + "x" * (2048 - 5) + "\ndata: after\n\n")
put("data: ok\n:" + "c" * 3000 + "\r\ndata: after\n\n")
put("data: " + "y" * 1500 + "\ndata: " + "y" * 1500 + "\ndata: " + "y" * 500 + "\ndata: end\n\n")
put("id: 1\nid: " + "1" * 2100 + "\nevent: " + "e" * 2100 + "\ndata: d\n\n")
# ids
put("id: 1234567890123456789012345678901234567890\ndata: a\n\n")
put("id: 9\nid: 12345678901234567890123456789012345678901\ndata: a\n\n")
put("id: 9\nid: 12a\nid: -1\nid: 1 \nid:  2\nid: +3\nid: \u0663\nid:\ndata: a\n\ndata: b\nid: 10\n\n")
# retry
for v in ["0", "199", "200", "60000", "60001", "99999999", "100000000", "00001000", "-5", "1e3", " 5", "5 ", ""]:
    put("retry: %s\ndata: r\n\n" % v)
# NUL bytes, a byte order mark, 8-bit bytes
put(b"data: a\x00b\nevent: c\x00d\ndata: e\n\n\x00zz\ndata: f\n\n")
put(b"\xef\xbb\xbfretry: 3000\n\nevent: message\ndata: {}\n\n")
put(b"event: \xff\xfe\ndata: \x80\x81\x1b[2J\n\n")
# a last line without its end, an event without its blank line
put("id: 11\nevent: message\ndata: {\"id\":\"%s\",\"at\":1}\n" % ID)
put("id: 12\nevent: message\ndata: {\"id\":\"%s\"" % ID)
put("")
put("\n\n\n\r\r\r\n\r\n")
print("gen_sse_corpus: %d seeds" % n)
PY
