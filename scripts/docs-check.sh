#!/usr/bin/env bash
# Checks the gateway's API reference page (/docs) in a real headless browser: serves the gateway's
# handler (scripts/docs-serve: the real routes, no PostgreSQL, S3 or Temporal needed), loads /docs in
# Chromium with every host but 127.0.0.1 unresolvable (the page must work with no network), and
# checks that Redoc ran: the rendered DOM holds the API's title and every operation's summary from
# internal/gateway/openapi.json, and the page broke none of its content security policy. Saves a
# screenshot and prints its path.
#
# Installs Debian's chromium when it is missing (apt-get; root, or sudo). Output goes to
# DOCS_CHECK_DIR (default .dev/docs-check).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${DOCS_CHECK_DIR:-.dev/docs-check}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
spec=internal/gateway/openapi.json

fail() {
	echo "docs-check: FAIL: $*" >&2
	exit 1
}

if ! command -v chromium >/dev/null 2>&1; then
	echo "docs-check: chromium is not installed; installing Debian's package"
	sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium >"$dir/apt.log" 2>&1 ||
		{ tail -20 "$dir/apt.log" >&2; fail "apt-get install chromium failed"; }
fi
command -v jq >/dev/null 2>&1 || fail "jq is needed to read $spec"
echo "docs-check: $(chromium --version 2>/dev/null | head -1)"

go build -o "$dir/docs-serve" ./scripts/docs-serve
"$dir/docs-serve" >"$dir/serve.out" 2>"$dir/serve.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
url=
for _ in $(seq 100); do
	url=$(head -n1 "$dir/serve.out" 2>/dev/null || true)
	[ -n "$url" ] && break
	kill -0 "$server" 2>/dev/null || { cat "$dir/serve.log" >&2; fail "docs-serve exited"; }
	sleep 0.1
done
[ -n "$url" ] || fail "docs-serve printed no URL"
echo "docs-check: gateway handler at $url, loading $url/docs"

# One fresh profile per run; every name but 127.0.0.1 fails to resolve, so nothing off-host loads.
browser() {
	rm -rf "$dir/profile"
	timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
		--user-data-dir="$dir/profile" --enable-logging=stderr --v=0 \
		--host-resolver-rules="MAP * ~NOTFOUND , EXCLUDE 127.0.0.1" \
		--virtual-time-budget=15000 "$@"
}
browser --dump-dom "$url/docs" >"$dir/dom.html" 2>"$dir/chromium-dom.log" || fail "chromium --dump-dom failed (see $dir/chromium-dom.log)"
browser --window-size=1400,1000 --screenshot="$dir/docs.png" "$url/docs" >/dev/null 2>"$dir/chromium-screenshot.log" ||
	fail "chromium --screenshot failed (see $dir/chromium-screenshot.log)"
[ -s "$dir/docs.png" ] || fail "no screenshot was written"

# Redoc ran (init.js marks the body when Redoc calls back) ...
grep -q 'data-docs="rendered"' "$dir/dom.html" || fail "Redoc did not report the page rendered (body data-docs), see $dir/dom.html"
# ... and drew the document: its title and every operation's summary, which the HTML shell lacks.
missing=0
count=0
while IFS= read -r title; do
	count=$((count + 1))
	if grep -qF -- "$title" "$dir/dom.html"; then
		echo "docs-check: rendered: $title"
	else
		echo "docs-check: MISSING: $title" >&2
		missing=$((missing + 1))
	fi
done < <(jq -r '.info.title, (.paths[][] | objects | .summary // empty)' "$spec")
[ "$count" -gt 1 ] || fail "no operation summaries found in $spec"
[ "$missing" -eq 0 ] || fail "$missing of $count titles are not in the rendered page ($dir/dom.html)"

# Nothing the page did broke its content security policy (which allows only the gateway itself),
# but Redoc's own footer logo, which it loads from its CDN and hides when that fails.
violations=$(grep -h "Content Security Policy" "$dir/chromium-dom.log" "$dir/chromium-screenshot.log" | grep -v "cdn.redoc.ly/redoc/logo-mini.svg" || true)
[ -z "$violations" ] || fail "the page broke its content security policy:
$violations"

echo "docs-check: OK: Redoc rendered the API title and $((count - 1)) operations with no network"
echo "docs-check: screenshot: $dir/docs.png"
