#!/usr/bin/env bash
# cli_test.sh: drives the medcrypt command as a user would: keys, sealing and opening at the
# chunk boundaries and at 100 MB through pipes, several recipients, certificates, signatures,
# sharing, every refusal with its exit status and no output left behind, and the two checks
# that the spec is the truth: `openssl pkeyutl` unwraps a wrap, and the independent Python
# reader (tests/vectors/spec_open.py) opens what medcrypt sealed.
# usage: cli_test.sh PATH/TO/medcrypt [quick]
MEDCRYPT=$(realpath "${1:?usage: cli_test.sh MEDCRYPT [quick]}")
QUICK=${2:-}
source "$(dirname "$0")/lib.sh"
M=$MEDCRYPT
export MEDCRYPT_PASSPHRASE="test passphrase, not a secret"

# --- keys
check "keygen alice" $M keygen -o alice
check "keygen bob (rsa-pss, 4096)" $M keygen -o bob --rsa-bits 4096 --sign rsa-pss
exec 3<<<"fd passphrase"
check "keygen with --passphrase-fd" env -u MEDCRYPT_PASSPHRASE $M keygen -o carol --passphrase-fd 3
exec 3<&-
[ "$(stat -c %a alice.key)" = 600 ] && ok || bad "alice.key is not 0600"
expect_exit 1 "keygen refuses to overwrite" $M keygen -o alice
check "openssl reads the private key" openssl pkey -in alice.key -passin env:MEDCRYPT_PASSPHRASE -noout
expect_exit 1 "openssl with a wrong passphrase" env MEDCRYPT_PASSPHRASE=wrong openssl pkey -in alice.key -passin env:MEDCRYPT_PASSPHRASE -noout
fp_keygen=$($M keygen -o dave --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["encryption_fingerprint"])')
fp_print=$($M fingerprint --json dave.pub | $PY -c 'import json,sys; print(json.load(sys.stdin)["encryption_fingerprint"])')
[ -n "$fp_keygen" ] && [ "$fp_keygen" = "$fp_print" ] && ok || bad "fingerprint differs from keygen's"
fp_openssl=$(openssl pkey -pubin -in <(awk '/BEGIN PUBLIC KEY/{n++} n==1' dave.pub | sed '/END PUBLIC KEY/q') -outform DER | sha256sum | cut -c1-64)
[ "$fp_openssl" = "$fp_print" ] && ok || bad "fingerprint is not SHA-256 of the SPKI"

# --- the passphrase typed at a terminal (script(1) gives the command a pseudo-terminal)
(sleep 1; echo "typed passphrase"; sleep 1; echo "typed passphrase") |
	env -u MEDCRYPT_PASSPHRASE script -qec "$M keygen -o tty" /dev/null >tty.log 2>&1
[ -s tty.key ] && grep -q "Repeat the passphrase" tty.log && ok || bad "keygen asks twice on the terminal"
(sleep 1; echo "one"; sleep 1; echo "another") |
	env -u MEDCRYPT_PASSPHRASE script -qec "$M keygen -o tty2" /dev/null >tty2.log 2>&1
[ ! -e tty2.key ] && grep -q "differ" tty2.log && ok || bad "keygen refuses two different passphrases"
expect_exit 2 "no terminal, no passphrase" env -u MEDCRYPT_PASSPHRASE setsid $M keygen -o notty </dev/null
no_output notty.key

# --- round trips at the chunk boundaries, both ciphers
for cipher in chacha20 aes; do
	for size in 0 1 65535 65536 65537 200000; do
		head -c $size /dev/urandom >"p$size"
		check "seal $cipher $size" $M seal -r alice.pub --cipher $cipher -o "s$size.$cipher" "p$size"
		check "open $cipher $size" $M open -k alice.key -o "o$size.$cipher" "s$size.$cipher"
		same "p$size" "o$size.$cipher"
	done
