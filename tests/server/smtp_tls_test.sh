#!/usr/bin/env bash
# smtp_tls_test.sh: the notice mail over TLS (docs/API.md §18, SECURITY.md §3.17) against a real
# medcryptd and Debian's python3-aiosmtpd on loopback, with a throwaway CA made here by openssl
# and a server certificate for 127.0.0.1 and localhost. medcryptd trusts that CA through
# --smtp-ca-file. Checked: STARTTLS (required with --smtp-starttls, and by the SMTP server, which
# refuses MAIL before it) delivers; smtps:// delivers; a certificate of another CA, and one of
# the right CA for another host name, are refused: no mail, the log says why, and the upload
# still succeeds; with --smtp-starttls and an SMTP server that does not offer STARTTLS, no mail
# goes in clear. A --smtp-ca-file that cannot be read, or one without --smtp-url, stops the start.
#
# usage: tests/server/smtp_tls_test.sh [path/to/medcrypt [path/to/medcryptd]]
# Ends with "smtp-tls: N passed, M failed".
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/e2e_setup.sh" "$@"
for tool in openssl curl cjpeg; do
	command -v $tool >/dev/null || { echo "smtp-tls: $tool missing (scripts/bootstrap installs it)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null ||
	{ echo "smtp-tls: python3-aiosmtpd missing (scripts/bootstrap installs it)" >&2; exit 1; }
trap 'smtp_stop; server_kill; rm -rf "$T"' EXIT

SMTP_PORT=$(free_port)
MAILDIR=$T/maildir
DOCA_MAIL="doctor.a@clinic.test"
PUBLIC_URL="https://medcrypt.clinic.test/"

as() { # as USER COMMAND...: medcrypt as USER
	local u=$1
	shift
	MEDCRYPT_HOME=$T/home-$u MEDCRYPT_PASSPHRASE=$(pw "$u") "$MEDCRYPT" "$@"
}
session_field() { # session_field USER FIELD: token or csrf from the CLI's session file
	/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]] or "")' \
		"$T/home-$1/session" "$2"
}

# ---- a throwaway CA, its server certificates, and another CA (all in $T) ----
# ca NAME: a self-signed CA; cert NAME CA SAN: a server certificate of CA for SAN
ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$1 test CA" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		-keyout "$1.key" -out "$1.crt" 2>/dev/null
}
cert() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" -keyout "$1.key" \
		-out "$1.csr" 2>/dev/null &&
		printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$3" >"$1.ext" &&
		openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 2 -extfile "$1.ext" \
			-out "$1.crt" 2>/dev/null
}
check "the clinic's CA" ca clinic
check "the SMTP server's certificate" cert smtp clinic "IP:127.0.0.1,DNS:localhost"
check "another CA" ca rogue
check "a certificate of another CA" cert rogue-smtp rogue "IP:127.0.0.1,DNS:localhost"
check "a certificate for another host" cert elsewhere clinic "DNS:mail.elsewhere.test"
check "the certificates verify" openssl verify -CAfile clinic.crt smtp.crt elsewhere.crt

