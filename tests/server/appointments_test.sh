#!/usr/bin/env bash
# appointments_test.sh: appointments against a real medcryptd (issue 12, item 2, first step;
# API.md §16a): a patient appoints a doctor, who is then listed for both (again: idempotent,
# 200 and no second audit record); a technician, an unknown user and a disabled doctor cannot be
# appointed (with the server's status and the CLI's exit code); a doctor, a technician and the
# admin cannot appoint (403); a request without the CSRF token is refused (403 csrf); a
# dismissal needs a fresh re-authentication, removes the appointment, and a second one is 404
# not_appointed (exit 11); dismiss asks for confirmation without --yes; the audit log has the
# appoint and dismiss records; the database's appointments table holds user ids and times only.
# Every example of the three commands' --help and of the man page's Appointments section runs
# here, against the server.
#
# usage: tests/server/appointments_test.sh [path/to/medcrypt [path/to/medcryptd]]
# Ends with "appointments: N passed, M failed".
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/e2e_setup.sh" "$@"
for tool in sqlite3 curl setsid; do
	command -v $tool >/dev/null || { echo "appointments: $tool missing (scripts/bootstrap installs it)" >&2; exit 1; }
done

# raw USER METHOD PATH [BODY] [--no-csrf]: a request with USER's session from the CLI's session
# file; the status in $STATUS, the body in .body
raw() {
	local u=$1 method=$2 path=$3 body=${4:-} csrf token
	csrf=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["csrf"])' "$T/home-$u/session")
	token=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$T/home-$u/session")
	[ "${5:-}" = --no-csrf ] && csrf=""
	STATUS=$(curl -sk --tlsv1.3 -o .body -w '%{http_code}' -X "$method" -H "Cookie: __Host-medcrypt=$token" \
		${csrf:+-H "X-CSRF-Token: $csrf"} -H 'Content-Type: application/json' ${body:+--data-binary "$body"} \
		"$URL$path")
}
expect_raw() { # expect_raw STATUS ERROR DESCRIPTION: the last raw answer
	local got
	got=$(py 'import json,sys; print(json.load(open(sys.argv[1])).get("error", ""))' .body 2>/dev/null)
	if [ "$STATUS" = "$1" ] && [ "$got" = "$2" ]; then ok; else bad "$3: $STATUS '$got', expected $1 '$2': $(head -c 300 .body)"; fi
}

check "server starts" server_start
check "admin registers" as admin register "$INVITATION" --user admin --url "$URL" --yes
declare -A role=([drhouse]=doctor [drwho]=doctor [droff]=doctor [tech]=technician [pat]=patient [pat2]=patient)
for u in drhouse drwho droff tech pat pat2; do
	as admin invite --role "${role[$u]}" >.code 2>.err && ok || bad "invite $u: $(cat .err)"
	check "register $u" as $u register "$(cat .code)" --user $u --url "$URL"
done
# a display name with an escape sequence, as a hostile server could send it
db "UPDATE users SET display_name = 'Dr' || char(27) || '[2J House' WHERE username = 'drhouse'"
check "disable droff" as admin admin disable droff

# ---- appoint ----
check "pat appoints drhouse" as pat appoint drhouse
expect_in .out "appointed drhouse" "says so"
grep -q $'\e' .out && bad "an escape character reached the terminal" || ok
expect_in .out "Dr?[2J House" "the display name, neutralised"
AUDIT_BEFORE=$(db "SELECT count(*) FROM audit WHERE action = 'appoint'")
check "appointing again is no error" as pat appoint drhouse --json
py 'import json,sys; a=json.load(open(sys.argv[1])); assert a["username"] == "drhouse" and a["new"] is False and a["since"] > 0, a' .out &&
	ok || bad "appoint again --json: $(cat .out)"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'appoint'")" = "$AUDIT_BEFORE" ] && ok ||
	bad "appointing again writes no second audit record"
raw pat POST /api/v1/appointments '{"doctor":"drhouse"}'
[ "$STATUS" = 200 ] && ok || bad "appointing again: 200, got $STATUS"
check "pat lists their doctors" as pat appointments
grep -qE '^drhouse +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{5} +Dr\?\[2J House$' .out && ok || bad "pat's list: $(cat .out)"
expect_in .out "1 appointed doctor" "the count"
check "drhouse lists their patients" as drhouse appointments --json
py 'import json,sys; a=json.load(open(sys.argv[1])); assert a["as"] == "doctor" and [x["username"] for x in a["appointments"]] == ["pat"], a' .out &&
	ok || bad "drhouse's list: $(cat .out)"
