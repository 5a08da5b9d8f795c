#!/usr/bin/python3
"""Independent medcrypt v1 reader, written from docs/FORMAT.md alone (python3-cryptography).

  spec_open.py --check-vectors DIR            run every DIR/*.vec against its `expect`
  spec_open.py VECTOR.vec                     run one vector
  spec_open.py FILE --identity KEY [--trust PUB] [-o OUT] [--meta-out F] [--preview-out F]
                                              open a container; plaintext to OUT or stdout
Exit status: 0 success, 1 usage/I-O error, 2 header failure, 3 unsupported, 4 no match,
5 MAC failure, 6 payload failure, 7 signature failure (and 1 for failed vectors).
"""
import argparse, functools, hashlib, hmac, os, sys
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"\x89MEDC\r\n\x1a"
WIRE = 65536 + 16
CLASSES = ["header failure", "unsupported", "no match", "MAC failure", "payload failure", "signature failure"]
HDR, UNSUP, NOMATCH, MAC, PAYLOAD, SIG = CLASSES
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=b"medcrypt/v1 wrap")
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


class Fail(Exception):
    def __init__(self, cls, why):
        super().__init__(f"{cls}: {why}")
        self.cls = cls


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise Fail(HDR, f"truncated at offset {self.pos} (need {n} bytes)")
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def int(self, n):
        return int.from_bytes(self.take(n), "big")


def spki(pub):
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def fp(pub):
    return hashlib.sha256(spki(pub)).digest()


def nbytes(rsa_key):                                                     # modulus length in bytes
    return (rsa_key.key_size + 7) // 8


def load_signer(sig_alg, der):
    try:
        key = serialization.load_der_public_key(der)
    except Exception:
        raise Fail(HDR, "signer is not a DER SubjectPublicKeyInfo")
    if spki(key) != der:
        raise Fail(HDR, "signer is not canonical DER")
    if sig_alg == 1 and not isinstance(key, ed25519.Ed25519PublicKey):
        raise Fail(HDR, "sig_alg 1 but signer is not Ed25519")
    if sig_alg == 2 and not (isinstance(key, rsa.RSAPublicKey) and 3072 <= key.key_size <= 8192):
        raise Fail(HDR, "sig_alg 2 but signer is not an RSA key of 3072-8192 bits")
    return key


def open_container(data, identity, trust=None):
    """Returns (plaintext, metadata or None, preview or None, signer fingerprint or None); raises Fail."""
    r = Reader(data)
    if r.take(8) != MAGIC:
        raise Fail(HDR, "bad magic")                                     # MC-PRE-1
    if r.int(1) != 1:
        raise Fail(UNSUP, "version is not 1")                            # MC-PRE-2
    prefix = data[:9]
    count = r.int(2)
    if count > 1024:
        raise Fail(HDR, f"wrap_count {count} > 1024")                   # MC-WRAP-1
    wraps, seen = [], set()
    for _ in range(count):
        wtype, recipient = r.int(1), r.take(32)
        body = r.take(r.int(2))
        if wtype == 1 and not 384 <= len(body) <= 1024:
            raise Fail(HDR, "RSA-OAEP wrap_len outside 384..1024")      # MC-WRAP-2
        if (wtype, recipient) in seen:
            raise Fail(HDR, "two wraps of one type name the same recipient")   # MC-WRAP-4
        seen.add((wtype, recipient))
        wraps.append((wtype, recipient, body))
    core_start = r.pos
    fixed = r.take(37)                      # §9: the fixed part whole, then its values
    cipher = fixed[0]
    if cipher not in (1, 2):
        raise Fail(UNSUP, f"cipher {cipher}")                            # MC-CORE-1
    if fixed[1] != 16:
        raise Fail(UNSUP, "chunk_log2 is not 16")                        # MC-CORE-2
    file_id = fixed[2:34]
    sig_alg = fixed[34]
    if sig_alg not in (0, 1, 2):
        raise Fail(UNSUP, f"sig_alg {sig_alg}")                          # MC-CORE-4
    signer_len = int.from_bytes(fixed[35:37], "big")
    if (sig_alg == 0 and signer_len != 0) or (sig_alg != 0 and not 1 <= signer_len <= 2048):
        raise Fail(HDR, f"signer_len {signer_len} with sig_alg {sig_alg}")
    signer = load_signer(sig_alg, r.take(signer_len)) if sig_alg else None
    fields = {}
    for name, limit in (("meta", 1 << 20), ("preview", 8 << 20)):      # MC-CORE-5, MC-CORE-6
        n = r.int(4)
        if n != 0 and not 16 <= n <= limit + 16:
            raise Fail(HDR, f"{name}_len {n}")
        fields[name] = r.take(n)
    mac_at = r.pos
    header_mac = r.take(32)

    me = identity.public_key()
    mine = [body for wtype, recipient, body in wraps if wtype == 1 and recipient == fp(me)]
    if not mine:
        raise Fail(NOMATCH, "no type-1 wrap names this key")             # MC-WRAP-5
    if len(mine[0]) != nbytes(me):
        raise Fail(NOMATCH, "wrap_len differs from the modulus length")  # MC-WRAP-2, MC-WRAP-5
    try:
        file_key = identity.decrypt(mine[0], OAEP)
    except Exception:
        raise Fail(NOMATCH, "OAEP decryption failed")
    if len(file_key) != 32:
        raise Fail(NOMATCH, f"wrapped key is {len(file_key)} bytes")

    def key(label):
        info = b"medcrypt/v1 " + label + bytes([cipher])
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=file_id, info=info).derive(file_key)
    aead = (ChaCha20Poly1305 if cipher == 1 else AESGCM)
    mac = hmac.new(key(b"header"), prefix + data[core_start:mac_at], "sha256").digest()
    if not hmac.compare_digest(mac, header_mac):
        raise Fail(MAC, "header_mac mismatch")                           # MC-CORE-8
    small = {}
    for name, label in (("meta", b"metadata"), ("preview", b"preview")):
        try:
            small[name] = aead(key(label)).decrypt(bytes(12), fields[name], None) if fields[name] else None
        except InvalidTag:
            raise Fail(MAC, f"{name} AEAD failed")                       # MC-CORE-9

    if trust is not None and (signer is None or fp(signer) != fp(trust)):   # MC-SIG-4: before the payload
        raise Fail(SIG, "signer is not trusted" if signer else "unsigned, but a trusted signer is required")

    sig_len = {0: 0, 1: 64, 2: nbytes(signer) if sig_alg == 2 else 0}[sig_alg]   # MC-PAY-3
    end = len(data) - sig_len
    if end <= r.pos:
        raise Fail(PAYLOAD, "payload missing")
    payload = data[r.pos:end]
    chunks = [payload[i:i + WIRE] for i in range(0, len(payload), WIRE)]
    n = len(chunks)
    if len(chunks[-1]) < 16 or n >= 1 << 32:
        raise Fail(PAYLOAD, "final chunk shorter than 16 bytes, or 2^32 chunks")   # MC-PAY-2, 6
    k_payload, out = aead(key(b"payload")), []
    for i, chunk in enumerate(chunks):
        try:
            out.append(k_payload.decrypt(i.to_bytes(11, "big") + bytes([i == n - 1]), chunk, None))
        except InvalidTag:
            raise Fail(PAYLOAD, f"chunk {i} of {n} did not verify")         # MC-PAY-4
    if n > 1 and not out[-1]:
        raise Fail(PAYLOAD, "empty final chunk after full chunks")       # MC-PAY-1

    signer_fp = None
    if sig_alg:
        header_digest = hashlib.sha256(prefix + data[core_start:mac_at + 32]).digest()
        payload_digest = hashlib.sha256(b"".join(hashlib.sha256(c).digest() for c in chunks)).digest()
        m = b"medcrypt/v1 signature\x00" + header_digest + n.to_bytes(8, "big") + payload_digest
        try:
            if sig_alg == 1:
                signer.verify(data[end:], m)
            else:
                signer.verify(data[end:], m, PSS, hashes.SHA256())
        except InvalidSignature:
            raise Fail(SIG, "signature did not verify")                  # MC-SIG-4
        signer_fp = fp(signer)
    return b"".join(out), small["meta"], small["preview"], signer_fp