done
$M inspect --json s200000.aes >insp.json
$PY - insp.json <<'PY' && ok || bad "inspect --json"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["cipher"] == "aes-256-gcm" and j["plaintext_bytes"] == 200000 and j["chunks"] == 4, j
assert len(j["recipients"]) == 1 and j["signature"] == "none", j
PY

# --- 100 MB through pipes (stdin to stdout, both ways)
if [ -z "$QUICK" ]; then
	head -c 100000000 /dev/urandom >big
	want=$(sha256sum <big | cut -c1-64)
	for cipher in chacha20 aes; do
		got=$($M seal -r alice.pub --cipher $cipher --sign alice.key -o - - <big | $M open -k alice.key --trust alice.pub -o - - | sha256sum | cut -c1-64)
		[ "$got" = "$want" ] && ok || bad "100 MB pipe round trip ($cipher)"
	done
	rm -f big
fi

# --- several recipients, signatures, trust
echo '{"PatientID":"TEST-0042","Modality":"MR"}' >meta.json
check "seal for three, signed" $M seal -r alice.pub -r bob.pub -r carol.pub --sign alice.key --meta meta.json -o multi.mc p200000
for who in alice bob; do
	check "$who opens" $M open -k $who.key --trust alice.pub -o "multi.$who" multi.mc
	same p200000 "multi.$who"
done
exec 3<<<"fd passphrase"
check "carol opens with --passphrase-fd" env -u MEDCRYPT_PASSPHRASE $M open -k carol.key --passphrase-fd 3 --meta-out carol.meta -o multi.carol multi.mc
exec 3<&-
$PY -c 'import json,sys; assert json.load(open("carol.meta"))["PatientID"]=="TEST-0042"' && ok || bad "metadata round trip"
expect_exit 3 "wrong passphrase" env MEDCRYPT_PASSPHRASE=nope $M open -k bob.key -o wrongpass multi.mc
no_output wrongpass
expect_exit 9 "untrusted signer" $M open -k bob.key --trust bob.pub -o untrusted multi.mc
no_output untrusted
$M open -k bob.key -o signer-report multi.mc 2>report.txt && grep -q "did not --trust" report.txt && ok || bad "unknown signer is reported"
check "verify without a key" $M verify --trust alice.pub multi.mc
check "verify with a key" $M verify -k bob.key multi.mc
expect_exit 9 "verify an unsigned file" $M verify s1.aes
expect_exit 6 "dave has no wrap" $M open -k dave.key -o dave.out multi.mc
no_output dave.out
$M inspect -k bob.key multi.mc | grep -q TEST-0042 && ok || bad "inspect -k shows metadata"

# --- trust is decided before any plaintext is released, even to stdout
$M open -k bob.key --trust bob.pub -o - multi.mc >untrusted.stdout 2>/dev/null
[ $? = 9 ] && [ ! -s untrusted.stdout ] && ok || bad "an untrusted signer's plaintext reached stdout"
$M open -k alice.key --trust alice.pub -o - s65537.aes >unsigned.stdout 2>/dev/null
[ $? = 9 ] && [ ! -s unsigned.stdout ] && ok || bad "an unsigned file's plaintext reached stdout under --trust"
expect_exit 9 "verify -k of an unsigned file" $M verify -k alice.key s1.aes

# --- a key file that asks for two billion PBKDF2 iterations is refused at once
expect_exit 3 "absurd PBKDF2 iteration count" timeout 30 env MEDCRYPT_PASSPHRASE=xyzxyzxyzxyz $M open -k "$REPO/tests/data/pbkdf2-2g-iterations.key" -o absurd.out s1.aes
no_output absurd.out

