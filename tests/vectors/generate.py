#!/usr/bin/python3
"""Write the medcrypt test vectors of docs/FORMAT.md §12, from the spec alone.

Usage: /usr/bin/python3 tests/vectors/generate.py      (writes next to this script)

Needs only the standard library and Debian's python3-cryptography. The key files in keys/ are
created once, when missing, and reused afterwards (they are committed). File keys, file ids and
plaintexts are derived from the scenario name, so a rerun changes only the randomized RSA-OAEP
wraps and RSA-PSS signatures. Every *.vec here is removed and rewritten; the scenario list is
printed on stdout.
"""
import hashlib
import hmac
import json
import os
import struct
import sys
import zlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = HERE
KEYS = os.path.join(HERE, "keys")

MAGIC = b"\x89MEDC\r\n\x1a"
CHUNK = 65536
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                    label=b"medcrypt/v1 wrap")
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)

# ---------------------------------------------------------------- keys

KEYSPEC = {"alice": 3072, "bob": 3072, "carol4096": 4096, "weak2048": 2048,
           "signer_pss": 3072, "signer_ed25519": None}


def make_keys():
    os.makedirs(KEYS, exist_ok=True)
    for name, bits in KEYSPEC.items():
        kpath, ppath = os.path.join(KEYS, name + ".key"), os.path.join(KEYS, name + ".pub")
        if os.path.exists(kpath):
            continue
        sk = (ed25519.Ed25519PrivateKey.generate() if bits is None
              else rsa.generate_private_key(public_exponent=65537, key_size=bits))
        with open(kpath, "wb") as f:
            f.write(sk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
        with open(ppath, "wb") as f:
            f.write(sk.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo))
        print("generated", kpath, file=sys.stderr)


_keys = {}


def sk(name):
    if name not in _keys:
        with open(os.path.join(KEYS, name + ".key"), "rb") as f:
            _keys[name] = serialization.load_pem_private_key(f.read(), password=None)
    return _keys[name]


def spki(key):
    pub = key.public_key() if hasattr(key, "public_key") else key
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def fp(name):
    return hashlib.sha256(spki(sk(name))).digest()

# ---------------------------------------------------------------- primitives


def H(*parts):
    """Deterministic 32 bytes from a label (file keys, file ids, recipients)."""
    return hashlib.sha256(b"medcrypt vectors\0" + b"\0".join(
        p if isinstance(p, bytes) else str(p).encode() for p in parts)).digest()


def stream(label, n):
    """Deterministic plaintext of n bytes (SHA-256 in counter mode)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += H("plaintext", label, i)
        i += 1
    return bytes(out[:n])


def hkdf(ikm, salt, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def aead(cipher, key):
    return ChaCha20Poly1305(key) if cipher == 1 else AESGCM(key)


def u16(x): return struct.pack(">H", x)
def u32(x): return struct.pack(">I", x)


def wrap_rec(wtype, recipient, body):
    return bytes([wtype]) + recipient + u16(len(body)) + body


def wrap(name, file_key, label=OAEP, named=None):
    """Type-1 wrap of file_key to NAME's key, naming `named` (default NAME)."""
    body = sk(name).public_key().encrypt(file_key, label)
    return wrap_rec(1, fp(named or name), body)


def flip(b, i=None, bit=0):
    b = bytearray(b)
    b[len(b) // 2 if i is None else i] ^= 1 << bit
    return bytes(b)


def png_1x1():
    def chunk(t, d): return u32(len(d)) + t + d + u32(zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b""))

# ---------------------------------------------------------------- a container under construction


