#!/usr/bin/env bash
# messages_test.sh: sealed messages against a real medcryptd (issue 12, item 5; API.md §16b):
# a doctor and a technician write each other in one thread; a patient writes the doctor they
# appointed, but not another doctor (403 may_not_message, exit 11); a technician cannot write a
# patient; a third user cannot fetch someone else's message (404); read flags, --unread and
# threads; the recipient's event stream gets a `message` notice; the database and the blob store
# hold no message text; a message altered in the database is refused by `medcrypt read` with
# the MAC or signature exit code; the audit log has `message` records without text. Every
# example of the commands' --help and of the man page's Messages section runs here.
#
# usage: tests/server/messages_test.sh [path/to/medcrypt [path/to/medcryptd]]
# Ends with "messages: N passed, M failed".
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/e2e_setup.sh" "$@"
for tool in sqlite3 curl; do
	command -v $tool >/dev/null || { echo "messages: $tool missing (scripts/bootstrap installs it)" >&2; exit 1; }
done

# raw USER METHOD PATH: a request with USER's session; the status in $STATUS, the body in .body
raw() {
	local u=$1 method=$2 path=$3 csrf token
	csrf=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["csrf"])' "$T/home-$u/session")
	token=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$T/home-$u/session")
	STATUS=$(curl -sk --tlsv1.3 -o .body -w '%{http_code}' -X "$method" -H "Cookie: __Host-medcrypt=$token" \
		-H "X-CSRF-Token: $csrf" "$URL$path")
}
json_field() { py 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }

check "server starts" server_start
check "admin registers" as admin register "$INVITATION" --user admin --url "$URL" --yes
declare -A role=([drhouse]=doctor [drwho]=doctor [tech]=technician [pat]=patient [eve]=technician)
for u in drhouse drwho tech pat eve; do
	as admin invite --role "${role[$u]}" >.code 2>.err && ok || bad "invite $u: $(cat .err)"
	check "register $u" as $u register "$(cat .code)" --user $u --url "$URL"
done
check "pat appoints drhouse" as pat appoint drhouse

# the recipient's event stream, open before the first message
token=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$T/home-drhouse/session")
: >events.s
curl -sS -N --tlsv1.3 -k -b "__Host-medcrypt=$token" -o events.s "$URL/api/v1/events" 2>/dev/null &
EVENTS_PID=$!
for i in $(seq 1 100); do grep -q '^retry: ' events.s && break; sleep 0.05; done

T1="Troponin rising quokka-7731, please review"
T2="Reviewed: admit to cardiology wombat-5512"
T3="My chest hurts again platypus-9921"
# ---- doctor <-> technician, one thread ----
check "tech writes drhouse" as tech msg drhouse "$T1"
M1=$(tail -n1 .out)
[[ $M1 =~ ^[0-9a-f]{32}$ ]] && ok || bad "msg prints the id: $(cat .out)"
for i in $(seq 1 100); do grep -qF "$M1" events.s && break; sleep 0.05; done
grep -q "^event: message" events.s && grep -qF "\"id\":\"$M1\"" events.s && ok || bad "drhouse's stream got no message event: $(cat events.s)"
grep -qF quokka events.s && bad "the event carries text" || ok
kill $EVENTS_PID 2>/dev/null
wait $EVENTS_PID 2>/dev/null

check "drhouse's inbox" as drhouse inbox
grep -qE "^$M1  .* from tech +unread +Troponin rising quokka-7731" .out && ok || bad "inbox line: $(cat .out)"
expect_in .out "1 message, 1 unread" "the count"
check "drhouse --unread --json" as drhouse inbox --unread --json
py 'import json,sys; a=json.load(open(sys.argv[1]))["messages"]; assert len(a)==1 and a[0]["text"]==sys.argv[2] and a[0]["read_at"] is None, a' .out "$T1" &&
	ok || bad "inbox --unread --json: $(cat .out)"