# --- the signing key is unlocked while the payload is sealed: a wrong passphrase or a key
# file whose clear public half was swapped still fails, with no output
grep -q "BEGIN PUBLIC KEY" alice.key && ok || bad "the key file names its public keys"
expect_exit 3 "signing with a wrong passphrase" env MEDCRYPT_PASSPHRASE=wrong $M seal -r bob.pub --sign alice.key -o wrongsign.mc p200000
no_output wrongsign.mc
{ awk '/BEGIN PUBLIC KEY/{exit} {print}' alice.key
  awk '/BEGIN PUBLIC KEY/{n++} n>=1' alice.key | awk '/BEGIN PUBLIC KEY/{n++} n==1'
  awk '/BEGIN PUBLIC KEY/{n++} n==2' bob.pub; } >swapped.key
chmod 600 swapped.key
expect_exit 3 "a key file with a swapped public half" $M seal -r bob.pub --sign swapped.key -o swapped.mc p200000
no_output swapped.mc

# --- a weak passphrase is refused for a new key
expect_exit 2 "weak passphrase" env MEDCRYPT_PASSPHRASE=password1234 $M keygen -o weak
no_output weak.key

# --- a killed open leaves no temporary plaintext behind
mkfifo slow.fifo
(head -c 150000 multi.mc; sleep 20) >slow.fifo &
feeder=$!
$M open -k bob.key -o killed.out slow.fifo 2>/dev/null &
victim=$!
for _ in $(seq 50); do compgen -G "killed.out.part-*" >/dev/null && break; sleep 0.1; done
compgen -G "killed.out.part-*" >/dev/null && ok || bad "open did not start writing"
kill -TERM $victim
wait $victim 2>/dev/null
no_output killed.out
kill $feeder 2>/dev/null
wait $feeder 2>/dev/null

# --- refusals, each with its exit status and no output
expect_exit 3 "RSA-2048 recipient refused" $M seal -r "$VEC/keys/weak2048.pub" -o weak.mc p1
grep -q "3072" "$T/.err" && ok || bad "the refusal says why"
no_output weak.mc
expect_exit 2 "no recipient" $M seal -o x.mc p1
expect_exit 2 "unknown cipher" $M seal -r alice.pub --cipher des -o x.mc p1
echo '[1,2]' >notobj.json
expect_exit 2 "metadata must be an object" $M seal -r alice.pub --meta notobj.json -o x.mc p1
no_output x.mc
expect_exit 4 "not a medcrypt file" $M open -k alice.key -o notmc.out p200000
no_output notmc.out
expect_exit 1 "no overwrite without --force" $M open -k alice.key -o p1 s1.aes
same p1 o1.aes
check "overwrite with --force" $M open -k alice.key --force -o o1.aes s1.aes
expect_exit 2 "unknown command" $M frobnicate
for c in keygen seal open inspect verify share unshare fingerprint; do
	check "$c --help" $M $c --help
done

# --- tampering through the CLI: the class's exit status and no output
hl=$($M inspect --json multi.mc | $PY -c 'import json,sys; print(json.load(sys.stdin)["header_bytes"])')
size=$(stat -c %s multi.mc)
tamper() { # tamper NAME OFFSET EXPECTED_EXIT
	cp multi.mc "t-$1"
	flip "t-$1" "$2"
	expect_exit "$3" "tampered $1" $M open -k bob.key -o "t-$1.out" "t-$1"
	no_output "t-$1.out"
}
tamper magic 0 4
tamper version 8 5
tamper file_id $((9 + 2 + 3 * 35 + 384 + 512 + 384 + 10)) 7
tamper header_mac $((hl - 1)) 7
tamper first_chunk $((hl + 3)) 8
tamper middle_chunk $((hl + 65552 + 7)) 8
tamper last_chunk $((size - 64 - 5)) 8
tamper signature $((size - 3)) 9
head -c $((hl + 2 * 65552)) multi.mc >t-trunc
tail -c 64 multi.mc >>t-trunc
expect_exit 8 "truncated at a chunk boundary" $M open -k bob.key -o t-trunc.out t-trunc
no_output t-trunc.out
head -c $((size - 1000)) multi.mc >t-cut
expect_exit 8 "truncated mid-chunk" $M open -k bob.key -o t-cut.out t-cut
cp multi.mc t-app && printf 'x' >>t-app
expect_exit 8 "appended byte" $M open -k bob.key -o t-app.out t-app
no_output t-app.out
cp multi.mc t-verify && flip t-verify $((hl + 100))
expect_exit 9 "verify notices a changed chunk without a key" $M verify t-verify

