#!/usr/bin/env bash
# Installs the Debian packages that the Go tests call as commands, and only those that are missing:
#
#   xmllint              libxml2-utils   internal/einvoice validates the CII XML against the XSD
#   pdftotext, pdfdetach poppler-utils   internal/pdf extracts the text and the factur-x.xml
#
# Idempotent and quiet: when every command is there it prints nothing and runs no apt-get.
# Needs root (or sudo) and Debian's apt-get only when something is missing.
set -euo pipefail

# command:package pairs.
required=(
	xmllint:libxml2-utils
	pdftotext:poppler-utils
	pdfdetach:poppler-utils
)

missing=()
for pair in "${required[@]}"; do
	cmd=${pair%%:*} pkg=${pair#*:}
	if ! command -v "$cmd" >/dev/null 2>&1 && [[ " ${missing[*]} " != *" $pkg "* ]]; then
		missing+=("$pkg")
	fi
done
((${#missing[@]} == 0)) && exit 0

sudo=()
if ((EUID != 0)); then
	command -v sudo >/dev/null 2>&1 || { echo "system-packages: need root or sudo to install ${missing[*]}" >&2; exit 1; }
	sudo=(sudo)
fi

echo "system-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; install straight away when it does, update once if not.
if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
	"${sudo[@]}" apt-get update -qq >/dev/null
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for pair in "${required[@]}"; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || { echo "system-packages: ${pair%%:*} still missing after installing ${pair#*:}" >&2; exit 1; }
done
