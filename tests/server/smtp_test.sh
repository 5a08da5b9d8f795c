#!/usr/bin/env bash
# smtp_test.sh: the notice mail (docs/API.md §18, SECURITY.md §3.17) against a real medcryptd and
# a real SMTP server on loopback (Debian's python3-aiosmtpd, writing each mail into a Maildir).
# The admin sets doctor A's address (PATCH /api/v1/users/doca {"email"}: bad addresses 400, the
# audit record says "set", never the address, and other users never see it). A technician's
# `medcrypt send` of a DICOM to A gives exactly one mail within a few seconds, To A's address,
# Subject "New item in medcrypt", whose body is the fixed sentence with --public-url and carries
# no file name, patient name or id, sender, metadata value, nor "DICOM"/"PNG"; a second send
# within --smtp-min-interval gives no second mail; doctor B, without an address, gets none. With
# the SMTP server down a send still succeeds and the log says the mail failed. The SMTP password
# (from --smtp-password-file) is never in the log nor in `ps`. Bad mail settings stop the start.
#
# usage: tests/server/smtp_test.sh [path/to/medcrypt [path/to/medcryptd]]
# Ends with "smtp: N passed, M failed".
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/e2e_setup.sh" "$@"
for tool in img2dcm cjpeg curl; do
	command -v $tool >/dev/null || { echo "smtp: $tool missing (scripts/bootstrap installs it)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null ||
	{ echo "smtp: python3-aiosmtpd missing (scripts/bootstrap installs it)" >&2; exit 1; }
trap 'smtp_stop; server_kill; rm -rf "$T"' EXIT

SMTP_PORT=$(free_port)
MAILDIR=$T/maildir
PASSWORD="smtp-secret-Pelican-7719"
PUBLIC_URL="https://medcrypt.clinic.test/inbox"
DOCA_MAIL="doctor.a@clinic.test"
printf '%s\n' "$PASSWORD" >"$T/smtp.pw"
chmod 600 "$T/smtp.pw"

wait_log() { # wait_log PATTERN SECONDS
	local i
	for i in $(seq 1 $(($2 * 10))); do
		grep -q -- "$1" "$T/server.log" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
session_field() { # session_field USER FIELD: token or csrf from the CLI's session file
	/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]] or "")' \
		"$T/home-$1/session" "$2"
}
api_as() { # api_as USER METHOD PATH [CURL ARGS...]: prints the status; the body in $T/body
	local u=$1 method=$2 path=$3
	shift 3
	curl -sS --tlsv1.3 --cacert "$DATA/tls.crt" --resolve "localhost:$PORT:127.0.0.1" -X "$method" \
		-b "__Host-medcrypt=$(session_field "$u" token)" -H "X-CSRF-Token: $(session_field "$u" csrf)" \
		-o "$T/body" -w '%{http_code}' "$@" "$URL$path"
}
set_email() { # set_email USER JSON-VALUE: the admin's PATCH; prints the status
	api_as admin PATCH "/api/v1/users/$1" -H 'Content-Type: application/json' --data "{\"email\":$2}"
}

# ---- a fake DICOM with distinctive metadata (no real data) ----
/usr/bin/python3 -c '
import random, sys
random.seed(12)
sys.stdout.buffer.write(b"P5 32 32 255\n" + bytes(random.randrange(256) for _ in range(1024)))' >small.pgm
cjpeg small.pgm >small.jpg
PATIENT_NAME="Quokka^Millicent"
PATIENT_ID=PID-SMTP-8842
FILE_NAME=shoulder-of-millicent.dcm
check "img2dcm" img2dcm -k "PatientName=$PATIENT_NAME" -k PatientID=$PATIENT_ID -k StudyDate=20220918 \
	-k Modality=CT -k "StudyDescription=Right shoulder 71" small.jpg "$FILE_NAME"

# ---- bad mail settings stop the start ----
for bad_args in "--smtp-url http://127.0.0.1:25 --smtp-from a@b.test" \
	"--smtp-url smtp://127.0.0.1:25" \
	"--smtp-url smtp://127.0.0.1:25 --smtp-from not-an-address" \
	"--smtp-url smtp://user:pw@127.0.0.1:25 --smtp-from a@b.test" \
	"--smtp-from a@b.test" \
	"--smtp-url smtp://127.0.0.1:25 --smtp-from a@b.test --smtp-user u" \
	"--smtp-url smtp://127.0.0.1:25 --smtp-from a@b.test --public-url ftp://x"; do
	# shellcheck disable=SC2086
	if "$MEDCRYPTD" --data-dir "$T/never" --listen 127.0.0.1:1 $bad_args >/dev/null 2>"$T/bad.err"; then
		bad "medcryptd started with $bad_args"
	else
		[ $? = 2 ] && ok || bad "$bad_args: not a usage error"
	fi
