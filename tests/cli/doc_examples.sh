#!/usr/bin/env bash
# doc_examples.sh: runs every example of the documentation, so the docs cannot drift from the
# code. The examples are the medcrypt lines of README.md's "Using it" block, every line of docs/medcrypt.1's EXAMPLES section that starts with "$ "
# (a line ending in "\e", roff's backslash, continues on the next one), and every "example:"
# line of "medcrypt COMMAND --help" for each command that "medcrypt --help" lists.
#
# Each example runs on its own, under bash -o pipefail, in a fresh copy of one fixture directory
# that holds what the examples name: an identity NAME.key/NAME.pub (made by medcrypt keygen, with
# MEDCRYPT_PASSPHRASE set) and a NAME.pass passphrase file for every NAME.key or NAME.pub that any
# example mentions (lab, doctor, patient and colleague at least); fake inputs scan.dcm, scan2.dcm,
# study.json, preview.png and an empty directory outbox/; and sealed files made from them:
# scan.medcrypt (lab to doctor and patient, signed by lab, with metadata and preview),
# shared.medcrypt (scan.medcrypt shared by doctor with colleague) and note.medcrypt (a message
# from doctor to patient, signed). What an example writes (-o, --output, --meta-out; for keygen
# NAME.key and NAME.pub) is removed from its copy first, so "open -o scan.dcm" writes scan.dcm
# as on the doctor's machine. An example passes when it exits 0 and every file it names as an
# output exists afterwards. The fixture is fake: no real patient data.
#
# usage: tests/cli/doc_examples.sh [path/to/medcrypt]   (default: build/src/medcrypt/medcrypt)
# Prints one line per example and ends with "doc_examples: N passed, M failed"; exits 1 if M > 0.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
medcrypt=${1:-$here/../../build/src/medcrypt/medcrypt}
[ -x "$medcrypt" ] && medcrypt=$(cd "$(dirname "$medcrypt")" && pwd)/$(basename "$medcrypt")
# The shared setup: $REPO, a temporary directory $T (removed at exit, and the current
# directory), the passed/failed counters and summary.
source "$here/lib.sh"
manual=$REPO/docs/medcrypt.1
passphrase='doc examples: correct horse battery staple'
tmp=$T

finish() {
	summary doc_examples
	exit
}

if [ ! -x "$medcrypt" ]; then
	echo "FAIL setup: $medcrypt is not an executable (build it: ninja -C build)"
	failed=$((failed + 1))
	finish
fi

mkdir "$tmp/bin" "$tmp/fixture"
ln -s "$medcrypt" "$tmp/bin/medcrypt"

# ---- the examples: sources[i] says where examples[i] comes from

sources=()
examples=()