def read(path):
    with open(path, "rb") as f:
        return f.read()


@functools.lru_cache(maxsize=None)
def load_private(path):
    return serialization.load_pem_private_key(read(path), password=None)


def load_public(path):
    return serialization.load_pem_public_key(read(path))


def run_vector(path):
    """Returns None if the vector gives its expected result, else a description of the mismatch."""
    head, _, data = read(path).partition(b"\n\n")
    kv = dict(line.split(": ", 1) for line in head.decode().split("\n"))
    keys = os.path.join(os.path.dirname(path), "keys")
    trust = load_public(os.path.join(keys, kv["trust"])) if "trust" in kv else None
    try:
        pt, meta, _, _ = open_container(data, load_private(os.path.join(keys, kv["identity"])), trust)
        got = "success"
    except Fail as e:
        got, why = e.cls, str(e)
    if got != kv["expect"]:
        return f"expected {kv['expect']}, got {got}" + ("" if got == "success" else f" ({why})")
    if got == "success":
        if hashlib.sha256(pt).hexdigest() != kv.get("payload"):
            return "payload hash differs"
        if (hashlib.sha256(meta).hexdigest() if meta is not None else None) != kv.get("metadata"):
            return "metadata hash differs (or metadata present/absent unexpectedly)"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", nargs="?")
    ap.add_argument("--check-vectors", metavar="DIR")
    ap.add_argument("--identity"); ap.add_argument("--trust")
    ap.add_argument("-o", "--output"); ap.add_argument("--meta-out"); ap.add_argument("--preview-out")
    a = ap.parse_args()
    if a.check_vectors or (a.file and not a.identity):
        paths = ([os.path.join(a.check_vectors, n) for n in sorted(os.listdir(a.check_vectors)) if n.endswith(".vec")]
                 if a.check_vectors else [a.file])
        failed = 0
        for p in paths:
            err = run_vector(p)
            if err:
                failed += 1
                print(f"FAIL {os.path.basename(p)}: {err}")
        print(f"spec_open: {len(paths) - failed} passed, {failed} failed")
        return 0 if failed == 0 and paths else 1
    if not a.file:
        ap.error("give a vector, --check-vectors DIR, or FILE --identity KEY")
    try:
        pt, meta, preview, signer_fp = open_container(read(a.file), load_private(a.identity),
                                                      load_public(a.trust) if a.trust else None)
    except Fail as e:
        print(f"spec_open: {e}", file=sys.stderr)
        return 2 + CLASSES.index(e.cls)
    for path, content in ((a.meta_out, meta), (a.preview_out, preview), (a.output, pt)):
        if path:                                  # write then rename: nothing visible before all checks
            with open(path + ".part", "wb") as f:
                f.write(content or b"")
            os.replace(path + ".part", path)
    if not a.output:
        sys.stdout.buffer.write(pt)
    print("spec_open: success" + (f", signer {signer_fp.hex()}" if signer_fp else ", unsigned"), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