done
[ ! -e "$T/never" ] && ok || bad "a refused start made a data directory"

# ---- servers and accounts ----
check "SMTP server starts" smtp_start
check "server starts" server_start --smtp-url "smtp://127.0.0.1:$SMTP_PORT" --smtp-from medcrypt@clinic.test \
	--smtp-user mailer --smtp-password-file "$T/smtp.pw" --smtp-min-interval 600 --public-url "$PUBLIC_URL"
check "admin registers" env MEDCRYPT_ASSUME_YES=1 MEDCRYPT_HOME=$T/home-admin MEDCRYPT_PASSPHRASE="$(pw admin)" \
	"$MEDCRYPT" register "$INVITATION" --user admin --url "$URL" --fingerprint "$SERVER_FP"
declare -A role=([tech]=technician [doca]=doctor [docb]=doctor [pat]=patient)
for u in tech doca docb pat; do
	if as admin invite --role "${role[$u]}" >.code 2>.err; then ok; else bad "invite $u: $(cat .err)"; fi
	check "register $u" env MEDCRYPT_ASSUME_YES=1 MEDCRYPT_HOME=$T/home-$u MEDCRYPT_PASSPHRASE="$(pw $u)" \
		"$MEDCRYPT" register "$(cat .code)" --user $u --url "$URL"
done
# every image names its patient, who appointed the doctors it goes to (API.md §15)
check "pat appoints doctor A" as pat appoint doca
check "pat appoints doctor B" as pat appoint docb

# ---- the address: set by the admin, validated, audited without the address, hidden ----
for v in '"no-at-sign"' '"a b@clinic.test"' '"x@clinic.test\r\nBcc: y@evil.test"' '"<x@clinic.test>"' '42' \
	'"x@-clinic.test"' '"x..y@clinic.test"'; do
	code=$(set_email doca "$v")
	[ "$code" = 400 ] && ok || bad "email $v: status $code, expected 400"
done
code=$(set_email doca "\"$DOCA_MAIL\"")
[ "$code" = 200 ] && ok || bad "set doctor A's address: status $code $(cat "$T/body")"
grep -qF "\"email\": \"$DOCA_MAIL\"" "$T/body" || grep -qF "\"email\":\"$DOCA_MAIL\"" "$T/body" && ok ||
	bad "the PATCH answer does not show the address: $(cat "$T/body")"
code=$(api_as admin GET /api/v1/users/docb)
[ "$code" = 200 ] && grep -q '"email": *null' "$T/body" && ok || bad "docb's email is not null for the admin: $(cat "$T/body")"
code=$(api_as tech GET /api/v1/users/doca)
[ "$code" = 200 ] && ok || bad "tech reads doca: $code"
if grep -q 'email\|clinic.test' "$T/body"; then bad "another user sees the address: $(cat "$T/body")"; else ok; fi
code=$(api_as admin GET /api/v1/users)
if grep -q 'email\|doctor.a@' "$T/body"; then bad "the listing shows addresses"; else ok; fi
code=$(api_as tech PATCH /api/v1/users/tech -H 'Content-Type: application/json' --data '{"email":"t@clinic.test"}')
[ "$code" = 403 ] && ok || bad "a technician sets an address: status $code, expected 403"
code=$(set_email admin '"admin@clinic.test"')
[ "$code" = 200 ] && ok || bad "the admin sets their own address: status $code"
code=$(set_email admin 'null')
[ "$code" = 200 ] && grep -q '"email": *null' "$T/body" && ok || bad "the admin clears their own address: $code $(cat "$T/body")"
if as admin admin audit >audit.out 2>.err; then ok; else bad "admin audit: $(cat .err)"; fi
grep -q 'email_change' audit.out && ok || bad "no email_change in the audit log: $(tail -5 audit.out)"
if grep -qF "$DOCA_MAIL" audit.out; then bad "the audit log holds the address"; else ok; fi
if "$MEDCRYPTD" audit export --data-dir "$DATA" | grep -qF "$DOCA_MAIL"; then bad "the exported audit log holds the address"; else ok; fi