# Turns one line of roff into the text it shows (only the escapes examples use). \e goes last:
# "\e-" is a backslash followed by a hyphen, not "\-".
unroff() {
	local s=$1
	s=${s//\\-/-}
	s=${s//\\(aq/\'}
	s=${s//\\(dq/\"}
	s=${s//\\(ga/\`}
	s=${s//\\(ti/\~}
	s=${s//\\&/}
	s=${s//\\e/\\}
	printf '%s' "$s"
}

in_examples=false
pending=
while IFS= read -r line || [ -n "$line" ]; do
	case $line in
	'.SH EXAMPLES'*) in_examples=true; continue ;;
	.SH*) in_examples=false; continue ;;
	esac
	$in_examples || continue
	text=$(unroff "$line")
	if [ -n "$pending" ]; then
		text=${text#"${text%%[![:space:]]*}"}
		pending="$pending $text"
	elif [ "${text:0:2}" = '$ ' ]; then
		pending=${text:2}
	else
		continue
	fi
	if [ "${pending: -1}" = "\\" ]; then
		pending=${pending%\\}
		pending=${pending%"${pending##*[![:space:]]}"}
	else
		sources+=("medcrypt.1")
		examples+=("$pending")
		pending=
	fi
done <"$manual"
n_manual=${#examples[@]}

# README.md: the command lines of the code block under "## Using it" (comments after '#' dropped)
readme=$REPO/README.md
in_block=false
while IFS= read -r line; do
	case $line in
	'## Using it'*) in_block=maybe; continue ;;
	'## '*) in_block=false; continue ;;
	'```'*)
		if [ "$in_block" = maybe ]; then in_block=true; elif [ "$in_block" = true ]; then in_block=false; fi
		continue
		;;
	esac
	[ "$in_block" = true ] || continue
	case $line in
	'medcrypt '*)
		sources+=("README.md")
		examples+=("$(printf '%s' "${line%%#*}" | sed 's/[[:space:]]*$//')")
		;;
	esac
done <"$readme"
n_readme=$((${#examples[@]} - n_manual))

commands=$("$medcrypt" --help | sed -n '/^commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
for command in $commands; do
	while IFS= read -r example; do
		sources+=("$command --help")
		examples+=("$example")
	done < <("$medcrypt" "$command" --help | sed -n 's/^example: //p')
done
n_help=$((${#examples[@]} - n_manual - n_readme))

if [ "$n_manual" -eq 0 ]; then
	echo "FAIL setup: no '\$ ' example lines in the EXAMPLES section of $manual"
	failed=$((failed + 1))
fi
if [ "$n_readme" -eq 0 ]; then
	echo "FAIL setup: no medcrypt lines in the '## Using it' block of $readme"
	failed=$((failed + 1))
fi
if [ "$n_help" -eq 0 ]; then
	echo "FAIL setup: no 'example:' lines in the --help texts of $medcrypt"
	failed=$((failed + 1))
fi

# ---- the fixture

fixture_fail() {
	echo "FAIL setup: $1"
	[ -s "$tmp/fixture.log" ] && sed 's/^/    /' "$tmp/fixture.log"
	failed=$((failed + 1))
	finish
}

identities=$( { printf '%s\n' lab doctor patient colleague
	printf '%s\n' "${examples[@]}" | grep -oE '[A-Za-z0-9_-]+\.(key|pub)\b' | sed 's/\.[a-z]*$//'; } | sort -u)

(
	set -e
	cd "$tmp/fixture"
	export MEDCRYPT_PASSPHRASE=$passphrase MEDCRYPT_NO_PROGRESS=1
	for name in $identities; do
		"$medcrypt" keygen -o "$name" --name "$name (doc example)"
		(umask 077 && printf '%s\n' "$passphrase" >"$name.pass")
	done
	# Fake DICOM Part 10 files: a 128-byte preamble, "DICM", then filler (several chunks).
	{ head -c 128 /dev/zero; printf 'DICM'; head -c 600000 /dev/urandom; } >scan.dcm
	{ head -c 128 /dev/zero; printf 'DICM'; head -c 70000 /dev/urandom; } >scan2.dcm
	printf '%s\n' '{"PatientID": "FAKE-0001", "PatientName": "Test^Fake", "StudyDate": "20260102", "Modality": "CT"}' >study.json
	# A 1x1 PNG.
	printf '%s' 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==' |
		base64 -d >preview.png
	mkdir outbox
	# A fake 320x240 gray image (the preview and redact examples read it).
	[ -e scan.png ] || convert -size 320x240 gradient:gray20-gray80 scan.png
	"$medcrypt" seal -r doctor.pub -r patient.pub --sign lab.key --meta study.json --preview-file preview.png \
		-o scan.medcrypt scan.dcm
	"$medcrypt" share -k doctor.key -r colleague.pub -o shared.medcrypt scan.medcrypt
	echo "Fake message for the doc examples." | "$medcrypt" seal -r patient.pub --sign doctor.key -o note.medcrypt -
	# scan.png with its top 40 rows hidden for the doctor (the restore example reads it).
	"$medcrypt" redact --region 0,0,320,40 -r doctor.pub -k lab.key -o anon.png scan.png
) >"$tmp/fixture.log" 2>&1 || fixture_fail "could not build the fixture"

# ---- run them

# The files an example writes: the value of -o, --output and --meta-out; for keygen NAME.key and
# NAME.pub. Prints one per line; "-" (stdout) is left out.
outputs_of() {
	local -a words
	local keygen=false i w value
	read -ra words <<<"$1"
	for ((i = 0; i < ${#words[@]}; i++)); do
		w=${words[i]}
		[ "$w" = keygen ] && [ "$i" -gt 0 ] && [ "${words[i - 1]}" = medcrypt ] && keygen=true
		value=
		case $w in
		-o | --output | --meta-out) value=${words[i + 1]:-} ;;
		--output=* | --meta-out=*) value=${w#*=} ;;
		esac
		[ -z "$value" ] || [ "$value" = - ] && continue
		if $keygen && [ "$w" != --meta-out ]; then
			printf '%s\n%s\n' "$value.key" "$value.pub"
		else
			printf '%s\n' "$value"
		fi
	done
}

detach=()
if command -v setsid >/dev/null 2>&1 && setsid --help 2>&1 | grep -q -- '--wait'; then
	detach=(setsid --wait) # no controlling terminal: a passphrase prompt fails instead of waiting
fi
limit=()
command -v timeout >/dev/null 2>&1 && limit=(timeout 300)

for ((n = 0; n < ${#examples[@]}; n++)); do
	example=${examples[n]}
	work=$tmp/run.$n
	log=$tmp/run.$n.log
	cp -a "$tmp/fixture" "$work"
	mapfile -t outputs < <(outputs_of "$example")
	problem=
	for out in "${outputs[@]}"; do
		case $out in
		/* | *..*) problem="output $out is outside the example's directory" ;;
		*) [ -d "$work/$out" ] || rm -f -- "$work/$out" ;;
		esac
	done
	if [ -z "$problem" ]; then
		(cd "$work" && PATH="$tmp/bin:$PATH" MEDCRYPT_PASSPHRASE=$passphrase MEDCRYPT_NO_PROGRESS=1 \
			"${detach[@]}" "${limit[@]}" bash -o pipefail -c "$example") </dev/null >"$log" 2>&1
		status=$?
		if [ "$status" -ne 0 ]; then
			problem="exit status $status"
		else
			for out in "${outputs[@]}"; do
				[ -e "$work/$out" ] || problem="${problem:+$problem; }$out was not written"
			done
		fi
	fi
	if [ -z "$problem" ]; then
		echo "ok   ${sources[n]}: $example"
		passed=$((passed + 1))
	else
		echo "FAIL ${sources[n]}: $example ($problem)"
		[ -s "$log" ] && sed 's/^/    /' "$log"
		failed=$((failed + 1))
	fi
	rm -rf "$work"
done

finish