class F:
    """All fields of one container. Fields may be altered after sealing; mac and sig are only
    recomputed by remac() / resign(), so an alteration without them breaks the MAC/signature."""

    def __init__(self, name, pt=b"", cipher=1, rcpts=("alice",), meta=None, preview=None,
                 signer=None, parts=None):
        self.name, self.pt, self.meta_pt, self.preview_pt = name, pt, meta, preview
        self.fk, self.file_id = H("file_key", name), H("file_id", name)
        self.magic, self.version, self.cipher, self.log2 = MAGIC, 1, cipher, 16
        self.wraps = [wrap(r, self.fk) for r in rcpts]
        self.wrap_count = None                      # None: len(wraps)
        self.sk = sk(signer) if isinstance(signer, str) else signer
        self.sig_alg = 0 if self.sk is None else (1 if isinstance(self.sk, ed25519.Ed25519PrivateKey) else 2)
        self.signer = spki(self.sk) if self.sk else b""
        self.signer_len = None                      # None: len(signer)
        self.meta = self.seal_small("metadata", meta)
        self.preview = self.seal_small("preview", preview)
        if parts is None:
            parts = [pt[i:i + CHUNK] for i in range(0, len(pt), CHUNK)] or [b""]
        self.chunks = [self.chunk(i, i == len(parts) - 1, p) for i, p in enumerate(parts)]
        self.sig = b""
        self.remac()
        self.resign()

    def key(self, label):
        return hkdf(self.fk, self.file_id, b"medcrypt/v1 " + label.encode() + bytes([self.cipher]))

    def seal_small(self, label, pt):
        return b"" if pt is None else aead(self.cipher, self.key(label)).encrypt(bytes(12), pt, None)

    def chunk(self, i, last, p):
        return aead(self.cipher, self.key("payload")).encrypt(i.to_bytes(11, "big") + bytes([last]), p, None)

    def prefix(self):
        return self.magic + bytes([self.version])

    def core_wo_mac(self):
        sl = len(self.signer) if self.signer_len is None else self.signer_len
        return (bytes([self.cipher, self.log2]) + self.file_id + bytes([self.sig_alg]) + u16(sl)
                + self.signer + u32(len(self.meta)) + self.meta + u32(len(self.preview)) + self.preview)

    def wraps_bytes(self):
        wc = len(self.wraps) if self.wrap_count is None else self.wrap_count
        return u16(wc) + b"".join(self.wraps)

    def header(self):
        return self.prefix() + self.wraps_bytes() + self.core_wo_mac() + self.mac

    def core_offset(self):
        return len(self.prefix()) + len(self.wraps_bytes())

    def remac(self):
        self.mac = hmac.new(self.key("header"), self.prefix() + self.core_wo_mac(), "sha256").digest()

    def message(self, header_digest=None, n=None):
        hd = header_digest or hashlib.sha256(self.prefix() + self.core_wo_mac() + self.mac).digest()
        pd = hashlib.sha256(b"".join(hashlib.sha256(c).digest() for c in self.chunks)).digest()
        n = len(self.chunks) if n is None else n
        return b"medcrypt/v1 signature\x00" + hd + struct.pack(">Q", n) + pd

    def sign(self, m, key=None, pss=PSS):
        key = key or self.sk
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(m)
        return key.sign(m, pss, hashes.SHA256())

    def resign(self):
        self.sig = self.sign(self.message()) if self.sk else b""

    def bytes(self):
        return self.header() + b"".join(self.chunks) + self.sig

# ---------------------------------------------------------------- vector files


written = []


def vec(fname, data, expect, comment, identity="alice", trust=None, f=None):
    if isinstance(data, F):
        f, data = data, data.bytes()
    lines = [f"expect: {expect}", f"identity: {identity}.key"]
    if trust:
        lines.append(f"trust: {trust}.pub")
    if expect == "success":
        lines.append("payload: " + hashlib.sha256(f.pt).hexdigest())
        if f.meta_pt is not None:
            lines.append("metadata: " + hashlib.sha256(f.meta_pt).hexdigest())
    lines.append("comment: " + comment)
    with open(os.path.join(OUT, fname + ".vec"), "wb") as out:
        out.write("\n".join(lines).encode() + b"\n\n" + data)
    written.append((fname, expect, comment))