# --- share and unshare: wraps only
check "share to dave" $M share -k bob.key -r dave.pub -o shared.mc multi.mc
check "dave opens the shared file" $M open -k dave.key --trust alice.pub -o shared.dave shared.mc
same p200000 shared.dave
cmp -s <(tail -c $((size - hl)) multi.mc) <(tail -c $((size - hl)) shared.mc) && ok || bad "share re-encrypted the payload"
expect_exit 6 "share needs access" $M share -k dave.key -r bob.pub -o nope.mc multi.mc
no_output nope.mc
check "unshare alice" $M unshare -r alice.pub -o unshared.mc shared.mc
expect_exit 6 "alice is gone" $M open -k alice.key -o gone.out unshared.mc
check "bob still opens" $M open -k bob.key -o still.out unshared.mc
fp_dave=$($M fingerprint --json dave.pub | $PY -c 'import json,sys; print(json.load(sys.stdin)["encryption_fingerprint"])')
check "unshare by fingerprint" $M unshare --fingerprint "$fp_dave" -o unshared2.mc unshared.mc
check "seal for one" $M seal -r alice.pub -o one.mc p1
expect_exit 2 "last recipient kept" $M unshare -r alice.pub -o none.mc one.mc
no_output none.mc

# --- recipients as a bare RSA key, a PKCS#1 key and an X.509 certificate
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out hosp.key 2>/dev/null
openssl pkey -in hosp.key -pubout -out hosp-spki.pem
openssl rsa -in hosp.key -RSAPublicKey_out -out hosp-pkcs1.pem 2>/dev/null
openssl req -x509 -new -key hosp.key -subj "/CN=Test Hospital Radiology" -days 30 -out hosp-cert.pem 2>/dev/null
for r in hosp-spki.pem hosp-pkcs1.pem hosp-cert.pem; do
	check "seal to $r" $M seal -r "$r" -o "$r.mc" p65537
	check "open $r with the bare key" $M open -k hosp.key -o "$r.out" "$r.mc"
	same p65537 "$r.out"
done

# --- several inputs into a directory: the signing passphrase is read once
mkdir outdir
for i in 1 2 3 4 5; do head -c $((i * 1000)) /dev/urandom >"many$i.txt"; done
exec 3<<<"test passphrase, not a secret"
check "seal five files, one passphrase read" env -u MEDCRYPT_PASSPHRASE $M seal -r bob.pub --sign alice.key --passphrase-fd 3 -o outdir many1.txt many2.txt many3.txt many4.txt many5.txt
exec 3<&-
for i in 1 2 3 4 5; do
	check "open many$i" $M open -k bob.key --trust alice.pub -o "many$i.out" "outdir/many$i.txt.medcrypt"
	same "many$i.txt" "many$i.out"
done

# --- check 1: openssl pkeyutl unwraps medcrypt's wrap, and the key checks the header MAC
cp "$VEC/keys/alice.key" va.key
cp "$VEC/keys/alice.pub" va.pub
check "seal for the vector key" $M seal -r va.pub --cipher aes --sign "$VEC/keys/signer_ed25519.key" --meta meta.json -o spec.mc p200000
dd if=spec.mc of=wrap.bin bs=1 skip=46 count=384 status=none
label=$(printf 'medcrypt/v1 wrap' | xxd -p)
if openssl pkeyutl -decrypt -inkey va.key -in wrap.bin -out filekey.bin -pkeyopt rsa_padding_mode:oaep \
	-pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -pkeyopt "rsa_oaep_label:$label"; then ok; else bad "openssl pkeyutl unwrap"; fi