# smtp_tls ARGS...: the SMTP server with aiosmtpd's TLS options (--tlscert/--tlskey: STARTTLS,
# which it then requires before MAIL; --smtpscert/--smtpskey: TLS from the first byte)
smtp_tls() {
	smtp_stop
	/usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" "$@" -c aiosmtpd.handlers.Mailbox "$MAILDIR" \
		>>"$T/smtp.log" 2>&1 &
	SMTP_PID=$!
	local i
	for i in $(seq 1 100); do
		/usr/bin/python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
			"$SMTP_PORT" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# medcryptd ARGS...: (re)starts the server with the mail settings ARGS
MAIL_ARGS=(--smtp-from medcrypt@clinic.test --smtp-min-interval 600 --public-url "$PUBLIC_URL")
medcryptd() {
	server_stop
	server_start "${MAIL_ARGS[@]}" "$@"
}
# log_since: the server log after the mark set by mark_log
mark_log() { LOG_MARK=$(wc -l <"$T/server.log"); }
log_since() { tail -n +$((LOG_MARK + 1)) "$T/server.log"; }
wait_log() { # wait_log PATTERN SECONDS: in the log since the mark
	local i
	for i in $(seq 1 $(($2 * 10))); do
		log_since | grep -q -- "$1" && return 0
		sleep 0.1
	done
	return 1
}
# send_one: the technician sends an image about pat to doctor A; the upload must succeed
send_one() {
	if as tech send "$IMAGE" --patient pat --to doca >.id 2>.err; then ok; else bad "send ($1): $(cat .err)"; fi
}

# ---- bad settings stop the start ----
for bad_args in "--smtp-url smtp://127.0.0.1:25 --smtp-from a@b.test --smtp-ca-file $T/missing.crt" \
	"--smtp-ca-file $T/clinic.crt"; do
	# shellcheck disable=SC2086
	if "$MEDCRYPTD" --data-dir "$T/never" --listen 127.0.0.1:1 $bad_args >/dev/null 2>"$T/bad.err"; then
		bad "medcryptd started with $bad_args"
	else
		[ $? = 2 ] && ok || bad "$bad_args: not a usage error"
		grep -q 'smtp' "$T/bad.err" && ok || bad "$bad_args: no reason given: $(cat "$T/bad.err")"
	fi
done
[ ! -e "$T/never" ] && ok || bad "a refused start made a data directory"

# ---- accounts (a first start without mail) ----
check "server starts" server_start
check "admin registers" env MEDCRYPT_ASSUME_YES=1 MEDCRYPT_HOME=$T/home-admin MEDCRYPT_PASSPHRASE="$(pw admin)" \
	"$MEDCRYPT" register "$INVITATION" --user admin --url "$URL" --fingerprint "$SERVER_FP"
declare -A role=([tech]=technician [doca]=doctor [pat]=patient)
for u in tech doca pat; do
	if as admin invite --role "${role[$u]}" >.code 2>.err; then ok; else bad "invite $u: $(cat .err)"; fi
	check "register $u" env MEDCRYPT_ASSUME_YES=1 MEDCRYPT_HOME=$T/home-$u MEDCRYPT_PASSPHRASE="$(pw $u)" \
		"$MEDCRYPT" register "$(cat .code)" --user $u --url "$URL"
done
check "pat appoints doctor A" as pat appoint doca
code=$(curl -sS --tlsv1.3 --cacert "$DATA/tls.crt" --resolve "localhost:$PORT:127.0.0.1" -X PATCH \
	-b "__Host-medcrypt=$(session_field admin token)" -H "X-CSRF-Token: $(session_field admin csrf)" \
	-H 'Content-Type: application/json' --data "{\"email\":\"$DOCA_MAIL\"}" -o /dev/null -w '%{http_code}' \
	"$URL/api/v1/users/doca")
[ "$code" = 200 ] && ok || bad "set doctor A's address: status $code"
/usr/bin/python3 -c 'import sys; sys.stdout.buffer.write(b"P5 8 8 255\n" + bytes(range(64)))' >scan.pgm
cjpeg scan.pgm >scan.jpg
IMAGE=$T/scan.jpg

# delivered DESCRIPTION: one more mail arrives, with the fixed sentence
delivered() {
	local want=$(($(mails) + 1))
	send_one "$1"
	wait_mails $want 15 && ok || bad "$1: no mail within 15 s: $(log_since | grep '"mail"' | tail -3)"
	local last
	last=$(ls -t "$MAILDIR/new" | head -1)
	grep -qF "You have a new item in medcrypt. Sign in to see it: $PUBLIC_URL" "$MAILDIR/new/$last" && ok ||
		bad "$1: the mail's body: $(cat "$MAILDIR/new/$last")"
	log_since | grep -q '"notice mail sent to user' && ok || bad "$1: no 'notice mail sent' in the log"
}
# refused DESCRIPTION REASON: no mail arrives, and every attempt is logged with REASON
refused() {
	local before
	before=$(mails)
	send_one "$1"
	wait_log '"notice mail to user [0-9]* failed after 3 attempts' 30 && ok ||
		bad "$1: no final failure in the log: $(log_since | grep '"mail"' | tail -3)"
	log_since | grep '"notice mail to user' | grep -qF -- "$2" && ok ||
		bad "$1: the log does not say '$2': $(log_since | grep '"mail"' | tail -3)"
	[ "$(mails)" = "$before" ] && ok || bad "$1: a mail was delivered"
}

# ---- STARTTLS, required on both sides, with the clinic's CA ----
check "SMTP server with STARTTLS" smtp_tls --tlscert smtp.crt --tlskey smtp.key
mark_log
check "medcryptd, STARTTLS required" medcryptd --smtp-url "smtp://127.0.0.1:$SMTP_PORT" --smtp-starttls \
	--smtp-ca-file "$T/clinic.crt"
delivered "STARTTLS"
# the same without --smtp-starttls: STARTTLS is offered, so it is used (the server requires it)
mark_log
check "medcryptd, STARTTLS when offered" medcryptd --smtp-url "smtp://127.0.0.1:$SMTP_PORT" \
	--smtp-ca-file "$T/clinic.crt"
delivered "STARTTLS when offered"

# ---- smtps:// ----
check "SMTP server with TLS from the first byte" smtp_tls --smtpscert smtp.crt --smtpskey smtp.key
mark_log
check "medcryptd, smtps" medcryptd --smtp-url "smtps://localhost:$SMTP_PORT" --smtp-ca-file "$T/clinic.crt"
delivered "smtps"

# ---- refused certificates: no mail, the reason in the log, the upload done ----
mark_log
check "medcryptd, smtps to 127.0.0.1" medcryptd --smtp-url "smtps://127.0.0.1:$SMTP_PORT" \
	--smtp-ca-file "$T/rogue.crt"
refused "smtps, a CA medcryptd does not trust" "SSL certificate problem"
check "SMTP server with another CA's certificate" smtp_tls --tlscert rogue-smtp.crt --tlskey rogue-smtp.key
mark_log
check "medcryptd, STARTTLS required" medcryptd --smtp-url "smtp://127.0.0.1:$SMTP_PORT" --smtp-starttls \
	--smtp-ca-file "$T/clinic.crt"
refused "STARTTLS, a certificate of another CA" "SSL certificate problem"
# without --smtp-ca-file the system's CAs do not know the throwaway CA either
mark_log
check "medcryptd, the system's CAs" medcryptd --smtp-url "smtp://127.0.0.1:$SMTP_PORT" --smtp-starttls
refused "STARTTLS, the system's CAs" "SSL certificate problem"
check "SMTP server with a certificate for another host" smtp_tls --tlscert elsewhere.crt --tlskey elsewhere.key
mark_log
check "medcryptd, STARTTLS required" medcryptd --smtp-url "smtp://127.0.0.1:$SMTP_PORT" --smtp-starttls \
	--smtp-ca-file "$T/clinic.crt"
refused "STARTTLS, a certificate for another host" "127.0.0.1"

# ---- STARTTLS required, the SMTP server does not offer it: nothing in clear ----
check "SMTP server without TLS" smtp_tls
mark_log
check "medcryptd, STARTTLS required" medcryptd --smtp-url "smtp://127.0.0.1:$SMTP_PORT" --smtp-starttls \
	--smtp-ca-file "$T/clinic.crt"
refused "no STARTTLS offered" "STARTTLS"
# and, for contrast, the default (STARTTLS when offered) does send in clear to such a relay
mark_log
check "medcryptd, STARTTLS when offered" medcryptd --smtp-url "smtp://127.0.0.1:$SMTP_PORT" \
	--smtp-ca-file "$T/clinic.crt"
delivered "a relay without STARTTLS, STARTTLS not required"

check "server stops cleanly" server_stop
if grep -q "Sanitizer\|runtime error" "$T/server.log"; then
	bad "sanitizer: $(grep -A20 'Sanitizer\|runtime error' "$T/server.log" | head -30)"
else ok; fi
summary smtp-tls