def main():
    make_keys()
    os.makedirs(OUT, exist_ok=True)
    for n in os.listdir(OUT):
        if n.endswith(".vec"):
            os.remove(os.path.join(OUT, n))
    meta = json.dumps({"PatientID": "VEC-0001", "Modality": "CT", "StudyDate": "20240131",
                       "Description": "Th\u00f6rax \u2014 test vector"}, ensure_ascii=False).encode()
    preview = png_1x1()
    ED, PSSK = "signer_ed25519", "signer_pss"
    other_ed = ed25519.Ed25519PrivateKey.from_private_bytes(H("other ed25519 signer"))

    # ---- success
    for cname, c in (("chacha", 1), ("aes", 2)):
        for size, label in ((0, "empty"), (1, "1"), (65535, "65535"), (65536, "65536"),
                            (65537, "65537"), (200000, "200000")):
            name = f"{cname}_{label}"
            vec(name, F(name, stream(name, size), cipher=c), "success",
                f"cipher {c}, {size}-byte plaintext, one recipient")
        name = f"{cname}_meta_preview"
        vec(name, F(name, stream(name, 1000), cipher=c, meta=meta, preview=preview), "success",
            f"cipher {c}, JSON metadata and a PNG preview")
    f = F("ok_meta_only", stream("m", 10), meta=meta)
    vec("ok_meta_only", f, "success", "metadata, no preview")
    f = F("ok_preview_only", stream("p", 10), cipher=2, preview=preview)
    vec("ok_preview_only", f, "success", "preview, no metadata")
    f = F("ok_three_recipients", stream("3", 70000), rcpts=("bob", "alice", "carol4096"))
    for who in ("alice", "bob", "carol4096"):
        vec(f"ok_three_recipients_{who}", f.bytes(), "success",
            f"wraps for bob, alice, carol4096 (RSA-4096); opened by {who}", identity=who, f=f)
    f = F("ok_unknown_wrap_types", stream("u", 100), rcpts=("bob",))
    f.wraps = [wrap_rec(0x7f, H("unknown"), b"xyz"), wrap_rec(2, fp("alice"), b"\x00" * 384),
               f.wraps[0], wrap("alice", f.fk)]
    vec("ok_unknown_wrap_types", f, "success",
        "wraps of unknown types 0x7f and 2 (one naming alice) are skipped; the type-1 wrap is used")
    f = F("ok_wraps_1024", stream("w", 100))
    f.wraps = [wrap_rec(0x7f, H("u", i), b"") for i in range(1023)] + f.wraps
    vec("ok_wraps_1024", f, "success", "wrap_count 1024 (the limit): 1023 unknown-type wraps, then alice's")
    big = b'{"pad":"' + b"a" * (1048576 - 10) + b'"}'
    assert len(big) == 1048576
    vec("ok_meta_1mib", F("ok_meta_1mib", b"x", meta=big), "success", "metadata plaintext of exactly 1 MiB")
    for name, signer, trust, c in (("ok_signed_ed25519_trusted", ED, ED, 1), ("ok_signed_ed25519_no_trust", ED, None, 2),
                                   ("ok_signed_pss_trusted", PSSK, PSSK, 2), ("ok_signed_pss4096_trusted", "carol4096", "carol4096", 1)):
        f = F(name, stream(name, 140000), cipher=c, signer=signer, meta=meta, preview=preview)
        vec(name, f, "success", f"signed by {signer} (sig_alg {f.sig_alg}), cipher {c}, 3 chunks"
            + (f", trust {trust}.pub" if trust else ", no trust set"), trust=trust)

    # ---- header failure
    good = F("hdr_base", stream("hdr", 3000))
    gb = good.bytes()
    vec("hdr_empty_file", b"", "header failure", "zero-length file")
    vec("hdr_prefix_only_v1", gb[:9], "header failure", "magic and version 1, nothing else")
    vec("hdr_bad_magic", flip(gb, 1), "header failure", "magic byte 1 flipped ('L' instead of 'M')")
    vec("hdr_magic_high_bit_stripped", b"\x09" + gb[1:], "header failure", "0x89 became 0x09")
    vec("hdr_magic_crlf_to_lf", gb[:5] + b"\n" + gb[7:], "header failure", "CR LF rewritten to LF")
    vec("hdr_truncated_in_wrap_count", gb[:10], "header failure", "cut inside wrap_count")
    vec("hdr_truncated_in_wraps", gb[:9 + 2 + 35 + 100], "header failure", "cut inside alice's wrap body")
    co = good.core_offset()
    vec("hdr_truncated_in_core", gb[:co + 20], "header failure", "cut inside file_id")
    vec("hdr_truncated_in_mac", gb[:len(good.header()) - 10], "header failure", "cut inside header_mac")
    f = F("hdr_dup_recipient", stream("d", 10))
    f.wraps.append(wrap("alice", f.fk))
    vec("hdr_dup_recipient", f, "header failure", "two type-1 wraps name alice (both valid)")
    f = F("hdr_dup_other_recipient", stream("d2", 10), rcpts=("bob", "alice"))
    f.wraps.append(wrap("bob", f.fk))
    vec("hdr_dup_other_recipient", f, "header failure", "two type-1 wraps name bob; alice's wrap is valid")
    f = F("hdr_dup_unknown_type", stream("d3", 10))
    f.wraps += [wrap_rec(0x7f, H("same"), b"a"), wrap_rec(0x7f, H("same"), b"b")]
    vec("hdr_dup_unknown_type", f, "header failure",
        "two wraps of unknown type 0x7f name the same recipient ([MC-WRAP-4] read literally)")
    f = F("hdr_wraps_1025", stream("w", 100))
    f.wraps = f.wraps + [wrap_rec(0x7f, H("u", i), b"") for i in range(1024)]
    vec("hdr_wraps_1025", f, "header failure", "wrap_count 1025, all 1025 wraps present, alice's first")
    f = F("nomatch_wrap_len_385", stream("l", 10))
    f.wraps[0] = wrap_rec(1, fp("alice"), b"\x00" + f.wraps[0][35:])
    vec("nomatch_wrap_len_385", f, "no match",
        "alice's wrap has a leading zero byte: wrap_len 385 != her modulus length 384 ([MC-WRAP-2], [MC-WRAP-5])")
    f = F("hdr_wrap_len_383", stream("l3", 10), rcpts=("alice",))
    f.wraps.append(wrap_rec(1, fp("bob"), b"\x01" * 383))
    vec("hdr_wrap_len_383", f, "header failure",
        "a type-1 wrap for bob of 383 bytes: no RSA key of 3072..8192 bits gives that ([MC-WRAP-2])")
    for name, ml in (("hdr_meta_len_5", 5), ("hdr_meta_len_15", 15)):
        f = F(name, stream(name, 10))
        f.meta = H("junk")[:ml]
        f.remac()
        vec(name, f, "header failure", f"meta_len {ml} (between 1 and 15), MAC valid")
    f = F("hdr_meta_over_1mib", b"x", meta=big[:-2] + b'a"}')
    vec("hdr_meta_over_1mib", f, "header failure",
        "metadata plaintext of 1 MiB + 1 (meta_len 1048593), correctly encrypted and MACed")
    f = F("hdr_preview_len_15", stream("p15", 10))
    f.preview = H("junk")[:15]
    f.remac()
    vec("hdr_preview_len_15", f, "header failure", "preview_len 15, MAC valid")
    f = F("hdr_preview_over_8mib", b"x")
    cut = f.header()[:-36]  # up to and excluding preview_len (preview empty) and header_mac
    vec("hdr_preview_over_8mib", cut + u32(8388609 + 16) + b"\x00" * 1024, "header failure",
        "preview_len 8388625 (limit + 1); file cut after 1 KiB of it")
    f = F("hdr_sigalg0_with_signer", stream("s0", 10))
    f.signer = spki(sk(ED))
    f.remac()
    vec("hdr_sigalg0_with_signer", f, "header failure", "sig_alg 0 with signer_len 44 (Ed25519 SPKI), MAC valid")
    for name, alg, key, why in (("hdr_sigalg1_rsa_signer", 1, PSSK, "sig_alg 1 (Ed25519) but signer is an RSA-3072 SPKI"),
                                ("hdr_sigalg2_ed25519_signer", 2, ED, "sig_alg 2 (RSA-PSS) but signer is an Ed25519 SPKI"),
                                ("hdr_sigalg2_rsa2048_signer", 2, "weak2048", "RSA-PSS signer of 2048 bits (< 3072)")):
        f = F(name, stream(name, 10), signer=key)
        f.sig_alg = alg
        f.remac()
        f.resign()
        vec(name, f, "header failure", why + "; MAC valid, signature made by that key")
    f = F("hdr_sigalg1_signer_len_0", stream("sl0", 10), signer=ED)
    f.signer = b""
    f.remac()
    vec("hdr_sigalg1_signer_len_0", f, "header failure", "sig_alg 1 with signer_len 0, MAC valid")
    f = F("hdr_signer_len_2049", stream("sl", 10), signer=ED)
    f.signer = f.signer + b"\x00" * (2049 - len(f.signer))
    f.remac()
    vec("hdr_signer_len_2049", f, "header failure", "sig_alg 1, signer_len 2049 (Ed25519 SPKI + zero padding)")
    f = F("hdr_signer_not_der", stream("sd", 10), signer=ED)
    f.signer = H("not a key") + H("x")[:12]
    f.remac()
    vec("hdr_signer_not_der", f, "header failure", "sig_alg 1, signer is 44 bytes that are not an SPKI")
    f = F("hdr_signer_long_form_len", stream("lf", 10), signer=ED)
    assert f.signer[0] == 0x30 and f.signer[1] < 0x80
    f.signer = b"\x30\x81" + f.signer[1:]  # the same SPKI with its outer length in long form (BER, not DER)
    f.remac()
    vec("hdr_signer_long_form_len", f, "header failure",
        "sig_alg 1, the Ed25519 SPKI with a long-form outer length: BER, not the DER [MC-CORE-4] asks for")
    f = F("hdr_truncated_core_cipher_3", stream("tc", 10))
    f.cipher = 3
    f.remac()
    vec("hdr_truncated_core_cipher_3", f.bytes()[:f.core_offset() + 20], "header failure",
        "cipher 3, cut inside file_id: the core's fixed part is read whole before its values (§9)")

    # ---- unsupported
    for name, attr, val, why in (("unsup_version_2", "version", 2, "version 2"),
                                 ("unsup_version_0", "version", 0, "version 0"),
                                 ("unsup_cipher_3", "cipher", 3, "cipher 3"),
                                 ("unsup_cipher_0", "cipher", 0, "cipher 0"),
                                 ("unsup_chunk_log2_17", "log2", 17, "chunk_log2 17"),
                                 ("unsup_chunk_log2_15", "log2", 15, "chunk_log2 15")):
        f = F(name, stream(name, 1000))
        setattr(f, attr, val)
        f.remac()
        vec(name, f, "unsupported", why + "; rest of the file valid, MAC recomputed")
    vec("unsup_version_2_prefix_only", MAGIC + b"\x02", "unsupported", "magic and version 2, nothing else")
    for name, alg in (("unsup_sig_alg_9", 9), ("unsup_sig_alg_3", 3)):
        f = F(name, stream(name, 1000), signer=ED)
        f.sig_alg = alg
        f.remac()
        f.resign()
        vec(name, f, "unsupported", f"sig_alg {alg} with an Ed25519 signer and a 64-byte Ed25519 signature")

    # ---- no match
    vec("nomatch_other_recipient_only", F("nm_bob", stream("nb", 100), rcpts=("bob",)), "no match",
        "only a wrap for bob; opened by alice")
    f = F("nm_blob", stream("blob", 100))
    f.wraps = []
    vec("nomatch_blob_zero_wraps", f, "no match", "blob: wrap_count 0")
    f = F("nm_corrupt_body", stream("cb", 100), rcpts=("bob", "alice"))
    f.wraps[1] = flip(f.wraps[1], 35 + 200)
    vec("nomatch_corrupt_wrap_body", f, "no match", "alice's wrap body has a flipped bit (OAEP fails)")
    f = F("nm_corrupt_recipient", stream("cr", 100))
    f.wraps[0] = flip(f.wraps[0], 10)
    vec("nomatch_corrupt_wrap_recipient", f, "no match", "alice's wrap names a fingerprint with a flipped bit")
    f = F("nm_named_bob", stream("nbb", 100))
    f.wraps = [wrap("alice", f.fk, named="bob")]
    vec("nomatch_alice_wrap_named_bob", f, "no match",
        "a valid OAEP of the file key to alice, but the wrap names bob ([MC-WRAP-5]: do not try other wraps)")
    f = F("nm_unknown_type", stream("ut", 100))
    f.wraps[0] = bytes([2]) + f.wraps[0][1:]
    vec("nomatch_unknown_type_names_alice", f, "no match",
        "alice's valid wrap with wrap_type 2 (unknown): must be skipped")
    f = F("nm_label", stream("lb", 100))
    f.wraps = [wrap("alice", f.fk, label=padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                    algorithm=hashes.SHA256(), label=None))]
    vec("nomatch_oaep_no_label", f, "no match", "wrap made with OAEP without the label")
    for n in (31, 33):
        f = F(f"nm_key{n}", stream("k", 100))
        f.wraps = [wrap("alice", (f.fk + b"\x00")[:n])]
        vec(f"nomatch_wrapped_key_{n}_bytes", f, "no match", f"wrap decrypts to {n} bytes")

    # ---- MAC failure
    def mac_case(name, alter, why, **kw):
        f = F(name, stream(name, 1000), meta=meta, preview=preview, **kw)
        alter(f)
        vec(name, f, "MAC failure", why)
    mac_case("mac_flip_file_id", lambda f: setattr(f, "file_id", flip(f.file_id)), "file_id bit flipped")
    mac_case("mac_cipher_1_to_2", lambda f: setattr(f, "cipher", 2), "cipher changed 1 -> 2 (parses)")
    mac_case("mac_cipher_2_to_1", lambda f: setattr(f, "cipher", 1), "cipher changed 2 -> 1 (parses)", cipher=2)
    mac_case("mac_flip_meta", lambda f: setattr(f, "meta", flip(f.meta)), "metadata ciphertext bit flipped")
    mac_case("mac_flip_preview", lambda f: setattr(f, "preview", flip(f.preview)), "preview ciphertext bit flipped")
    mac_case("mac_flip_header_mac", lambda f: setattr(f, "mac", flip(f.mac, 31, 7)), "header_mac last bit flipped")
    mac_case("mac_signer_replaced", lambda f: setattr(f, "signer", spki(other_ed)),
             "Ed25519 signer replaced by another valid Ed25519 SPKI, MAC not recomputed", signer=ED)
    other = F("mac_other_file", stream("other", 10))
    mac_case("mac_transplanted_wrap", lambda f: f.wraps.__setitem__(0, other.wraps[0]),
             "alice's wrap taken from another file (other file key)")
    mac_case("mac_wrap_random_key", lambda f: f.wraps.__setitem__(0, wrap("alice", H("random key"))),
             "alice's wrap carries a different 32-byte key")

    def bad_meta(f): f.meta = flip(f.meta); f.remac()
    mac_case("mac_meta_aead_fails_mac_ok", bad_meta, "metadata ciphertext flipped, header_mac recomputed ([MC-CORE-9])")

    def bad_prev(f): f.preview = flip(f.preview); f.remac()
    mac_case("mac_preview_aead_fails_mac_ok", bad_prev, "preview ciphertext flipped, header_mac recomputed ([MC-CORE-9])")

    def meta_wrong_key(f): f.meta = aead(f.cipher, f.key("preview")).encrypt(bytes(12), meta, None); f.remac()
    mac_case("mac_meta_under_k_preview", meta_wrong_key, "metadata encrypted under K_preview, header_mac valid")

    # ---- payload failure
    for cname, c in (("chacha", 1), ("aes", 2)):
        pt2 = stream("pay2" + cname, 65536 + 1000)          # 2 chunks: 65536 + 1000
        pt3 = stream("pay3" + cname, 2 * 65536 + 1000)      # 3 chunks

        def pay(name, alter, why, pt=pt2, parts=None, both=False):
            if c == 2 and not both:                          # structural cases: ChaCha20 only
                return
            f = F(name, pt, cipher=c, parts=parts)
            alter(f)
            vec(name, f, "payload failure", f"cipher {c}, {len(f.pt)}-byte plaintext: " + why)

        def setc(i, fn): return lambda f: f.chunks.__setitem__(i, fn(f))
        def nchunks(pt): return -(-len(pt) // CHUNK)
        p = f"pay_{cname}_"
        pay(p + "flip_first", setc(0, lambda f: flip(f.chunks[0])), "bit flipped in chunk 0 of 3", pt3, both=True)
        pay(p + "flip_middle", setc(1, lambda f: flip(f.chunks[1])), "bit flipped in chunk 1 of 3", pt3, both=True)
        pay(p + "flip_last", setc(2, lambda f: flip(f.chunks[2])), "bit flipped in chunk 2 of 3", pt3, both=True)
        pay(p + "flip_last_tag", setc(1, lambda f: flip(f.chunks[1], -1)), "bit flipped in the tag of the last chunk", both=True)
        pay(p + "drop_last_chunk", lambda f: f.chunks.pop(),
            "final chunk dropped (truncation at a chunk boundary)", both=True)
        pay(p + "all_flags_zero", lambda f: setattr(f, "chunks", [f.chunk(i, False, f.pt[i * CHUNK:(i + 1) * CHUNK])
            for i in range(nchunks(f.pt))]), "every chunk sealed with last flag 0", both=True)
        pay(p + "flag_on_first", setc(0, lambda f: f.chunk(0, True, f.pt[:CHUNK])),
            "chunk 0 (not last) sealed with last flag 1", both=True)
        pay(p + "empty_final_after_full", lambda f: None,
            "sealed as one full chunk (flag 0) + an empty final chunk (flag 1); all tags valid",
            pt=pt2[:CHUNK], parts=[pt2[:CHUNK], b""], both=True)
        pay(p + "drop_middle_chunk", lambda f: f.chunks.pop(1), "chunk 1 of 3 dropped", pt3)
        pay(p + "truncated_mid_chunk", setc(1, lambda f: f.chunks[1][:500]), "cut 500 bytes into the final chunk")
        pay(p + "truncated_mid_full_chunk", lambda f: setattr(f, "chunks", [f.chunks[0][:30000]]),
            "cut 30000 bytes into chunk 0 of 2")
        pay(p + "swap_chunks", lambda f: f.chunks.reverse(), "chunks 0 and 1 swapped")
        pay(p + "duplicate_chunk", lambda f: f.chunks.insert(1, f.chunks[0]), "chunk 0 duplicated")
        pay(p + "extra_chunk", lambda f: f.chunks.append(f.chunk(2, True, b"appended")),
            "a chunk (index 2, last flag) appended after the flagged final chunk")
        pay(p + "zero_chunks", lambda f: setattr(f, "chunks", []), "payload missing: file ends after header_mac")
        pay(p + "short_final_chunk", lambda f: f.chunks.append(b"\x00" * 5),
            "5 bytes after a full final chunk (final chunk < 16 bytes)", pt=pt2[:CHUNK])
        pay(p + "payload_15_bytes", setc(0, lambda f: f.chunks[0][:15]), "payload is 15 bytes", pt=b"")
    pay_ed = F("pay_signed_base", stream("ps", 70000), signer=ED)
    f = F("pay_signed_flip_chunk", stream("ps", 70000), signer=ED)
    f.chunks[1] = flip(f.chunks[1])
    vec("pay_signed_flip_chunk", f, "payload failure", "Ed25519-signed; chunk 1 flipped (payload checked before signature)", trust=ED)
    b = pay_ed.bytes()
    vec("pay_signed_sig_truncated", b[:-1], "payload failure",
        "Ed25519-signed, last byte of the signature cut: the held-back 64 bytes reach into the last chunk", trust=ED)
    vec("pay_signed_trailing_byte", b + b"\x00", "payload failure",
        "Ed25519-signed, one byte appended after the signature", trust=ED)
    vec("pay_signed_sig_missing", b[:-64], "payload failure",
        "Ed25519-signed, the 64-byte signature removed", trust=ED)
    f = F("pay_signed_zero_chunks", b"", signer=ED)
    f.chunks = []
    vec("pay_signed_zero_chunks", f, "payload failure", "Ed25519-signed, no chunks: only the signature follows the header")
    f = F("pay_pss_sig_truncated", stream("pp", 1000), signer=PSSK)
    vec("pay_pss_sig_truncated", f.bytes()[:-1], "payload failure", "RSA-PSS-signed, last signature byte cut")

    # ---- signature failure
    def sig(name, alter, why, signer=ED, trust=ED, c=1):
        f = F(name, stream(name, 70000), cipher=c, signer=signer)
        alter(f)
        vec(name, f, "signature failure", why, trust=trust)
    sig("sig_ed25519_flip", lambda f: setattr(f, "sig", flip(f.sig)), "Ed25519 signature bit flipped")
    sig("sig_pss_flip", lambda f: setattr(f, "sig", flip(f.sig)), "RSA-PSS signature bit flipped", signer=PSSK, trust=PSSK, c=2)
    sig("sig_ed25519_flip_no_trust", lambda f: setattr(f, "sig", flip(f.sig, 0)), "Ed25519 signature bit flipped, no trust set", trust=None)
    sig("sig_untrusted_signer", lambda f: None, "valid Ed25519 signature, trust is signer_pss.pub", trust=PSSK)
    f = F("sig_untrusted_signer_truncated", stream("ut", 70000), signer=ED)
    vec("sig_untrusted_signer_truncated", f.bytes()[:-100], "signature failure",
        "Ed25519-signed, 100 bytes cut, trust is signer_pss.pub: trust is decided before the payload [MC-SIG-4]",
        trust=PSSK)
    sig("sig_untrusted_signer_pss", lambda f: None, "valid RSA-PSS signature by signer_pss, trust is signer_ed25519.pub", signer=PSSK, trust=ED)
    sig("sig_other_header_digest", lambda f: setattr(f, "sig", f.sign(f.message(header_digest=H("other header")))),
        "Ed25519 signature over a different header_digest")
    sig("sig_header_digest_with_wraps", lambda f: setattr(f, "sig", f.sign(f.message(
        header_digest=hashlib.sha256(f.header()).digest()))), "signature over a header_digest that wrongly includes the wraps")
    sig("sig_wrong_n", lambda f: setattr(f, "sig", f.sign(f.message(n=len(f.chunks) + 1))), "signature over n + 1")
    sig("sig_other_ed25519_key", lambda f: setattr(f, "sig", f.sign(f.message(), key=other_ed)),
        "signed by another Ed25519 key than the one in signer", trust=None)
    sig("sig_pss_salt_20", lambda f: setattr(f, "sig", f.sign(f.message(), pss=padding.PSS(
        mgf=padding.MGF1(hashes.SHA256()), salt_length=20))), "RSA-PSS with salt length 20 instead of 32",
        signer=PSSK, trust=PSSK)
    sig("sig_pss_by_other_rsa_key", lambda f: setattr(f, "sig", f.sign(f.message(), key=sk("bob"))),
        "RSA-PSS signature by bob's key (same size) while signer is signer_pss", signer=PSSK, trust=None)
    f = F("sig_unsigned_with_trust", stream("ut", 1000))
    vec("sig_unsigned_with_trust", f, "signature failure", "unsigned file opened with a trust key", trust=ED)

    for fname, expect, comment in written:
        print(f"{fname + '.vec':44} {expect:18} {comment}")
    print(f"generate: wrote {len(written)} vectors to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