check "drwho has no patients" as drwho appointments
expect_in .out "0 patients" "an empty list"
check "pat2 has no doctors" as pat2 appointments --json
py 'import json,sys; a=json.load(open(sys.argv[1])); assert a == {"as": "patient", "appointments": []}, a' .out &&
	ok || bad "pat2's list: $(cat .out)"

# ---- refusals ----
expect_exit 15 "a technician cannot be appointed" as pat appoint tech
expect_in .err "tech is not a doctor" "the refusal says why"
raw pat POST /api/v1/appointments '{"doctor":"tech"}'
expect_raw 409 not_a_doctor "a technician: 409 not_a_doctor"
raw pat POST /api/v1/appointments '{"doctor":"pat2"}'
expect_raw 409 not_a_doctor "a patient: 409 not_a_doctor"
expect_exit 11 "an unknown user cannot be appointed" as pat appoint nobody
expect_in .err "there is no user nobody" "the refusal names the user"
raw pat POST /api/v1/appointments '{"doctor":"nobody"}'
expect_raw 404 not_found "an unknown user: 404"
expect_exit 11 "a disabled doctor cannot be appointed" as pat appoint droff
raw pat POST /api/v1/appointments '{"doctor":"droff"}'
expect_raw 404 not_found "a disabled doctor: 404, as an unknown user"
raw pat POST /api/v1/appointments '{"doctor":"Bad Name"}'
expect_raw 400 bad_request "an ill-formed name: 400"
raw pat POST /api/v1/appointments '{}'
expect_raw 400 bad_request "no doctor: 400"
expect_exit 2 "a hostile name is a usage error" as pat appoint $'x\e[2Jy'
grep -q $'\e' .err && bad "the hostile name reached the terminal" || ok
expect_exit 2 "appoint without a name" as pat appoint
expect_exit 11 "a doctor cannot appoint" as drwho appoint drhouse
expect_in .err "only a patient may appoint" "the refusal says why"
raw drwho POST /api/v1/appointments '{"doctor":"drhouse"}'
expect_raw 403 forbidden "a doctor: 403"
expect_exit 11 "a technician cannot appoint" as tech appoint drhouse
raw tech POST /api/v1/appointments '{"doctor":"drhouse"}'
expect_raw 403 forbidden "a technician: 403"
raw admin POST /api/v1/appointments '{"doctor":"drhouse"}'
expect_raw 403 forbidden "the admin cannot appoint: 403"
expect_exit 11 "a technician has no appointments" as tech appointments
expect_in .err "only patients and doctors have appointments" "the refusal says why"
raw admin GET /api/v1/appointments
expect_raw 403 forbidden "the admin lists none: 403 (the audit log is theirs)"
raw pat POST /api/v1/appointments '{"doctor":"drwho"}' --no-csrf
expect_raw 403 csrf "appoint without the CSRF token"
raw pat DELETE /api/v1/appointments/drhouse "" --no-csrf
expect_raw 403 csrf "dismiss without the CSRF token"
[ "$(db "SELECT count(*) FROM appointments")" = 1 ] && ok || bad "the refusals changed nothing"

