#!/usr/bin/env bash
# static_test.sh: medcryptd serving the web client (docs/API.md §20) from a web root built here
# by web/build.mjs, plus fixtures of each file type, a hidden file and symbolic links that
# point out of the root: Content-Type per extension, Cache-Control (immutable for hashed names,
# no-cache for index.html), ETag and If-None-Match -> 304, HEAD, the pages' CSP and the security
# headers of §12 on every static answer (the pages' CSP on 200 and 304, the API's on the JSON
# 400 and 404), traversal attempts (dot segments,
# %2e%2e, encoded slash and backslash, NUL, hidden files, links out of the root) answered 400 or
# 404 and never with a byte from outside, the client-side-routing fallback (/inbox with Accept:
# text/html gets index.html; an asset path or a non-HTML Accept gets the JSON 404), /api/ paths
# still JSON 404s with the API's CSP, and the start-up rules: a configured web root that is
# missing or has no index.html stops the server with a message; no ./web/dist or --web-root none
# serves the API alone.
# usage: tests/server/static_test.sh BUILD_DIR
set -u
BUILD=$(cd "${1:-build}" && pwd)
MEDCRYPTD="$BUILD/src/medcryptd/medcryptd"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

PAGE_CSP="default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
API_CSP="default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
SECRET="not-for-the-web-$$-$RANDOM"

# ---- the web root: a real build, fixtures, and things that must never be served ----
WEB="$T/web"
node "$REPO/web/build.mjs" "$WEB" >/dev/null || { bad "web/build.mjs"; summary server-static; exit 1; }
mkdir -p "$WEB/sub" "$T/outside"
echo "$SECRET" >"$T/outside/secret.txt"
echo "$SECRET" >"$T/secret.txt"
printf 'export const x = 1;\n' >"$WEB/probe-AAAAAAAA.mjs"
printf '\0asm\1\0\0\0' >"$WEB/probe-AAAAAAAA.wasm"
printf '\x89PNG\r\n\x1a\n' >"$WEB/probe-AAAAAAAA.png"
printf 'wOF2' >"$WEB/probe-AAAAAAAA.woff2"
printf '{"a":1}\n' >"$WEB/sub/probe-AAAAAAAA.json"
printf 'not hashed\n' >"$WEB/notes.txt"
echo "$SECRET" >"$WEB/.hidden.txt"
ln -s "$T/secret.txt" "$WEB/leak.txt"
ln -s "$T/outside" "$WEB/outdir"
ln -s /etc/passwd "$WEB/passwd.txt"
APP_JS=$(jv "$WEB/manifest.json" entries app.js)
APP_CSS=$(jv "$WEB/manifest.json" entries app.css)
BOOT_CSS=$(jv "$WEB/manifest.json" entries bootstrap.css)
FAVICON=$(jv "$WEB/manifest.json" entries favicon.svg)
MAP="$APP_JS.map"

server_start --web-root "$WEB" || { bad "server start"; summary server-static; exit 1; }
grep -q "^web client: $URL/ ([0-9]* files from $WEB)" "$T/server.out" && ok ||
	bad "start-up names the web client's URL: $(grep 'web client' "$T/server.out")"
grep -q "skipping /leak.txt: a symbolic link" "$T/server.log" && ok || bad "the log names the skipped link"
# the first start's admin invitation as a browser link, the code in the fragment (never sent)
INVITE=$(awk '/invitation:/ {print $2; exit}' "$T/server.out")
grep -qxF "  $URL/register#code=$INVITE" "$T/server.out" && ok || bad "the invitation as a browser link: $(cat "$T/server.out")"

has_header() { # has_header "Name: value" WHAT: exactly that header on the last reply
	if tr -d '\r' <"$T/headers" | grep -qixF "$1"; then ok; else bad "$2: missing '$1': $(tr -d '\r' <"$T/headers" | head -20 | tr '\n' '|')"; fi
}
security_headers() { # security_headers CSP WHAT: §12's headers with that CSP
	has_header "Content-Security-Policy: $1" "$2"
	has_header "Strict-Transport-Security: max-age=63072000; includeSubDomains" "$2"
	has_header "X-Content-Type-Options: nosniff" "$2"
	has_header "X-Frame-Options: DENY" "$2"
	has_header "Referrer-Policy: no-referrer" "$2"
	[ "$(grep -ic '^content-security-policy:' "$T/headers")" = 1 ] && ok || bad "$2: one CSP header"
	[ "$(grep -ic '^cache-control:' "$T/headers")" = 1 ] && ok || bad "$2: one Cache-Control header"
}
no_secret() { # no_secret WHAT: the last body holds nothing from outside the root
	if grep -q "$SECRET\|root:x:0:0" "$T/body" 2>/dev/null; then bad "$1: served a file from outside the root"; else ok; fi
}

# ---- the page ----
for p in / /index.html; do
	api GET "$p"
	expect_status 200 "GET $p"
	cmp -s "$T/body" "$WEB/index.html" && ok || bad "GET $p is index.html"
	has_header "Content-Type: text/html; charset=utf-8" "GET $p"
	has_header "Cache-Control: no-cache" "GET $p"
	[ -n "$(header ETag)" ] && ok || bad "GET $p has an ETag"
	security_headers "$PAGE_CSP" "GET $p"