check "drhouse reads it" as drhouse read "$M1"
expect_in .out "$T1" "the text"
expect_in .out "from:   tech" "the sender"
expect_in .err "good signature by tech" "the signature"
check "now read" as drhouse inbox --unread --json
py 'import json,sys; assert json.load(open(sys.argv[1]))["messages"]==[]' .out && ok || bad "still unread: $(cat .out)"
check "drhouse replies" as drhouse msg tech "$T2" --reply "$M1"
M2=$(tail -n1 .out)
check "tech reads the reply" as tech read "$M2" --json
py 'import json,sys; m=json.load(open(sys.argv[1])); assert m["text"]==sys.argv[2] and m["thread"]==sys.argv[3] and m["in_reply_to"]==sys.argv[3] and m["from"]=="drhouse", m' .out "$T2" "$M1" &&
	ok || bad "the reply: $(cat .out)"
check "the thread" as tech inbox --thread "$M1" --json
py 'import json,sys; a=json.load(open(sys.argv[1]))["messages"]; assert [m["id"] for m in a]==[sys.argv[2], sys.argv[3]], a' .out "$M2" "$M1" &&
	ok || bad "thread listing (newest first): $(cat .out)"
raw tech GET "/api/v1/messages?limit=1"
[ "$STATUS" = 200 ] && py 'import json,sys; a=json.load(open(sys.argv[1]))["messages"]; assert len(a)==1 and a[0]["id"]==sys.argv[2]' .body "$M2" && ok || bad "limit: $STATUS $(cat .body)"
raw tech GET "/api/v1/messages?before=$M2"
py 'import json,sys; a=json.load(open(sys.argv[1]))["messages"]; assert [m["id"] for m in a]==[sys.argv[2]]' .body "$M1" && ok || bad "before: $(cat .body)"
check "drwho writes drhouse (doctor to doctor)" as drwho msg drhouse "colleague note"
# a reply into a thread of other users is refused
expect_exit 11 "a reply into someone else's thread" as drwho msg drhouse "x" --reply "$M1"

# ---- patient and doctors ----
check "pat writes the appointed doctor" as pat msg drhouse "$T3"
M3=$(tail -n1 .out)
check "drhouse reads pat" as drhouse read "$M3"
expect_in .out "$T3" "the patient's text"
check "drhouse answers pat" as drhouse msg pat "Come in tomorrow"
expect_exit 11 "pat writes a doctor not appointed" as pat msg drwho "hello"
expect_in .err "may not message" "the reason"
raw pat POST "/api/v1/messages?to=drwho"
[ "$STATUS" = 403 ] || [ "$STATUS" = 400 ] && ok || bad "raw send to drwho: $STATUS"
expect_exit 11 "tech writes a patient" as tech msg pat "hello"
expect_exit 11 "drwho writes pat (no appointment)" as drwho msg pat "hello"
expect_exit 2 "a message to oneself" as tech msg tech "hello"
expect_exit 11 "an unknown user" as tech msg nobody "hello"

# ---- others' messages ----
raw eve GET "/api/v1/messages/$M1"
[ "$STATUS" = 404 ] && ok || bad "eve fetches M1: $STATUS"
expect_exit 11 "eve cannot read M1" as eve read "$M1"
raw eve POST "/api/v1/messages/$M1/read"
[ "$STATUS" = 404 ] && ok || bad "eve marks M1 read: $STATUS"
raw tech POST "/api/v1/messages/$M1/read"
[ "$STATUS" = 403 ] && ok || bad "the sender marks M1 read: $STATUS"
raw admin GET "/api/v1/messages"
[ "$STATUS" = 403 ] && ok || bad "admin lists messages: $STATUS"
check "eve's inbox is empty" as eve inbox --json
py 'import json,sys; assert json.load(open(sys.argv[1]))["messages"]==[]' .out && ok || bad "eve sees: $(cat .out)"

