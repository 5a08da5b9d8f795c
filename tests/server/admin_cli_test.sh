#!/usr/bin/env bash
# admin_cli_test.sh: `medcrypt admin` against a real medcryptd (issue 12, item 7; API.md §13,
# §16, §17). The admin lists every account (a hostile display name shown without its escape
# sequence), disables a user (who then cannot log in) and enables them (who can), changes a role,
# unlocks an account locked after failed logins (PATCH {"unlock": true}, audited as unlock),
# lists and cancels an invitation (whose code then registers no one), pages the audit log with
# --limit 2 (every record, in order, as one request would give them), and verifies it; a doctor
# is refused every admin subcommand (exit 11); unknown users, the admin's own account and bad
# arguments get their own errors. Every example of `medcrypt admin --help` and of the man page's
# admin entry runs here, against the server (doc_examples.sh has none to run them against). Last,
# one audit row altered in the database makes --verify exit 9, naming it.
#
# usage: tests/server/admin_cli_test.sh [path/to/medcrypt [path/to/medcryptd]]
# Ends with "admin_cli: N passed, M failed".
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/e2e_setup.sh" "$@"
for tool in sqlite3 curl; do
	command -v $tool >/dev/null || { echo "admin_cli: $tool missing (scripts/bootstrap installs it)" >&2; exit 1; }
done


check "server starts" server_start
check "admin registers" as admin register "$INVITATION" --user admin --url "$URL" --yes
declare -A role=([jdoe]=doctor [pat]=patient [mallory]=technician)
for u in jdoe pat mallory; do
	as admin invite --role "${role[$u]}" >.code 2>.err && ok || bad "invite $u: $(cat .err)"
	check "register $u" as $u register "$(cat .code)" --user $u --url "$URL"
done
# what a hostile server (or a database altered behind it) could send: an escape sequence and a
# right-to-left override in a display name
db "UPDATE users SET display_name = 'Mal' || char(27) || '[2J' || char(8238) || 'lory' WHERE username = 'mallory'"

# ---- users ----
check "admin users" as admin admin users
cp .out users.txt
expect_in users.txt "USER" "a table with a header"
for u in admin jdoe pat mallory; do
	grep -qE "^$u +[a-z]+ +active" users.txt && ok || bad "$u listed as active: $(cat users.txt)"
done
expect_in users.txt "4 accounts, 0 disabled, 0 locked" "a count"
as jdoe whoami --json >.out 2>.err
JDOE_FP=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["user"]["enc_fingerprint"])' .out) && ok ||
	bad "jdoe's fingerprint: $(cat .out .err)"
expect_in users.txt "    encryption $JDOE_FP" "jdoe's encryption fingerprint"
grep -q $'\e' users.txt && bad "an escape character reached the terminal" || ok
grep -q $'\u202e' users.txt && bad "a right-to-left override reached the terminal" || ok
expect_in users.txt "Mal?[2J?lory" "the hostile display name, neutralised"
check "admin users --json" as admin admin users --json
py 'import json,sys; u={x["username"]: x for x in json.load(open(sys.argv[1]))["users"]}
assert set(u) == {"admin","jdoe","pat","mallory"}, u
assert all(x["disabled"] is False and x["locked_until"] == 0 for x in u.values()), u
assert u["mallory"]["display_name"] == "Mal\x1b[2J\u202elory"
assert len(u["jdoe"]["enc_fingerprint"]) == 64' .out && ok || bad "users --json: $(head -c 600 .out)"
check "admin users --role patient" as admin admin users --role patient --json
py 'import json,sys; assert [x["username"] for x in json.load(open(sys.argv[1]))["users"]] == ["pat"]' .out && ok ||
	bad "--role patient: $(cat .out)"
expect_exit 2 "unknown role" as admin admin users --role king
expect_exit 2 "unknown option" as admin admin users --everyone
expect_exit 2 "unknown subcommand" as admin admin frobnicate
expect_exit 2 "no subcommand" as admin admin

# ---- a doctor is refused ----
expect_exit 11 "a doctor may not list every account" as jdoe admin users
expect_in .err "only an administrator may list every account" "the refusal says why"
expect_exit 11 "a doctor may not disable" as jdoe admin disable pat
expect_in .err "only an administrator may disable accounts" "the refusal says why"
expect_exit 11 "a doctor may not list invitations" as jdoe admin invitations
expect_in .err "only an administrator may list the invitations" "the refusal says why"
expect_exit 11 "a doctor may not read the audit log" as jdoe admin audit
expect_in .err "only an administrator may read the audit log" "the refusal says why"
expect_exit 11 "a doctor may not verify the audit log" as jdoe admin audit --verify
expect_exit 10 "not logged in" env MEDCRYPT_HOME=$T/home-nobody "$MEDCRYPT" admin users

