#!/usr/bin/env bash
# gen_server_corpus.sh: writes the seeds of the server and client targets (files named
# crash-regress-* and found-* are kept, everything else is replaced):
#   fuzz_sealed_check   16-byte control block (fuzz_sealed_check.c) + an upload: sealed files made
#                       with `medcrypt seal` (the library): unsigned, Ed25519 and RSA-PSS signed,
#                       ChaCha20 and AES, 1 and 3 wraps, with metadata and a preview, one and two
#                       chunks; a blob (0 wraps); broken variants of every field of FORMAT.md
#                       §3-8; each with a few control blocks (split seeds, longer or shorter
#                       Content-Length, a refusing sink)
#   fuzz_server_text    selector byte + text: routes, base64, cookies, hex, invitations, names
#   fuzz_server_config  configuration files
#   fuzz_client_answer  status byte + JSON answers: USER records with the test keys, IMAGE records
#                       with a real header and detached wrap, errors, pre-login and login answers
#                       (the wrapped key bundle is sealed under the target's fixed key)
# usage: fuzz/gen_server_corpus.sh PATH/TO/medcrypt
set -eu
M=$(realpath "${1:?usage: gen_server_corpus.sh PATH/TO/medcrypt}")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
K=$ROOT/tests/vectors/keys
C=$ROOT/fuzz/corpus
for t in fuzz_sealed_check fuzz_server_text fuzz_server_config fuzz_client_answer; do
	mkdir -p "$C/$t"
	find "$C/$t" -type f ! -name 'crash-regress-*' ! -name 'found-*' -delete
done
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
export MEDCRYPT_NO_PROGRESS=1

# ---- sealed files, made by the library ----
/usr/bin/python3 -c 'import sys; sys.stdout.buffer.write(bytes((i * 31 + 7) & 255 for i in range(100)))' >p100
/usr/bin/python3 -c 'import sys; sys.stdout.buffer.write(bytes((i * 13) & 255 for i in range(65536)))' >p65536
/usr/bin/python3 -c 'import sys; sys.stdout.buffer.write(bytes((i * 17) & 255 for i in range(65600)))' >p65600
: >p0
echo '{"PatientID":"FAKE-0001","Modality":"CT"}' >meta.json
convert -size 6x4 xc:gray40 preview.png
seal() { # seal NAME ARGS... INPUT
	local name=$1
	shift
	"$M" seal "$@" -o "$name.mc" 2>/dev/null
}
seal unsigned_chacha_1 -r "$K/alice.pub" p100
seal unsigned_aes_3 --cipher aes -r "$K/alice.pub" -r "$K/bob.pub" -r "$K/carol4096.pub" p100
seal ed25519_chacha_1_meta --sign "$K/signer_ed25519.key" --meta meta.json -r "$K/alice.pub" p100
seal pss_aes_3 --cipher aes --sign "$K/signer_pss.key" -r "$K/alice.pub" -r "$K/bob.pub" -r "$K/carol4096.pub" p100
seal ed25519_aes_1_preview --cipher aes --sign "$K/signer_ed25519.key" --preview-file preview.png -r "$K/bob.pub" p100
seal unsigned_chacha_empty -r "$K/alice.pub" p0
seal ed25519_chacha_two_chunks --sign "$K/signer_ed25519.key" -r "$K/alice.pub" p65600
seal unsigned_chacha_one_full_chunk -r "$K/alice.pub" p65536

/usr/bin/python3 - "$C/fuzz_sealed_check" <<'PY'
import os, struct, sys
out = sys.argv[1]

def parse(b):
    """Offsets of a sealed file: (wraps_end, wrap records, core offsets, header_len)."""
    n = struct.unpack(">H", b[9:11])[0]
    o, wraps = 11, []
    for _ in range(n):
        l = struct.unpack(">H", b[o + 33:o + 35])[0]
        wraps.append((o, 35 + l))
        o += 35 + l
    core = o
    signer_len = struct.unpack(">H", b[core + 35:core + 37])[0]
    meta = core + 37 + signer_len
    meta_len = struct.unpack(">I", b[meta:meta + 4])[0]
    prev = meta + 4 + meta_len
    prev_len = struct.unpack(">I", b[prev:prev + 4])[0]
    mac = prev + 4 + prev_len
    return dict(n=n, wraps=wraps, core=core, meta=meta, prev=prev, mac=mac, header=mac + 32)

def control(seed=0, mode=0, extra=0):
    return struct.pack(">Q", seed) + bytes([mode]) + extra.to_bytes(7, "big")

def put(name, body, controls=((0, 0, 0),)):
    for i, (seed, mode, extra) in enumerate(controls):
        with open(os.path.join(out, "%s-%d" % (name, i)), "wb") as f:
            f.write(control(seed, mode, extra) + body)