# ---- dismiss ----
# the CLI's session is re-authenticated by every dismiss; a raw DELETE long after login is not
db "UPDATE sessions SET reauth_at = 0"
raw pat DELETE /api/v1/appointments/drhouse
expect_raw 401 reauth_required "a dismissal needs a fresh re-authentication"
raw drwho DELETE /api/v1/appointments/drhouse
expect_raw 403 forbidden "a doctor cannot dismiss: 403"
# without --yes, without MEDCRYPT_ASSUME_YES and without a terminal: nothing happens
MEDCRYPT_HOME=$T/home-pat MEDCRYPT_PASSPHRASE=$(pw pat) setsid -w "$MEDCRYPT" dismiss drhouse >.out 2>.err </dev/null
rc=$?
[ "$rc" = 1 ] && ok || bad "dismiss unconfirmed: exit $rc, expected 1: $(cat .err)"
expect_in .err "not confirmed" "says why"
[ "$(db "SELECT count(*) FROM appointments")" = 1 ] && ok || bad "an unconfirmed dismissal changed nothing"
check "pat dismisses drhouse" env MEDCRYPT_HOME=$T/home-pat MEDCRYPT_PASSPHRASE="$(pw pat)" "$MEDCRYPT" dismiss drhouse --yes
expect_in .out "dismissed drhouse" "says so"
expect_in .out "no longer download" "says what dismissal takes away"
expect_in .err "already downloaded stays with them" "says what dismissal cannot take back"
check "pat has no doctors" as pat appointments
expect_in .out "0 appointed doctors" "the list is empty"
check "drhouse has no patients" as drhouse appointments --json
py 'import json,sys; assert json.load(open(sys.argv[1]))["appointments"] == []' .out && ok || bad "drhouse's list: $(cat .out)"
expect_exit 11 "dismissing again" as pat dismiss drhouse --yes
expect_in .err "drhouse is not one of your appointed doctors" "a clear error"
expect_exit 11 "dismissing a doctor never appointed" as pat dismiss drwho
expect_exit 11 "dismissing an unknown user" as pat dismiss nobody
raw pat DELETE /api/v1/appointments/drwho
expect_raw 404 not_appointed "a doctor never appointed: 404 not_appointed"
expect_exit 11 "a doctor cannot dismiss" as drwho dismiss drhouse --yes

# ---- the audit log and the database ----
check "pat appoints drwho (--json)" as pat appoint drwho --json
py 'import json,sys; a=json.load(open(sys.argv[1])); assert a["username"] == "drwho" and a["new"] is True, a' .out &&
	ok || bad "appoint --json: $(cat .out)"
check "admin audit --json" as admin admin audit --json
py 'import json,sys
r=[json.loads(l) for l in open(sys.argv[1])]
a=[(x["actor"], x["object"], x["outcome"]) for x in r if x["action"] == "appoint"]
d=[(x["actor"], x["object"], x["outcome"]) for x in r if x["action"] == "dismiss"]
assert a == [("pat", "drhouse", "ok"), ("pat", "drwho", "ok")], a
assert d == [("pat", "drhouse", "ok")], d' .out && ok || bad "appoint and dismiss in the audit log: $(grep -E 'appoint|dismiss' .out)"
check "the audit log verifies" as admin admin audit --verify
[ "$(db "SELECT group_concat(name || ':' || type, ',') FROM pragma_table_info('appointments')")" = \
	"patient_id:INTEGER,doctor_id:INTEGER,created:INTEGER" ] && ok ||
	bad "the table's columns: $(db "SELECT group_concat(name || ':' || type, ',') FROM pragma_table_info('appointments')")"
[ "$(db "SELECT count(*) FROM appointments a JOIN users p ON p.id = a.patient_id JOIN users d ON d.id = a.doctor_id WHERE p.username = 'pat' AND d.username = 'drwho'")" = 1 ] &&
	ok || bad "the row is a pair of user ids"
db ".dump appointments" >dump.sql
for name in pat drwho drhouse "Dr"; do
	grep -qF "'$name" dump.sql && bad "the appointments table holds a name ($name): $(cat dump.sql)" || ok
done

# ---- every example of the commands' --help and of the man page's Appointments section ----
mkdir -p "$T/bin" && ln -sf "$MEDCRYPT" "$T/bin/medcrypt"
mapfile -t examples < <(
	for cmd in appoint appointments dismiss; do
		"$MEDCRYPT" $cmd --help | sed -n '/^examples:/,$s/^  \(medcrypt .*\)/\1/p'
	done
	sed -n '/^\.SS "Appointments"/,/^\.S[SH] /{s/\\-/-/g;s/^\$ \(medcrypt .*\)/\1/p}' "$REPO/docs/medcrypt.1"
)
[ "${#examples[@]}" -ge 8 ] && ok || bad "examples found: ${#examples[@]}"
for example in "${examples[@]}"; do
	if PATH=$T/bin:$PATH MEDCRYPT_HOME=$T/home-pat MEDCRYPT_PASSPHRASE=$(pw pat) bash -o pipefail -c "$example" \
		>.out 2>.err </dev/null; then
		ok
	else
		bad "example '$example': $(head -c 300 .err)"
	fi
done

server_stop
if grep -q "Sanitizer\|runtime error" "$T/server.log"; then
	bad "the server's sanitizer report: $(grep -A5 'Sanitizer\|runtime error' "$T/server.log" | head -20)"
fi
summary appointments