# ---- disable, enable ----
check "disable pat" as admin admin disable pat
expect_in .out "pat: patient, disabled" "the new state"
expect_exit 10 "the disabled user's session ended" as pat whoami
expect_exit 3 "a disabled user cannot log in" as pat login
check "admin users --disabled" as admin admin users --disabled
grep -qE '^pat +patient +disabled' .out && ok || bad "--disabled lists pat: $(cat .out)"
not_in .out "jdoe" "--disabled lists only disabled accounts"
expect_in .out "1 account, 1 disabled" "the count"
check "enable pat" as admin admin enable pat --json
py 'import json,sys; u=json.load(open(sys.argv[1])); assert u["username"] == "pat" and u["disabled"] is False' .out &&
	ok || bad "enable --json: $(cat .out)"
check "an enabled user logs in" as pat login

# ---- role ----
check "role jdoe researcher" as admin admin role jdoe researcher
expect_in .out "jdoe: researcher, active" "the new role"
as admin admin users --role researcher --json >.out 2>.err
py 'import json,sys; assert [x["username"] for x in json.load(open(sys.argv[1]))["users"]] == ["jdoe"]' .out && ok ||
	bad "jdoe is a researcher: $(cat .out .err)"
check "role jdoe doctor" as admin admin role jdoe doctor
expect_exit 2 "role without a role" as admin admin role jdoe
expect_exit 2 "an unknown role" as admin admin role jdoe king
expect_exit 11 "an unknown user" as admin admin disable nobody
expect_in .err "there is no user nobody" "the unknown user is named"
expect_exit 11 "an unknown user's role" as admin admin role nobody doctor
expect_exit 15 "the admin's own account" as admin admin disable admin
expect_in .err "cannot change their own account" "the refusal says why"
expect_exit 2 "a hostile user name" as admin admin enable $'x\e[2Jy'
grep -q $'\e' .err && bad "the hostile name reached the terminal" || ok
expect_in .err "'x?[2Jy' is not a user name" "the name, neutralised"

# ---- unlock (PATCH {"unlock": true}) ----
# Five failed logins from this address would lock the address too (API.md §13), and every later
# login of this suite with it: the account's lockout is written as the server writes it.
db "INSERT OR REPLACE INTO throttle(key, failures, lockouts, locked_until) VALUES ('u:pat', 5, 1, strftime('%s','now') + 3600)"
expect_exit 12 "a locked account cannot log in" as pat login
check "admin users shows the lockout" as admin admin users --role patient
grep -qE '^pat +patient +locked until' .out && ok || bad "pat locked: $(cat .out)"
expect_in .out "1 locked" "the count"
as admin admin users --json >.out
py 'import json,sys,time; u={x["username"]: x for x in json.load(open(sys.argv[1]))["users"]}
assert u["pat"]["locked_until"] > time.time() + 3000 and u["jdoe"]["locked_until"] == 0, u["pat"]' .out && ok ||
	bad "locked_until in --json: $(head -c 400 .out)"
check "unlock pat" as admin admin unlock pat
expect_in .out "pat: patient, active" "unlocked"
[ "$(db "SELECT count(*) FROM throttle WHERE key = 'u:pat'")" = 0 ] && ok || bad "the lockout row is gone"
check "the unlocked user logs in" as pat login
check "unlock a user who is not locked" as admin admin unlock jdoe
expect_exit 11 "unlock an unknown user" as admin admin unlock nobody
expect_exit 11 "a doctor may not unlock" as jdoe admin unlock pat
# the server's own answers, beside the CLI's
CSRF=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["csrf"])' "$T/home-admin/session")
TOKEN=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$T/home-admin/session")
patch() {
	curl -sk --tlsv1.3 -o .body -w '%{http_code}' -X PATCH -H "Cookie: __Host-medcrypt=$TOKEN" \
		-H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/json' --data-binary "$2" "$URL/api/v1/users/$1"
}
[ "$(patch pat '{"unlock":false}')" = 400 ] && ok || bad "unlock: false is a bad request"
[ "$(patch pat '{"unlock":1}')" = 400 ] && ok || bad "unlock: 1 is a bad request"
[ "$(patch pat '{"unlock":true}')" = 200 ] && ok || bad "unlock: true"

# ---- invitations ----
as admin invite --role doctor >.code 2>.err && ok || bad "invite: $(cat .err)"
CODE=$(cat .code)
check "admin invitations" as admin admin invitations
expect_in .out "1 pending invitation" "one pending"
grep -qE '^[0-9a-f]{32} +doctor +.* admin$' .out && ok || bad "the invitation's line: $(cat .out)"
not_in .out "$CODE" "the code is never listed"
check "admin invitations --json" as admin admin invitations --json
INV_ID=$(py 'import json,sys; i=json.load(open(sys.argv[1]))["invitations"]; assert len(i) == 1 and i[0]["role"] == "doctor" and i[0]["created_by"] == "admin"; print(i[0]["id"])' .out) &&
	ok || bad "invitations --json: $(cat .out)"
