#!/usr/bin/python3
# account_vectors.py: computes the §13 vectors of tests/unit/test_account.c independently of
# the C code: Argon2id with the argon2 command-line tool (Debian package argon2), NFC with
# Python's unicodedata, HKDF-SHA-256 and AES-256-GCM with python3-cryptography. Prints C
# initialisers to paste into test_account.c.
import subprocess
import unicodedata
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SALT = b"medcrypt-salt-16"  # 16 bytes; printable because the argon2 tool takes it as an argument
T, M_LOG2, P = 3, 16, 1     # t = 3, m = 65536 KiB, p = 1: the defaults of docs/API.md §13


def argon2id(secret: bytes) -> bytes:
    out = subprocess.run(["argon2", SALT.decode(), "-id", "-t", str(T), "-m", str(M_LOG2), "-p", str(P),
                          "-l", "32", "-r"], input=secret, capture_output=True, check=True)
    return bytes.fromhex(out.stdout.decode().strip())


def hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"", info=info).derive(ikm)


def c_bytes(name, b):
    print(f"static const uint8_t {name}[{len(b)}] = {{" + ", ".join(f"0x{x:02x}" for x in b) + "};")


for label, pw in [("ascii", "correct horse battery staple"), ("nfc", "Cr\u00e8me br\u00fbl\u00e9e au caf\u00e9 noir")]:
    master = argon2id(unicodedata.normalize("NFC", pw).encode())
    c_bytes(f"{label}_auth", hkdf(master, b"medcrypt/v1 account auth"))
    c_bytes(f"{label}_wrap", hkdf(master, b"medcrypt/v1 account wrap"))

code = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567"
c_bytes("recovery_key", hkdf(argon2id(code.replace("-", "").upper().encode()), b"medcrypt/v1 recovery wrap"))

key = bytes(range(32))
nonce = bytes(range(100, 112))
bundle = b"\x00\x00\x00\x03abc\x00\x00\x00\x02de"
c_bytes("wrapped", nonce + AESGCM(key).encrypt(nonce, bundle, b"medcrypt/v1 keys"))