def setb(b, off, new):
    return b[:off] + new + b[off + len(new):]

files = {n[:-3]: open(n, "rb").read() for n in sorted(os.listdir(".")) if n.endswith(".mc")}
many = ((0, 0, 0), (0x9e3779b97f4a7c15, 0, 0), (12345, 4, 700), (777, 1, 65552), (31337, 2, 3))
for name, b in files.items():
    put("good_" + name, b, many if len(b) < 4096 else ((0, 0, 0), (4242, 4, 5000)))

b = files["unsigned_chacha_1"]
p = parse(b)
three = files["pss_aes_3"]
q = parse(three)
# the blob the server stores: wrap_count 0 (refused by the server: nobody could open it)
blob = b[:9] + b"\0\0" + b[p["core"]:]
put("blob_no_wrap", blob)
# truncations: in the prefix, a wrap, the core, the MAC, the payload
for cut in (5, 10, 40, 11 + 35 + 100, p["core"] + 10, p["mac"] + 5, p["header"] + 3, len(b) - 1):
    put("cut_%d" % cut, b[:cut])
put("trailing_byte", b + b"\0")
put("bad_magic", setb(b, 0, b"\x89MEDD"))
put("version_2", setb(b, 8, b"\x02"))
put("wrap_count_1025", setb(b, 9, struct.pack(">H", 1025)))
put("wrap_count_2_of_1", setb(b, 9, struct.pack(">H", 2)))
w0 = p["wraps"][0][0]
put("wrap_type_2", setb(b, w0, b"\x02"))
put("wrap_type_0_len_0", b[:9] + struct.pack(">H", 2) + b"\0" + b"\x11" * 32 + b"\0\0" + b[11:])
put("wrap_len_383", setb(b, w0 + 33, struct.pack(">H", 383)))
put("wrap_len_1025", setb(b, w0 + 33, struct.pack(">H", 1025)))
r = q["wraps"]
dup = three[:r[1][0] + 1] + three[r[0][0] + 1:r[0][0] + 33] + three[r[1][0] + 33:]
put("wrap_duplicate_recipient", dup)
c = p["core"]
put("cipher_3", setb(b, c, b"\x03"))
put("chunk_log2_15", setb(b, c + 1, b"\x0f"))
put("sig_alg_3", setb(b, c + 34, b"\x03"))
put("sig_alg_1_no_signer", setb(b, c + 34, b"\x01"))
e = files["ed25519_chacha_1_meta"]
pe = parse(e)
put("sig_alg_2_ed25519_signer", setb(e, pe["core"] + 34, b"\x02"))
put("signer_len_2049", setb(e, pe["core"] + 35, struct.pack(">H", 2049)))
put("signer_bad_der", setb(e, pe["core"] + 37, b"\x31"))
put("meta_len_5", setb(e, pe["meta"], struct.pack(">I", 5)))
put("meta_len_huge", setb(e, pe["meta"], struct.pack(">I", 1048576 + 17)))
put("preview_len_max", setb(b, p["prev"], struct.pack(">I", 8388608 + 16)))
put("payload_short_tag", b[:p["header"]] + b"\0" * 15)
put("payload_missing", b[:p["header"]])
s = files["pss_aes_3"]
put("signed_cut_into_signature", s[:-10])
put("signed_payload_shorter_than_sig", s[:parse(s)["header"] + 100])
# an empty final chunk after a full one: the server refuses it from the length alone
f = files["unsigned_chacha_one_full_chunk"]
put("empty_final_after_full", f + b"\0" * 16)
put("two_chunks_appended", f + b"\0" * 65552)
# a huge declared Content-Length (mode 1): only the header is sent
put("declared_huge_payload", b[:p["header"]], ((0, 1, 3 * 65552 + 100), (0, 1, (1 << 48) + 17)))
PY

# ---- fuzz_server_text ----
/usr/bin/python3 - "$C/fuzz_server_text" <<'PY'
import os, sys
out = sys.argv[1]
n = 0
def put(sel, text):
    global n
    n += 1
    with open(os.path.join(out, "t%03d" % n), "wb") as f:
        f.write(bytes([sel]) + (text.encode("utf-8") if isinstance(text, str) else text))