[ "$(stat -c %s filekey.bin 2>/dev/null)" = 32 ] && ok || bad "the unwrapped file key is not 32 bytes"
hl=$($M inspect --json spec.mc | $PY -c 'import json,sys; print(json.load(sys.stdin)["header_bytes"])')
core=$((9 + 2 + 35 + 384))
file_id=$(dd if=spec.mc bs=1 skip=$((core + 2)) count=32 status=none | xxd -p -c 64)
info=$(printf 'medcrypt/v1 header\x02' | xxd -p -c 64)
k_header=$(openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt "hexkey:$(xxd -p -c 64 filekey.bin)" \
	-kdfopt "hexsalt:$file_id" -kdfopt "hexinfo:$info" HKDF | tr -d ':' | tr 'A-F' 'a-f')
{ head -c 9 spec.mc; dd if=spec.mc bs=1 skip=$core count=$((hl - core - 32)) status=none; } >mac_input.bin
mac=$(openssl mac -digest SHA256 -macopt "hexkey:$k_header" -in mac_input.bin HMAC | tr 'A-F' 'a-f')
stored=$(dd if=spec.mc bs=1 skip=$((hl - 32)) count=32 status=none | xxd -p -c 64)
[ -n "$mac" ] && [ "$mac" = "$stored" ] && ok || bad "openssl HKDF+HMAC does not reproduce the header MAC"

# --- check 2: the independent Python reader opens what medcrypt sealed
for c in chacha20 aes; do
	check "seal for spec_open ($c)" $M seal -r va.pub --cipher $c --sign "$VEC/keys/signer_ed25519.key" -o "py.$c" p200000
	check "spec_open.py opens it ($c)" $PY "$VEC/spec_open.py" "py.$c" --identity va.key --trust "$VEC/keys/signer_ed25519.pub" -o "py.$c.out"
	same p200000 "py.$c.out"
done
# 40 chunks: two full batches of the 16-lane chunk hashing (lib/hash/sha256_many.c, on a CPU
# with AVX-512) and a short last chunk. The Python reader hashes each chunk with hashlib; and a
# file hashed one way verifies and opens when medcrypt hashes the other way.
head -c 2600000 /dev/urandom >p2600000
for c in chacha20 aes; do
	check "seal 40 chunks for spec_open ($c)" $M seal -r va.pub --cipher $c --sign "$VEC/keys/signer_ed25519.key" -o "py40.$c" p2600000
	check "spec_open.py opens 40 chunks ($c)" $PY "$VEC/spec_open.py" "py40.$c" --identity va.key --trust "$VEC/keys/signer_ed25519.pub" -o "py40.$c.out"
	same p2600000 "py40.$c.out"
	check "verify, chunks hashed by OpenSSL one by one ($c)" env MEDCRYPT_SHA256_MANY=openssl $M verify "py40.$c"
	check "seal 40 chunks, hashed by OpenSSL one by one ($c)" env MEDCRYPT_SHA256_MANY=openssl $M seal -r va.pub --cipher $c --sign "$VEC/keys/signer_ed25519.key" -o "py40o.$c" p2600000
	check "open it, chunks hashed together ($c)" $M open -k va.key --trust "$VEC/keys/signer_ed25519.pub" -o "py40o.$c.out" "py40o.$c"
	same p2600000 "py40o.$c.out"
done
cp py40.aes py40.bad && flip py40.bad $(($(stat -c %s py40.aes) - 64 - 65552 * 20))
expect_exit 9 "a bit flipped in chunk 20 of 40 breaks the signature" $M verify py40.bad
check "seal empty for spec_open" $M seal -r va.pub -o py0.mc p0
check "spec_open.py: empty plaintext" $PY "$VEC/spec_open.py" py0.mc --identity va.key -o py0.out
same p0 py0.out
check "spec_open.py checks every vector" $PY "$VEC/spec_open.py" --check-vectors "$VEC"

summary cli