check "cancel-invitation" as admin admin cancel-invitation "$INV_ID"
expect_in .out "cancelled invitation $INV_ID" "says what it did"
check "none pending" as admin admin invitations
expect_in .out "0 pending invitations" "the list is empty"
expect_exit 15 "the cancelled code registers no one" as newbie register "$CODE" --user newbie --url "$URL"
expect_exit 11 "cancelling again" as admin admin cancel-invitation "$INV_ID"
expect_in .err "no pending invitation $INV_ID" "says so"
expect_exit 2 "a code is not an id" as admin admin cancel-invitation "$CODE"
expect_exit 2 "cancel without an id" as admin admin cancel-invitation
expect_exit 11 "a doctor may not cancel" as jdoe admin cancel-invitation "$INV_ID"

# ---- audit: paged, in order, complete ----
check "audit --json (one request)" as admin admin audit --json
cp .out audit-all.ndjson
check "audit --json --limit 2 (a request per 2 records)" as admin admin audit --json --limit 2
cp .out audit-2.ndjson
same audit-all.ndjson audit-2.ndjson
N=$(db "SELECT count(*) FROM audit")
[ "$(wc -l <audit-2.ndjson)" = "$N" ] && ok || bad "every record: $(wc -l <audit-2.ndjson) of $N"
py 'import json,sys; s=[json.loads(l)["seq"] for l in open(sys.argv[1])]; assert s == list(range(1, len(s) + 1)), s' \
	audit-2.ndjson && ok || bad "seqs 1..N in order"
for action in register invite invite_cancel disable role_change unlock login_failed; do
	grep -q "\"action\":\"$action\"" audit-2.ndjson && ok || bad "the log has $action"
done
grep '"action":"unlock"' audit-2.ndjson | head -1 | grep -q '"failures":5' && ok ||
	bad "the unlock record says what it cleared: $(grep '"action":"unlock"' audit-2.ndjson | head -1)"
check "audit --after 3 --limit 2" as admin admin audit --after 3 --limit 2 --json
py 'import json,sys; s=[json.loads(l)["seq"] for l in open(sys.argv[1])]; assert s == list(range(4, int(sys.argv[2]) + 1)), s' \
	.out "$N" && ok || bad "--after 3: records 4..$N"
check "audit, one line per record" as admin admin audit --limit 3
[ "$(wc -l <.out)" = "$N" ] && ok || bad "$N lines: $(wc -l <.out)"
grep -qE '^ +[0-9]+ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z admin +[0-9.]+ +disable +pat +ok +\{"disabled":true\}$' .out &&
	ok || bad "a record's line: $(grep disable .out | head -1)"
grep -q $'\e' .out && bad "an escape character in the audit lines" || ok
expect_exit 2 "--limit 0" as admin admin audit --limit 0
expect_exit 2 "--limit over the server's cap" as admin admin audit --limit 10001
expect_exit 2 "--verify with --after" as admin admin audit --verify --after 3
check "audit --verify" as admin admin audit --verify
expect_in .out "the audit log verifies" "says so"

# ---- every example of `medcrypt admin --help` and of the man page's admin entry ----
# They name jdoe and the invitation 0123456789abcdef0123456789abcdef: make one with that id.
as admin invite --role patient >/dev/null 2>.err && ok || bad "invite for the examples: $(cat .err)"
db "UPDATE invitations SET id = '0123456789abcdef0123456789abcdef' WHERE used_by IS NULL AND id IS NOT NULL"
mkdir -p "$T/bin" && ln -sf "$MEDCRYPT" "$T/bin/medcrypt"
mapfile -t examples < <(
	"$MEDCRYPT" admin --help | sed -n '/^examples:/,$s/^  \(medcrypt admin .*\)/\1/p'
	sed -n '/^\.SS "Administration"/,/^\.S[SH] /{s/\\-/-/g;s/^\$ \(medcrypt admin .*\)/\1/p}' "$REPO/docs/medcrypt.1"
)
[ "${#examples[@]}" -ge 10 ] && ok || bad "examples found: ${#examples[@]}"
for example in "${examples[@]}"; do
	if PATH=$T/bin:$PATH MEDCRYPT_HOME=$T/home-admin bash -o pipefail -c "$example" >.out 2>.err </dev/null; then
		ok
	else
		bad "example '$example': $(head -c 300 .err)"
	fi
done

# ---- a tampered audit row ----
SEQ=5
db "UPDATE audit SET outcome = 'denied' WHERE seq = $SEQ"
expect_exit 9 "a tampered audit log does not verify" as admin admin audit --verify
expect_in .err "does NOT verify" "a clear message"
expect_in .err "seq $SEQ" "the first bad record is named"
as admin admin audit --verify --json >.out 2>/dev/null
py 'import json,sys; v=json.load(open(sys.argv[1])); assert v["ok"] is False and v["first_bad"] == 5, v' .out && ok ||
	bad "--verify --json: $(cat .out)"

server_stop
summary admin_cli