done
grep -q "src=\"/$APP_JS\"" "$T/body" && ok || bad "index.html loads the hashed app"

# ---- each type, and the cache rule ----
type_of() { # type_of PATH TYPE CACHE
	api GET "$1"
	expect_status 200 "GET $1"
	cmp -s "$T/body" "$WEB$1" && ok || bad "GET $1: the file's bytes"
	has_header "Content-Type: $2" "GET $1"
	has_header "Cache-Control: $3" "GET $1"
	security_headers "$PAGE_CSP" "GET $1"
}
IMMUTABLE="public, max-age=31536000, immutable"
type_of "/$APP_JS" "text/javascript; charset=utf-8" "$IMMUTABLE"
type_of "/$APP_CSS" "text/css; charset=utf-8" "$IMMUTABLE"
type_of "/$BOOT_CSS" "text/css; charset=utf-8" "$IMMUTABLE"
type_of "/$FAVICON" "image/svg+xml" "$IMMUTABLE"
type_of "/$MAP" "application/json" "$IMMUTABLE"
type_of /probe-AAAAAAAA.mjs "text/javascript; charset=utf-8" "$IMMUTABLE"
type_of /probe-AAAAAAAA.wasm "application/wasm" "$IMMUTABLE"
type_of /probe-AAAAAAAA.png "image/png" "$IMMUTABLE"
type_of /probe-AAAAAAAA.woff2 "font/woff2" "$IMMUTABLE"
type_of /sub/probe-AAAAAAAA.json "application/json" "$IMMUTABLE"
type_of /manifest.json "application/json" "no-cache"
type_of /notes.txt "text/plain; charset=utf-8" "no-cache"