# ---- a message signed with another user's key is refused before it is stored ----
# eve may write drhouse (technician and doctor); she seals a message for the two of them but signs
# it with tech's key, as if tech had written it: the server wants the sender's own signature.
printf '{"text":"forged by eve"}' >forged.json
for signer in tech eve; do
	MEDCRYPT_PASSPHRASE=$(pw $signer) "$MEDCRYPT" seal -r "$T/home-eve/keys/eve.pub" -r "$T/home-drhouse/keys/drhouse.pub" \
		--sign "$T/home-$signer/keys/$signer.key" --force -o "signed-by-$signer.mc" forged.json >/dev/null 2>.err ||
		bad "seal signed by $signer: $(cat .err)"
	py 'import base64,json,sys; print(json.dumps({"to": "drhouse", "reply_to": None, "sealed": base64.b64encode(open(sys.argv[1], "rb").read()).decode()}))' \
		"signed-by-$signer.mc" >"post-$signer.json"
done
post_as_eve() { # post_as_eve BODY_FILE: POST /api/v1/messages as eve; $STATUS and .body
	local csrf token
	csrf=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["csrf"])' "$T/home-eve/session")
	token=$(py 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$T/home-eve/session")
	STATUS=$(curl -sk --tlsv1.3 -o .body -w '%{http_code}' -X POST -H "Cookie: __Host-medcrypt=$token" \
		-H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' --data-binary "@$1" "$URL/api/v1/messages")
}
before=$(db "SELECT count(*) FROM messages")
post_as_eve post-tech.json
[ "$STATUS" = 400 ] && grep -q bad_container .body && grep -q "signed with its sender" .body && ok ||
	bad "a message signed by tech, posted by eve: $STATUS $(cat .body)"
[ "$(db "SELECT count(*) FROM messages")" = "$before" ] && ok || bad "the forged message was stored"
post_as_eve post-eve.json
[ "$STATUS" = 201 ] && ok || bad "the same message signed by eve herself: $STATUS $(cat .body)"

# ---- what the server holds ----
[ "$(db "SELECT count(*) FROM audit WHERE action = 'message'")" = 6 ] && ok || bad "audit message records: $(db "SELECT count(*) FROM audit WHERE action = 'message'")"
[ "$(db "SELECT read_at IS NOT NULL FROM messages WHERE id = '$M1'")" = 1 ] && ok || bad "read_at of M1"
[ "$(db "SELECT thread_id FROM messages WHERE id = '$M2'")" = "$M1" ] && ok || bad "thread of M2"
for text in quokka wombat platypus "Come in tomorrow" "colleague note"; do
	if grep -rqaF -- "$text" "$DATA"; then bad "the data directory holds message text '$text'"; else ok; fi
	db ".dump" | grep -qF -- "$text" && bad "the database dump holds '$text'" || ok
done

# ---- a message altered in the database ----
db "UPDATE messages SET sealed = substr(sealed, 1, length(sealed) - 80) || x'ff' || substr(sealed, length(sealed) - 78) WHERE id = '$M2'"
as tech read "$M2" >.out 2>.err
code=$?
case $code in 7 | 8 | 9) ok ;; *) bad "an altered message: exit $code (want 7, 8 or 9): $(cat .err)" ;; esac
grep -qF wombat .out && bad "the altered message's text was printed" || ok

# ---- every example of the commands' --help and of the man page's Messages section ----
mkdir -p "$T/bin" && ln -sf "$MEDCRYPT" "$T/bin/medcrypt"
mapfile -t examples < <(
	for cmd in msg inbox read; do
		"$MEDCRYPT" $cmd --help | sed -n '/^examples:/,$s/^  \(.*medcrypt .*\)/\1/p'
	done
	sed -n '/^\.SS "Messages"/,/^\.S[SH] /{s/\\-/-/g;s/^\$ \(.*medcrypt .*\)/\1/p}' "$REPO/docs/medcrypt.1"
)
[ "${#examples[@]}" -ge 6 ] && ok || bad "examples found: ${#examples[@]}"
for example in "${examples[@]}"; do
	# the examples' placeholder id is a message between drhouse and tech: M1
	example=${example//0123456789abcdef0123456789abcdef/$M1}
	case $example in *--follow*) continue ;; esac # it runs until stopped: follow_test.sh runs it
	if PATH=$T/bin:$PATH MEDCRYPT_HOME=$T/home-drhouse MEDCRYPT_PASSPHRASE=$(pw drhouse) bash -o pipefail -c "$example" \
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
summary messages
