#!/usr/bin/env bash
# Checks that every requirement ID and document section the Go code cites
# resolves inside the repository's docs/ (issue 10: "the contract lives in
# the repository"). Run by scripts/test.sh; prints each dangling citation.
#
#   IDP-…-N, APP-…-N, ATK-N, C-N, AUD-N (also TestAUDN_ names) → docs/security.md
#   "compat §N"                                            → "## N." in docs/fusionauth-compatibility.md
#   "design §N"                                            → "## N." in docs/design.md
# Citations of documents outside the repository ("spec §", DESIGN.md) are refused.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
files=$(git ls-files '*.go')
sec=docs/security.md

# Requirement IDs: each must be defined in a table row or heading of security.md.
ids=$(grep -ohE '\b(IDP|APP)-[A-Z]+-[0-9]+\b|\bATK-[0-9]+\b|\bC-[1-9]\b|\bAUD-?[0-9]+' $files | sed -E 's/^AUD-?/AUD-/' | sort -u || true)
for id in $ids; do
	if ! grep -qE "^\| ${id} \||^- \*\*${id}\*\*|^\| ${id}[ ,]" "$sec"; then
		echo "check-docs: $id is cited in code but not defined in $sec:"
		grep -nE "\b${id}\b|${id/-/}_" $files | head -3 | sed 's/^/    /'
		fail=1
	fi
done

# Section citations.
check_sections() { # $1 = citation word, $2 = doc
	local secs n
	secs=$(grep -ohE "$1 §[0-9]+" $files | grep -oE "[0-9]+" | sort -un || true)
	for n in $secs; do
		if ! grep -qE "^## ${n}\. " "$2"; then
			echo "check-docs: '$1 §$n' is cited in code but $2 has no section $n"
			fail=1
		fi
	done
}
check_sections compat docs/fusionauth-compatibility.md
check_sections design docs/design.md

# Documents that are not in the repository.
if grep -nE 'spec §|DESIGN\.md|DESIGN §|security-checklist' $files; then
	echo "check-docs: the lines above cite documents outside the repository; cite docs/ instead"
	fail=1
fi

if [ "$fail" -ne 0 ]; then exit 1; fi
echo "check-docs: every cited ID and section resolves in docs/"