# ---- ETag and If-None-Match ----
api GET "/$APP_JS"
ETAG=$(header ETag)
[[ $ETAG =~ ^\"[0-9a-f]{32}\"$ ]] && ok || bad "a strong ETag of 32 hex digits: $ETAG"
rm -f "$T/body"
api GET "/$APP_JS" -H "If-None-Match: $ETAG"
expect_status 304 "If-None-Match with the ETag"
[ ! -s "$T/body" ] && ok || bad "a 304 has no body"
[ "$(header ETag)" = "$ETAG" ] && ok || bad "a 304 repeats the ETag"
has_header "Cache-Control: $IMMUTABLE" "304"
security_headers "$PAGE_CSP" "304"
api GET "/$APP_JS" -H "If-None-Match: \"0000\", W/$ETAG"
expect_status 304 "If-None-Match with a list holding the weak form"
api GET "/$APP_JS" -H 'If-None-Match: "00000000000000000000000000000000"'
expect_status 200 "If-None-Match with another ETag"
api GET / -H "If-None-Match: $(curl -sS --cacert "$CERT" --resolve "localhost:$PORT:127.0.0.1" -o /dev/null -D - "$URL/" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')"
expect_status 304 "index.html revalidates with its ETag"
has_header "Cache-Control: no-cache" "304 of index.html"
api GET "/$APP_CSS"
[ "$(header ETag)" != "$ETAG" ] && ok || bad "another file, another ETag"

# ---- HEAD ----
head_req() { # head_req PATH [CURL ARGS...]: HEAD; headers in $T/headers, body in $T/body
	local p=$1
	shift
	STATUS=$(curl -sS --tlsv1.3 --cacert "$CERT" --resolve "localhost:$PORT:127.0.0.1" --head -o "$T/body" -D "$T/headers" \
		-w '%{http_code}' "$@" "$URL$p" 2>"$T/curl.err")
}
head_req /
expect_status 200 "HEAD /"
[ "$(header Content-Length)" = "$(stat -c %s "$WEB/index.html")" ] && ok || bad "HEAD / gives index.html's length"
has_header "Content-Type: text/html; charset=utf-8" "HEAD /"
security_headers "$PAGE_CSP" "HEAD /"
head_req "/$APP_JS"
expect_status 200 "HEAD of an asset"
has_header "Content-Type: text/javascript; charset=utf-8" "HEAD of an asset"
[ "$(header Content-Length)" = "$(stat -c %s "$WEB/$APP_JS")" ] && ok || bad "HEAD of an asset gives its length"
head_req /inbox -H 'Accept: text/html'
expect_status 200 "HEAD of a client route"

# ---- traversal: never a byte from outside ----
refused() { # refused PATH WHAT [CURL ARGS...]: 400 bad_request or 404 not_found, as JSON
	local p=$1 what=$2
	shift 2
	api GET "$p" -H 'Accept: text/html' "$@"
	if { [ "$STATUS" = 400 ] && [ "$(jv "$T/body" error 2>/dev/null)" = bad_request ]; } ||
		{ [ "$STATUS" = 404 ] && [ "$(jv "$T/body" error 2>/dev/null)" = not_found ]; }; then
		ok
	else
		bad "$what ($p): status $STATUS: $(head -c 200 "$T/body")"
	fi
	no_secret "$what"
	security_headers "$API_CSP" "$what"
	has_header "Cache-Control: no-store" "$what"
}
refused /../secret.txt "a dot-dot segment" --path-as-is
refused /../../../../etc/passwd "dot-dot to /etc/passwd" --path-as-is
refused /sub/../../secret.txt "dot-dot after a directory" --path-as-is
refused /./index.html "a dot segment" --path-as-is
refused /%2e%2e/secret.txt "an encoded dot-dot"
refused /%2E%2E/%2E%2E/etc/passwd "an upper-case encoded dot-dot"
refused /..%2fsecret.txt "an encoded slash after dot-dot"
refused /sub%2fprobe-AAAAAAAA.json "an encoded slash to a file inside"
refused /sub%2Fprobe-AAAAAAAA.json "an upper-case encoded slash"
refused /..%5csecret.txt "an encoded backslash"
refused '/..\secret.txt' "a backslash" --path-as-is
refused /index.html%00.png "an encoded NUL"
refused /%00 "a lone encoded NUL"
refused /.hidden.txt "a hidden file"
refused /leak.txt "a symbolic link to a file outside"
refused /passwd.txt "a symbolic link to /etc/passwd"
refused /outdir/secret.txt "through a symbolic link to a directory outside"
refused //etc/passwd "an empty segment" --path-as-is
refused "/$T/secret.txt" "an absolute path of the file"
api GET /sub -H 'Accept: application/json'
expect_error 404 not_found "a directory is no file (no listing)"
no_secret "a directory"
refused /sub/ "a directory with a slash (no listing)"
api GET /sub/ -H 'Accept: text/html'
[ "$STATUS" = 400 ] && ok || bad "a trailing slash is refused, not listed or answered with the page: $STATUS"
api GET /sub/probe-AAAAAAAA.json
expect_status 200 "the file under sub/ itself"

# ---- client-side routes ----
api GET /inbox -H 'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'
expect_status 200 "a reload of /inbox"
cmp -s "$T/body" "$WEB/index.html" && ok || bad "/inbox gets index.html"
has_header "Cache-Control: no-cache" "/inbox"
has_header "Vary: Accept" "/inbox"
security_headers "$PAGE_CSP" "/inbox"
api GET /users/jane.doe -H 'Accept: text/html'
expect_status 200 "a client route with a dot that is no asset extension"
api GET /inbox -H 'Accept: application/json'
expect_error 404 not_found "/inbox without Accept: text/html"
api GET /inbox
expect_error 404 not_found "/inbox with curl's */*"
api GET /app-ZZZZZZZZ.js -H 'Accept: text/html'
expect_error 404 not_found "a missing script is a 404, never the page"
security_headers "$API_CSP" "static 404 (an API error, not a page)"
has_header "Cache-Control: no-store" "static 404"
api GET /missing.css -H 'Accept: text/html'
expect_error 404 not_found "a missing stylesheet"

# ---- the API keeps its answers ----
for p in /api/v1/nope /api /api/ /api/v1/images/../../index.html; do
	api GET "$p" -H 'Accept: text/html' --path-as-is
	expect_error 404 not_found "GET $p stays the API's JSON 404"
	security_headers "$API_CSP" "GET $p"
	has_header "Cache-Control: no-store" "GET $p"
done
api GET /healthz
expect_status 200 "healthz"
security_headers "$API_CSP" "healthz"
has_header "Cache-Control: no-store" "healthz"
api POST / -H 'Content-Type: application/json' --data-binary '{}'
expect_error 404 not_found "POST / is no route"
api GET /metrics
grep -q 'medcryptd_requests_total{route="static",status="200"}' "$T/body" && ok || bad "metrics count the static route"

server_stop && ok || bad "server stops cleanly (and no sanitizer report)"

# ---- start-up without a usable web root ----
expect_exit 1 "a configured web root that does not exist" \
	"$MEDCRYPTD" --data-dir "$T/data" --listen "127.0.0.1:$(free_port)" --web-root "$T/nowhere"
grep -q "web client: cannot open the web root $T/nowhere" "$T/.err" && ok || bad "the message names the missing root: $(cat "$T/.err")"
mkdir -p "$T/empty"
expect_exit 1 "a web root without index.html" \
	"$MEDCRYPTD" --data-dir "$T/data" --listen "127.0.0.1:$(free_port)" --web-root "$T/empty"
grep -q "has no index.html" "$T/.err" && ok || bad "the message says index.html is missing: $(cat "$T/.err")"
for how in default none; do
	args=()
	[ "$how" = none ] && args=(--web-root none)
	rm -f "$T/server.out"
	server_start "${args[@]}" || { bad "start with web root $how"; continue; }
	grep -q "^web client: none" "$T/server.out" && ok || bad "$how: start-up says there is no web client"
	api GET / -H 'Accept: text/html'
	expect_error 404 not_found "$how: / without a web client"
	api GET /inbox -H 'Accept: text/html'
	expect_error 404 not_found "$how: /inbox without a web client"
	api GET /healthz
	expect_status 200 "$how: the API still answers"
	server_stop && ok || bad "$how: server stops cleanly"
done

summary server-static