# ---- one send: one mail, fixed text, no PHI ----
if as tech send "$FILE_NAME" --patient pat --to doca --to docb >.id 2>.err; then ok; else bad "send: $(cat .err)"; fi
wait_mails 1 10 && ok || bad "no mail within 10 s: $(tail -5 "$T/server.log")"
sleep 1.5 # room for a wrong second mail (to doctor B) to arrive
[ "$(mails)" = 1 ] && ok || bad "$(mails) mails after one send to A and B, expected 1 (B has no address)"
MAIL=$(find "$MAILDIR/new" -type f | head -1)
cp "$MAIL" mail1 2>/dev/null
grep -qi "^To: <$DOCA_MAIL>" mail1 && ok || bad "To is not doctor A's address: $(grep -i '^To:' mail1)"
grep -qi '^From: <medcrypt@clinic.test>' mail1 && ok || bad "From: $(grep -i '^From:' mail1)"
grep -qi '^Subject: New item in medcrypt' mail1 && ok || bad "Subject: $(grep -i '^Subject:' mail1)"
grep -qi '^Date: ' mail1 && ok || bad "no Date"
grep -qiE '^Message-ID: <[0-9a-f]{32}@clinic.test>' mail1 && ok || bad "Message-ID: $(grep -i '^Message-ID:' mail1)"
grep -qi '^Content-Type: text/plain; charset=UTF-8' mail1 && ok || bad "Content-Type: $(grep -i '^Content-Type:' mail1)"
grep -qF "You have a new item in medcrypt. Sign in to see it: $PUBLIC_URL" mail1 && ok || bad "body: $(cat mail1)"
grep -qi "^X-RcptTo: .*$DOCA_MAIL" mail1 && ok || bad "the envelope recipient is not doctor A: $(grep -i '^X-' mail1)"
for secret in "$FILE_NAME" shoulder Quokka Millicent "$PATIENT_ID" 20220918 "Right shoulder" CT tech DICOM PNG \
	JPEG docb "$PASSWORD" image; do
	if grep -qiwF -- "$secret" mail1; then bad "the mail carries '$secret'"; else ok; fi
done
# the body is the one sentence
body=$(awk 'f; /^\r?$/ {f=1}' mail1 | tr -d '\r' | grep -v '^$')
[ "$body" = "You have a new item in medcrypt. Sign in to see it: $PUBLIC_URL" ] && ok || bad "the body holds more: $body"
grep -q '"notice mail sent to user' "$T/server.log" && ok || bad "no 'notice mail sent' in the log"

# ---- a second send within the interval: no second mail ----
if as tech send "$FILE_NAME" --patient pat --to doca >.id 2>.err; then ok; else bad "second send: $(cat .err)"; fi
sleep 3
[ "$(mails)" = 1 ] && ok || bad "$(mails) mails after a second send within the interval, expected 1"

# ---- SMTP down: the send succeeds, the log says the mail failed ----
check "server stops" server_stop
smtp_stop
check "server restarts" server_start --smtp-url "smtp://127.0.0.1:$SMTP_PORT" --smtp-from medcrypt@clinic.test \
	--smtp-user mailer --smtp-password-file "$T/smtp.pw" --smtp-min-interval 600 --public-url "$PUBLIC_URL"
start=$SECONDS
if as tech send "$FILE_NAME" --patient pat --to doca >.id 2>.err; then ok; else bad "send with SMTP down: $(cat .err)"; fi
[ $((SECONDS - start)) -lt 10 ] && ok || bad "the send waited for the mail ($((SECONDS - start)) s)"
wait_log '"notice mail to user [0-9]* failed (attempt 1 of 3)' 10 && ok || bad "no failed attempt in the log"
wait_log '"notice mail to user [0-9]* failed after 3 attempts' 15 && ok || bad "no final failure in the log: $(grep '"mail"' "$T/server.log" | tail -3)"
[ "$(mails)" = 1 ] && ok || bad "a mail arrived with the SMTP server down"

# ---- the password: never in the log, never in ps ----
if grep -qF -- "$PASSWORD" "$T/server.log"; then bad "the SMTP password is in the log"; else ok; fi
if ps -eo args | grep -v grep | grep -qF -- "$PASSWORD"; then bad "the SMTP password is in ps"; else ok; fi
if tr '\0' ' ' <"/proc/$SERVER_PID/cmdline" | grep -qF -- "$PASSWORD"; then bad "the password is in argv"; else ok; fi
grep -q '"mail".*notice mails through smtp://127.0.0.1' "$T/server.log" && ok || bad "the start is not logged"
check "server stops cleanly" server_stop
if grep -q "Sanitizer\|runtime error" "$T/server.log"; then
	bad "sanitizer: $(grep -A20 'Sanitizer\|runtime error' "$T/server.log" | head -30)"
else ok; fi

summary smtp
