#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/ (fuzz/README.md).

    fuzz/gen_corpus.py

fuzz_container: containers from tests/vectors/*.vec (the `key: value` head and the empty line
    after it stripped): every vector up to 40 KB and a few larger ones with several chunks or a
    valid signature; never the 1 MiB metadata vectors. They are sealed for alice, whose key the
    target embeds, so mutations start past the header MAC.
fuzz_keyfile: the key files of tests/vectors/keys/ and PEM variants made from them with the
    openssl CLI: two-key identities encrypted with FUZZ_PASSPHRASE at a low PBKDF2 iteration
    count (600,000 would make every execution slow), a wrong passphrase, PBES1 and scrypt, CRLF,
    PKCS#1, certificates, traditional and legacy-encrypted PEM, other key types, broken PEM.
fuzz_pubkey: DER SubjectPublicKeyInfos of the same keys and of other types, and fingerprints as
    hexadecimal text.

Files named crash-regress-* (inputs that once crashed a target) and found-* (inputs a fuzzing run
found that add coverage, merged in by hand: fuzz/README.md) are kept; everything else in the
corpus directories is replaced. RSA-PSS and EC keys and the certificates are generated afresh and
the encryption is salted, so a rerun changes those files, not what they cover.
"""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VECTORS = os.path.join(ROOT, "tests", "vectors")
KEYS = os.path.join(VECTORS, "keys")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")

FUZZ_PASSPHRASE = "medcrypt fuzz"  # the same as in fuzz_keyfile.c
SMALL_VECTOR = 40 * 1024
LARGE_VECTORS = [  # multi-chunk, signed or payload-edge cases worth their size
    "chacha_65537", "aes_65536", "ok_three_recipients_alice",
    "sig_untrusted_signer",        # valid Ed25519 signature (the target trusts both test signers)
    "sig_untrusted_signer_pss",    # valid RSA-PSS signature
    "sig_pss_flip", "pay_signed_trailing_byte", "pay_signed_sig_truncated",
    "pay_chacha_extra_chunk", "pay_chacha_empty_final_after_full", "pay_chacha_short_final_chunk",
    "pay_chacha_drop_last_chunk",
]
MAX_CONTAINER_CORPUS = 2 * 1024 * 1024


def openssl(*args, stdin=None):
    r = subprocess.run(["openssl", *args], input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit("openssl %s failed: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
    return r.stdout


def read(path):
    with open(path, "rb") as f:
        return f.read()


def reset(target):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        if not name.startswith(("crash-regress-", "found-")):
            os.remove(os.path.join(d, name))
    return d


def write(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def container_seeds():
    d = reset("fuzz_container")
    total = 0
    names = sorted(n for n in os.listdir(VECTORS) if n.endswith(".vec"))
    for n in names:
        base = n[:-4]
        raw = read(os.path.join(VECTORS, n))
        end = raw.find(b"\n\n")
        if end < 0:
            sys.exit("%s: no empty line after the head" % n)
        body = raw[end + 2:]
        if len(body) > SMALL_VECTOR and base not in LARGE_VECTORS:
            continue
        write(d, base + ".bin", body)
        total += len(body)
    # No vector has more than 8 chunks (one slot of lib/stream.c), so none starts the worker
    # threads or hands the held-back signature from one slot to the next: seal one that does,
    # with the sealer of tests/vectors/generate.py.
    sys.path.insert(0, VECTORS)
    sys.dont_write_bytecode = True
    try:
        import generate
        f = generate.F("fuzz_nine_chunks_signed", pt=generate.stream("fuzz", 8 * 65536 + 100),
                       cipher=2, signer="signer_ed25519")
        body = f.bytes()
        write(d, "gen_nine_chunks_signed.bin", body)
        total += len(body)
    except Exception as e:  # generate.py changed: go without this seed
        print("gen_corpus: cannot seal the 9-chunk seed with generate.py: %r" % e, file=sys.stderr)
    total = sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))  # found-* too
    missing = [v for v in LARGE_VECTORS if v + ".vec" not in names]
    if missing:
        print("gen_corpus: vectors not found (skipped): " + ", ".join(missing), file=sys.stderr)
    if total > MAX_CONTAINER_CORPUS:
        sys.exit("gen_corpus: the container corpus is %d bytes, over the 2 MiB budget" % total)
    print("fuzz_container: %d seeds, %d bytes" % (len(os.listdir(d)), total))


def keyfile_and_pubkey_seeds():
    k = reset("fuzz_keyfile")
    p = reset("fuzz_pubkey")
    key = lambda n: os.path.join(KEYS, n)
    with tempfile.TemporaryDirectory() as tmp:
        t = lambda n: os.path.join(tmp, n)

        def enc_pkcs8(src, *opts, passphrase=FUZZ_PASSPHRASE):
            return openssl("pkcs8", "-topk8", "-in", src, "-passout", "pass:" + passphrase, *opts)

        def pbes2(src, passphrase=FUZZ_PASSPHRASE):
            return enc_pkcs8(src, "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256", "-iter", "1000",
                             passphrase=passphrase)

        def pub_pem(src):
            return openssl("pkey", "-in", src, "-pubout")

        # Other key types, generated here.
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", t("ec.key"))
        openssl("genpkey", "-algorithm", "X25519", "-out", t("x25519.key"))
        openssl("genpkey", "-algorithm", "ED448", "-out", t("ed448.key"))
        openssl("genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:3072", "-out", t("rsapss.key"))

        # --- fuzz_keyfile: the test keys as they are ---
        for n in ["alice.key", "alice.pub", "carol4096.key", "carol4096.pub", "signer_ed25519.key",
                  "signer_ed25519.pub", "signer_pss.key", "signer_pss.pub", "weak2048.key", "weak2048.pub"]:
            write(k, n, read(key(n)))

        # Identities as mc_identity_save writes them (comment, then two encrypted PKCS#8 blocks).
        head = (b"medcrypt private identity: encryption key, then signing key.\n"
                b"Passphrase-encrypted PKCS#8 (PBES2); keep this file private.\n")
        alice_enc = pbes2(key("alice.key"))
        write(k, "identity_ed25519.key", head + alice_enc + pbes2(key("signer_ed25519.key")))
        write(k, "identity_pss.key", head + alice_enc + pbes2(key("signer_pss.key")))
        write(k, "identity_enc_only.key", alice_enc)
        write(k, "identity_plain.key", read(key("alice.key")) + read(key("signer_ed25519.key")))
        write(k, "identity_wrong_passphrase.key",
              pbes2(key("alice.key"), "not it") + pbes2(key("signer_ed25519.key"), "not it"))
        write(k, "identity_three_blocks.key",
              alice_enc + pbes2(key("signer_ed25519.key")) + read(key("signer_pss.key")))
        write(k, "identity_weak_enc.key", pbes2(key("weak2048.key")) + pbes2(key("signer_ed25519.key")))
        write(k, "identity_ec_signer.key", alice_enc + pbes2(t("ec.key")))
        write(k, "identity_pbes1_3des.key",
              enc_pkcs8(key("alice.key"), "-v1", "PBE-SHA1-3DES", "-iter", "1000") + read(key("signer_ed25519.key")))
        write(k, "identity_scrypt.key",
              enc_pkcs8(key("alice.key"), "-scrypt", "-scrypt_N", "16", "-scrypt_r", "8", "-scrypt_p", "1")
              + pbes2(key("signer_ed25519.key")))
        write(k, "identity_public_first.key", read(key("alice.pub")) + read(key("alice.key")))
        write(k, "alice_traditional.key", openssl("rsa", "-in", key("alice.key"), "-traditional"))
        write(k, "alice_traditional_aes.key",
              openssl("rsa", "-in", key("alice.key"), "-traditional", "-aes256", "-passout", "pass:" + FUZZ_PASSPHRASE))
        write(k, "ec.key", read(t("ec.key")))
        write(k, "rsapss.key", read(t("rsapss.key")))

        # Public identities and other public-key files.
        fp = lambda n: openssl("pkey", "-pubin", "-in", key(n), "-outform", "DER")
        pub = (b"# medcrypt public identity\n# name: alice\n# encryption: rsa-3072 "
               + b"0" * 64 + b"\n# signing: ed25519 " + b"f" * 64 + b"\n")
        write(k, "identity_ed25519.pub", pub + read(key("alice.pub")) + read(key("signer_ed25519.pub")))
        write(k, "identity_pss.pub", pub + read(key("alice.pub")) + read(key("signer_pss.pub")))
        write(k, "identity_crlf.pub",
              (pub + read(key("alice.pub")) + read(key("signer_ed25519.pub"))).replace(b"\n", b"\r\n"))
        write(k, "alice_pkcs1.pub", openssl("rsa", "-in", key("alice.key"), "-RSAPublicKey_out"))
        write(k, "alice_cert.pem", openssl("req", "-new", "-x509", "-key", key("alice.key"), "-subj", "/CN=alice",
                                           "-days", "36500", "-sha256"))
        write(k, "ed25519_cert.pem", openssl("req", "-new", "-x509", "-key", key("signer_ed25519.key"),
                                             "-subj", "/CN=signer", "-days", "36500"))
        write(k, "ec.pub", pub_pem(t("ec.key")))
        write(k, "x25519.pub", pub_pem(t("x25519.key")))
        write(k, "rsapss.pub", pub_pem(t("rsapss.key")))

        # PEM oddities.
        alice_pub = read(key("alice.pub"))
        lines = alice_pub.split(b"\n")
        write(k, "odd_no_end_line.pub", b"\n".join(lines[:-2]) + b"\n")
        write(k, "odd_one_line.pub", lines[0] + b"\n" + b"".join(lines[1:-2]) + b"\n" + lines[-2] + b"\n")
        write(k, "odd_mismatched_end.pub", alice_pub.replace(b"END PUBLIC KEY", b"END PRIVATE KEY"))
        write(k, "odd_bad_base64.pub", b"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n")
        write(k, "odd_empty_block.pub", b"-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n")
        write(k, "odd_garbage_around.pub", b"garbage\x00\xff\n" + alice_pub + b"trailing\n")
        write(k, "odd_unknown_block.pem", b"-----BEGIN MEDCRYPT THING-----\nAAAA\n-----END MEDCRYPT THING-----\n")
        write(k, "odd_empty", b"")

        # --- fuzz_pubkey: DER SubjectPublicKeyInfos, and fingerprints as text ---
        for n in ["alice.pub", "carol4096.pub", "signer_ed25519.pub", "signer_pss.pub", "weak2048.pub"]:
            write(p, n[:-4] + ".der", fp(n))
        for n in ["ec", "x25519", "ed448", "rsapss"]:
            write(p, n + ".der", openssl("pkey", "-in", t(n + ".key"), "-pubout", "-outform", "DER"))
        write(p, "alice_trailing_byte.der", fp("alice.pub") + b"\x00")
        write(p, "alice_pkcs1.der", openssl("rsa", "-in", key("alice.key"), "-RSAPublicKey_out", "-outform", "DER"))
        digest = openssl("dgst", "-sha256", "-r", stdin=fp("alice.pub")).split()[0]
        write(p, "fp_lower.txt", digest)
        write(p, "fp_upper.txt", digest.upper())
        write(p, "fp_short.txt", digest[:63])
        write(p, "fp_bad_digit.txt", digest[:10] + b"g" + digest[11:])

    for name, d in (("fuzz_keyfile", k), ("fuzz_pubkey", p)):
        print("%s: %d seeds, %d bytes" % (name, len(os.listdir(d)),
                                          sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))))


if __name__ == "__main__":
    container_seeds()
    keyfile_and_pubkey_seeds()