ID = "0123456789abcdef0123456789abcdef"
for r in ["GET /api/v1/images", "POST /api/v1/images", "GET /api/v1/images/%s" % ID,
          "HEAD /api/v1/images/%s/blob" % ID, "GET /api/v1/images/%s/wrap" % ID,
          "POST /api/v1/images/%s/shares" % ID, "DELETE /api/v1/images/%s/shares/doc.a-1_b" % ID,
          "DELETE /api/v1/images/%s" % ID, "GET /api/v1/users/alice", "PATCH /api/v1/users/bob",
          "POST /api/v1/prelogin", "POST /api/v1/login", "POST /api/v1/register", "GET /api/v1/me",
          "GET /healthz", "GET /metrics", "GET /api/v1/audit/verify",
          "GET /api/v1/images/%s" % ID.upper(), "GET /api/v1/images/%s/" % ID, "GET //api/v1/images",
          "GET /api/v1/users/" + "a" * 65, "GET /api/v1/users/-x", "GET /api/v1/users/", "PUT /healthz",
          "GET /api/v1/images/%s/shares/%s" % (ID, "x" * 80)]:
    put(0, r)
for b in ["", "AAAA", "QUJD", "QUI=", "QQ==", "Q===", "====", "AB=C", "QUJD\n", " QUJD", "QUJDRA==",
          "+/+/", "-_-_", "QUJ"]:
    put(1, b)
for t in ["A" * 43, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456", "A" * 42 + "=", "A" * 44, "-_" * 21 + "A",
          "A" * 42 + "B", "+" * 43]:
    put(2, t)
put(3 + 7 * 16, "AAAAAAAAAAAAAAAAAAAAAA")
put(3 + 7 * 1, "AA")
put(3, "")
for h in ["", "00", "0aFf", "0g", "abc", "DEADBEEF" * 8]:
    put(4, h)
for c in ["ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567", "abcd efgh ijkl mnop qrst uvwx yz23 4567",
          "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "ABCDEFGHIJKLMNOPQRSTUVWXYZ23456", "ABCDEFGHIJKLMNOPQRSTUVWXYZ2345678",
          "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4561", "ABCD\x00"]:
    put(5, c)
for s in ["alice", "a", "doc.a-1_b", "Alice", ".x", "a" * 64, "a" * 65, "Ada Lovelace", "Zoë Ünal", "李雷",
          "emoji \U0001F600", "tab\there", "del\x7f", "c1 \u0085", "line \u2028", b"\xc0\xaf", b"\xed\xa0\x80",
          b"\xf4\x90\x80\x80", b"\xe0\x80\xaf", b"\xc2", "x" * 129, "é" * 128, "é" * 129, "<script>alert(1)</script>",
          "'; DROP TABLE users; --"]:
    put(6, s)
PY

# ---- fuzz_server_config ----
CF=$C/fuzz_server_config
cat >"$CF/full.conf" <<'EOF'
# medcryptd configuration
listen = 127.0.0.1:8443
data-dir = /var/lib/medcryptd
cert = /etc/medcryptd/tls.crt
key = /etc/medcryptd/tls.key
max-upload = 4294967296
max-hashes = 2
threads = 4
allow-patient-signup = yes
log-level = debug
connection-limit = 1024
per-ip-limit = 128
connection-timeout = 60
lockout-base-seconds = 60
pow-bits = 20
EOF
printf 'listen = [::1]:9443\n  threads=256\t\nlog-level = warn\nallow-patient-signup = false\n' >"$CF/ipv6.conf"
printf 'listen = localhost:1\r\nmax-upload = 1024\r\n' >"$CF/crlf.conf"
printf 'listen = 0.0.0.0:65536\n' >"$CF/bad_port.conf"
printf 'listen = [::1:80\n' >"$CF/bad_bracket.conf"
printf 'threads = 0\n' >"$CF/threads_0.conf"
printf 'max-upload = 18446744073709551616\n' >"$CF/u64_overflow.conf"
printf 'max-upload = -1\n' >"$CF/negative.conf"
printf 'cert = a.pem\n' >"$CF/cert_without_key.conf"
printf 'config = other.conf\n' >"$CF/nested.conf"
printf 'no equals sign\n' >"$CF/no_equals.conf"
printf 'unknown-setting = 1\n' >"$CF/unknown.conf"
printf 'data-dir =\n' >"$CF/empty_value.conf"
printf '# only a comment\n\n   \n' >"$CF/comments.conf"
: >"$CF/empty.conf"
/usr/bin/python3 -c 'import sys; sys.stdout.write("data-dir = " + "d" * 5000 + "\n")' >"$CF/long_line.conf"

# ---- fuzz_client_answer ----
"$M" seal -r "$K/alice.pub" --sign "$K/signer_ed25519.key" --meta meta.json -o image.mc p100 2>/dev/null
/usr/bin/python3 - "$C/fuzz_client_answer" "$K" <<'PY'
import base64, hashlib, json, os, struct, subprocess, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
out, K = sys.argv[1], sys.argv[2]
STATUS = [200, 201, 204, 206, 400, 401, 403, 404, 409, 413, 416, 429, 500, 502, 503, 0]
def put(name, status, obj):
    body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([STATUS.index(status)]) + body)
def pem(n): return open(os.path.join(K, n)).read()
def fp(n):
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", os.path.join(K, n), "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()
b64 = lambda b: base64.b64encode(b).decode()
user = {"username": "doca", "display_name": "Dr A", "role": "doctor", "enc_public_key": pem("alice.pub"),
        "sign_public_key": pem("signer_ed25519.pub"), "enc_fingerprint": fp("alice.pub"),
        "sign_fingerprint": fp("signer_ed25519.pub"), "created": 1700000000}
put("user", 200, user)
put("user_pss", 200, dict(user, sign_public_key=pem("signer_pss.pub"), sign_fingerprint=fp("signer_pss.pub")))
put("user_wrong_fp", 200, dict(user, enc_fingerprint=fp("bob.pub")))
put("user_weak_key", 200, dict(user, enc_public_key=pem("weak2048.pub"), enc_fingerprint=fp("weak2048.pub")))
put("user_swapped_roles", 200, dict(user, enc_public_key=pem("signer_ed25519.pub"), sign_public_key=pem("alice.pub"),
                                   enc_fingerprint=fp("signer_ed25519.pub"), sign_fingerprint=fp("alice.pub")))
put("users", 200, {"users": [user, dict(user, username="docb", enc_public_key=pem("bob.pub"), enc_fingerprint=fp("bob.pub"))]})
# an IMAGE: the blob's header (wrap_count 0) and the detached wrap
b = open("image.mc", "rb").read()
n = struct.unpack(">H", b[9:11])[0]
l = struct.unpack(">H", b[11 + 33:11 + 35])[0]
wrap = b[11:11 + 35 + l]
rest = b[11 + 35 + l:]
signer_len = struct.unpack(">H", rest[35:37])[0]
o = 37 + signer_len
meta_len = struct.unpack(">I", rest[o:o + 4])[0]
o += 4 + meta_len
prev_len = struct.unpack(">I", rest[o:o + 4])[0]
o += 4 + prev_len + 32
header = b[:9] + b"\0\0" + rest[:o]
image = {"id": "0123456789abcdef0123456789abcdef", "sender": "tech", "created": 1700000000, "size": len(header) + 200,
         "sha256": "00" * 32, "header": b64(header), "wrap": b64(wrap), "recipients": ["doca"]}
put("image", 200, image)
put("images", 200, {"images": [image, dict(image, wrap=None), dict(image, header=b64(header[:40]))]})
put("image_bad_b64", 200, dict(image, header="QUJD=A==", wrap="****"))
# pre-login and login answers
put("prelogin", 200, {"salt": b64(bytes(16)), "kdf": {"alg": "argon2id", "t": 3, "m": 65536, "p": 1}, "pow": None})
put("prelogin_pow", 200, {"salt": b64(bytes(16)), "kdf": {"alg": "argon2id", "t": 2, "m": 19456, "p": 1},
                          "pow": {"challenge": b64(bytes(range(32))), "bits": 8}})
put("prelogin_kdf_huge", 200, {"salt": b64(bytes(16)), "kdf": {"alg": "argon2id", "t": 1 << 31, "m": 1 << 40, "p": 0}})
bundle = struct.pack(">I", 5) + b"enc!!" + struct.pack(">I", 6) + b"sign!!"
nonce = bytes(range(12))
wrapped = nonce + AESGCM(b"\x42" * 32).encrypt(nonce, bundle, b"medcrypt/v1 keys")
put("login", 200, {"user": user, "csrf_token": "x" * 43, "wrapped_keys": {"password": b64(wrapped)}})
put("login_bad_tag", 200, {"user": user, "csrf_token": "x", "wrapped_keys": {"password": b64(wrapped[:-1] + b"\0")}})
# errors
for st, code in [(401, "bad_credentials"), (401, "reauth_required"), (401, "unauthenticated"), (403, "csrf"),
                 (403, "pow_required"), (403, "forbidden"), (404, "not_found"), (409, "conflict"), (413, "too_large"),
                 (400, "unknown_recipient"), (400, "bad_container"), (400, "bad_request"), (500, "internal"),
                 (503, "busy")]:
    put("error_%d_%s" % (st, code), st, {"error": code, "message": "generic text"})
put("error_429", 429, {"error": "locked", "message": "locked", "retry_after": 61})
put("error_control_chars", 400, {"error": "x", "message": "bell\u0007 and esc\u001b[2J"})
put("error_not_json", 502, b"<html>bad gateway</html>")
put("empty", 200, b"")
PY
count() { find "$1" -type f | wc -l; }
echo "gen_server_corpus: $(count "$C/fuzz_sealed_check") sealed-check, $(count "$C/fuzz_server_text") text," \
	"$(count "$CF") config, $(count "$C/fuzz_client_answer") client seeds"
