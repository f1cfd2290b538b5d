#!/usr/bin/env bash
# Walks one demo K2K order through its life on the dev stack, through the HTTP gateway with curl:
# two companies with an active connection and both settings on, and their API keys (set up with
# the starter CLI), then over HTTP: the order confirmed, its invoice in AP with a PDF in S3, a
# refused out-of-order action, an approval, a dispute by accounting (the vendor reads its
# reason), the vendor's update that answers it and sends the invoice back to AP with a warning,
# the buyer's review, then approve → approve payment → paid, a credit note for part of the paid
# invoice (approved and applied by the buyer), the invoice with its net amount and a download
# link of its PDF. Each request is printed as a curl command line (API keys as $VENDOR_KEY, …)
# with its answer; the demo fails as soon as a status code is not the expected one.
# Leaves the stack up. Needs bash and curl, nothing else.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/devstack.sh" up
# shellcheck source=/dev/null
source "$root/.dev/env"
starter=$root/.dev/bin/starter
gw=$K2K_GATEWAY_URL
work=$root/.dev/demo
mkdir -p "$work"
step() { printf '\n### %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

vendor=ACME-SUPPLY
buyer=GLOBEX-RETAIL
po="PO-$(date -u +%Y%m%d-%H%M%S)"
today=$(date -u +%Y-%m-%d)

# new_key: a fresh Idempotency-Key (uuidgen may be missing; the kernel's UUID source is not).
new_key() {
	if [[ -r /proc/sys/kernel/random/uuid ]]; then
		cat /proc/sys/kernel/random/uuid
	else
		printf '%s-%s\n' "$(date +%s%N)" "$RANDOM"
	fi
}

# shell_quote ARG: ARG as it would be typed in a shell (single quotes unless it is plain).
shell_quote() {
	if [[ $1 =~ ^[A-Za-z0-9_./:@=%+,-]+$ ]]; then
		printf '%s' "$1"
	else
		printf "'%s'" "${1//\'/\'\\\'\'}"
	fi
}

answer=$work/answer.json

# show_answer: prints the last answer; a step may set it to a shorter view.
show_answer() { cat "$answer"; }

# call KEYVAR EXPECTED METHOD PATH [CURL ARGS...]: sends one request with the API key in the
# variable KEYVAR (a fresh Idempotency-Key on a POST), prints the command line with the key
# elided as $KEYVAR, the JSON answer and the status, and stops the demo unless the status is
# EXPECTED. The answer stays in $answer.
call() {
	local keyvar=$1 expected=$2 method=$3 path=$4
	shift 4
	local verb=() args=()
	if [[ $method != GET ]]; then verb=(-X "$method"); fi
	if [[ $method != GET ]]; then args+=(-H "Idempotency-Key: $(new_key)"); fi
	args+=("$@")
	local line="curl -s${verb:+ ${verb[*]}} -H \"Authorization: Bearer \$$keyvar\"" a
	for a in "${args[@]}"; do line+=" $(shell_quote "$a")"; done
	printf '$ %s %s\n' "$line" "$(shell_quote "$gw$path")"
	local code
	code=$(curl -s "${verb[@]}" -o "$answer" -w '%{http_code}' -H "Authorization: Bearer ${!keyvar}" "${args[@]}" "$gw$path") ||
		die "curl failed: is the gateway up? see .dev/log/gateway.log"
	show_answer
	[[ -z $(tail -c 1 "$answer") ]] || echo
	printf '→ HTTP %s (expected %s)\n' "$code" "$expected"
	[[ $code == "$expected" ]] || die "$method $path answered HTTP $code, expected $expected"
}

# json_field NAME: the value of the first string or number field NAME in the last answer.
json_field() {
	grep -o '"'"$1"'":\("[^"]*"\|[0-9]*\)' "$answer" | head -n 1 | sed 's/^"[^"]*"://; s/^"\(.*\)"$/\1/'
}

# expect_in_answer TEXT: stops the demo unless the last answer contains TEXT.
expect_in_answer() {
	grep -qF -- "$1" "$answer" || die "the answer does not contain $1"
}

json=(-H 'Content-Type: application/json')

step "Set-up with the starter CLI: two companies, an active K2K connection, both settings on, the buyer separating duties"
"$starter" company upsert --id "$vendor" --name "Acme Supply Co." --auto-invoice-sync
"$starter" company upsert --id "$buyer" --name "Globex Retail Ltd." --accept-k2k-invoices --separate-duties
"$starter" connection upsert --vendor "$vendor" --buyer "$buyer" --status active

step "Fresh API keys for this run: the vendor's, and the buyer's procurement and accounting"
# new_api_key COMPANY ROLE: creates a key (starter apikey create prints it on stdout, and what it
# is on stderr) and prints it.
new_api_key() {
	"$starter" apikey create --company "$1" --role "$2" --label "demo-$2" 2>"$work/apikey.err" ||
		{ cat "$work/apikey.err" >&2; exit 1; }
	sed 's/; keep it now.*$//' "$work/apikey.err" >&2
}
VENDOR_KEY=$(new_api_key "$vendor" vendor)
PROCUREMENT_KEY=$(new_api_key "$buyer" procurement)
ACCOUNTING_KEY=$(new_api_key "$buyer" accounting)
ADMIN_KEY=$(new_api_key "$buyer" admin)
receivers=()
hooks_endpoint=
# When the demo ends, whatever happens: revoke the keys (they were printed nowhere but are live),
# turn the demo's webhook endpoint off and stop the receivers.
clean_up() {
	local k
	for k in "$VENDOR_KEY" "$PROCUREMENT_KEY" "$ACCOUNTING_KEY" "$ADMIN_KEY"; do
		k=${k#k2k_}
		"$starter" apikey revoke "${k%%_*}" >/dev/null || true
	done
	[[ -z $hooks_endpoint ]] || "$starter" webhook disable --id "$hooks_endpoint" >/dev/null || true
	((${#receivers[@]} == 0)) || kill "${receivers[@]}" 2>/dev/null || true
}
trap clean_up EXIT
echo "keys kept in \$VENDOR_KEY, \$PROCUREMENT_KEY, \$ACCOUNTING_KEY, \$ADMIN_KEY (revoked when the demo ends)"

# start_receiver NAME [ARGS...]: runs `starter receive` in the background, verifying deliveries
# with the secret in $work/NAME.secret and printing them to $work/NAME.log; prints its URL.
start_receiver() {
	local name=$1
	shift
	rm -f "$work/$name.url"
	"$starter" receive --address-file "$work/$name.url" --secret-file "$work/$name.secret" "$@" >"$work/$name.log" 2>&1 &
	receivers+=($!)
	for _ in $(seq 1 50); do [[ -s $work/$name.url ]] && break; sleep 0.1; done
	[[ -s $work/$name.url ]] || die "the $name receiver did not start: $(cat "$work/$name.log")"
	cat "$work/$name.url"
}

step "The buyer's webhook endpoint: a receiver that verifies each message's signature (starter receive)"
: >"$work/hooks.secret"
hooks_url=$(start_receiver hooks)
"$starter" webhook add --company "$buyer" --url "$hooks_url" | tee "$work/hooks.add" | sed 's/whsec_.*/whsec_… (kept in .dev\/demo\/hooks.secret)/'
hooks_endpoint=$(sed -n 's/^endpoint *\([0-9]*\) .*/\1/p' "$work/hooks.add")
sed -n 's/^secret *\(whsec_[^ ]*\).*/\1/p' "$work/hooks.add" >"$work/hooks.secret"
[[ -s $work/hooks.secret && -n $hooks_endpoint ]] || die "starter webhook add printed no endpoint and secret"

step "The buyer's admin connects its accounting system (PUT /v1/admin/accounting-export); it refuses its first delivery"
printf 'whsec_%s\n' "$(head -c 32 /dev/urandom | base64)" >"$work/accounting.secret"
accounting_url=$(start_receiver accounting --refuse-first 1)
call ADMIN_KEY 200 PUT /v1/admin/accounting-export "${json[@]}" -H 'K2K-User: erin' \
	-d "{\"url\": \"$accounting_url\", \"secret\": \"$(cat "$work/accounting.secret")\"}"
expect_in_answer '"secret_set":true'

step "The vendor confirms order $po (POST /v1/orders; the PDF is rendered from the lines)"
order=$work/order.json
cat >"$order" <<JSON
{
  "order": {
    "vendor_id": "$vendor",
    "buyer_id": "$buyer",
    "po_number": "$po",
    "invoice_number": "INV-$po",
    "issue_date": "$today",
    "currency": "EUR",
    "total_minor": 131850,
    "po_total_minor": 131850,
    "lines": [
      {"description": "Steel brackets, 40 mm", "quantity": 500, "unit_price_minor": 189},
      {"description": "Assembly service", "quantity": 8, "unit_price_minor": 4500},
      {"description": "Freight", "quantity": 1, "unit_price_minor": 1350}
    ]
  }
}
JSON
printf '%s:\n' "${order#"$root"/}"
cat "$order"
call VENDOR_KEY 201 POST /v1/orders "${json[@]}" -H 'K2K-User: victor' --data-binary "@${order#"$root"/}"
id=$(json_field invoice_id)
workflow_id=$(json_field workflow_id)
[[ $id =~ ^[0-9]+$ ]] || die "no invoice_id in the answer"
echo "invoice id $id"
inv=/v1/invoices/$id

step "Accounting tries to pay before procurement approved: refused (409), status unchanged"
call ACCOUNTING_KEY 409 POST "$inv/actions/mark-paid" "${json[@]}" -H 'K2K-User: carol' \
	-d "{\"payment_date\": \"$today\", \"payment_reference\": \"SEPA-$po\"}"
expect_in_answer '"code":"not_allowed_in_state"'

step "Procurement approves (AP → AA)"
call PROCUREMENT_KEY 200 POST "$inv/actions/approve" "${json[@]}" -H 'K2K-User: alice' -d '{}'
expect_in_answer '"status":"AA"'

step "Accounting disputes the invoice (AA → D, waiting for the vendor), with a reason"
call ACCOUNTING_KEY 200 POST "$inv/actions/dispute" "${json[@]}" -H 'K2K-User: bob' \
	-d '{"reason": "freight was agreed free of charge on this PO"}'
expect_in_answer '"status":"D"'

step "The vendor reads the dispute (GET $inv, its dispute field)"
show_answer() { grep -o '"status":"[A-Z]*"\|"dispute":{[^}]*}' "$answer"; }
call VENDOR_KEY 200 GET "$inv"
show_answer() { cat "$answer"; }
expect_in_answer '"dispute":{"reason":"freight was agreed free of charge on this PO"'

step "The vendor answers with an update: revision 2 without the freight line (D → AP, warning set)"
update=$work/update.json
cat >"$update" <<JSON
{
  "update": {
    "invoice_number": "INV-$po-R2",
    "issue_date": "$today",
    "currency": "EUR",
    "total_minor": 130500,
    "lines": [
      {"description": "Steel brackets, 40 mm", "quantity": 500, "unit_price_minor": 189},
      {"description": "Assembly service", "quantity": 8, "unit_price_minor": 4500}
    ]
  }
}
JSON
printf '%s:\n' "${update#"$root"/}"
cat "$update"
call VENDOR_KEY 200 POST "$inv/actions/vendor-update" "${json[@]}" -H 'K2K-User: victor' \
	--data-binary "@${update#"$root"/}"
expect_in_answer '"status":"AP"'

step "Procurement's list of invoices with a warning (GET /v1/invoices?warning=true&po=…)"
call PROCUREMENT_KEY 200 GET "/v1/invoices?warning=true&po=$po"
expect_in_answer '"update_pending":true'

step "Procurement tries to approve before reviewing the update: refused (409 update_unreviewed)"
call PROCUREMENT_KEY 409 POST "$inv/actions/approve" "${json[@]}" -H 'K2K-User: alice' -d '{}'
expect_in_answer '"code":"update_unreviewed"'

step "Procurement reviews the new revision (clears the warning) and approves again (AP → AA)"
call PROCUREMENT_KEY 200 POST "$inv/actions/acknowledge-update" "${json[@]}" -H 'K2K-User: alice' -d '{}'
call PROCUREMENT_KEY 200 POST "$inv/actions/approve" "${json[@]}" -H 'K2K-User: alice' -d '{}'
expect_in_answer '"status":"AA"'

step "Alice, who approved it for procurement, tries to approve its payment too: refused (409 same_user; the buyer separates duties)"
call ACCOUNTING_KEY 409 POST "$inv/actions/approve-payment" "${json[@]}" -H 'K2K-User: alice' -d '{}'
expect_in_answer '"code":"same_user"'

step "Accounting approves payment (AA → A); the invoice goes to the accounting system (ES), which refuses it (F)"
call ACCOUNTING_KEY 200 POST "$inv/actions/approve-payment" "${json[@]}" -H 'K2K-User: bob' -d '{}'
expect_in_answer '"status":"A"'

# await_status STATUS: polls the invoice until it is in STATUS (the export runs on its own).
await_status() {
	local code
	for _ in $(seq 1 100); do
		code=$(curl -s -o "$work/poll.json" -w '%{http_code}' -H "Authorization: Bearer $ACCOUNTING_KEY" "$gw$inv")
		[[ $code == 200 ]] && grep -q "\"status\":\"$1\"" "$work/poll.json" && { echo "invoice $id is in $1"; return; }
		sleep 0.2
	done
	die "invoice $id did not reach $1"
}
await_status F

step "Accounting sends it again (F → ES); this time the accounting system takes it (S)"
call ACCOUNTING_KEY 200 POST "$inv/actions/send-to-accounting" "${json[@]}" -H 'K2K-User: bob' -d '{}'
expect_in_answer '"status":"ES"'
await_status S

step "Accounting marks it paid (S → P)"
call ACCOUNTING_KEY 200 POST "$inv/actions/mark-paid" "${json[@]}" -H 'K2K-User: bob' \
	-d "{\"payment_date\": \"$today\", \"payment_reference\": \"SEPA-$po\"}"
expect_in_answer '"status":"P"'

step "The vendor credits part of the paid invoice: credit note CN-$po (POST /v1/credit-notes, in AP)"
call VENDOR_KEY 201 POST /v1/credit-notes "${json[@]}" -H 'K2K-User: victor' \
	-d "{\"invoice_id\": $id, \"credit_note\": {\"number\": \"CN-$po\", \"issue_date\": \"$today\", \"currency\": \"EUR\", \"total_minor\": 9000, \"reason\": \"two assembly hours not done\", \"lines\": [{\"description\": \"Assembly service\", \"quantity\": 2, \"unit_price_minor\": 4500}]}}"
expect_in_answer '"status":"AP"'
credit_note=$(json_field id)
[[ $credit_note =~ ^[0-9]+$ ]] || die "no credit note id in the answer"

step "Procurement approves the credit note (AP → AA), accounting applies it (AA → CA)"
call PROCUREMENT_KEY 200 POST "/v1/credit-notes/$credit_note/actions/approve-credit-note" "${json[@]}" -H 'K2K-User: alice' -d '{}'
expect_in_answer '"status":"AA"'
call ACCOUNTING_KEY 200 POST "/v1/credit-notes/$credit_note/actions/apply-credit-note" "${json[@]}" -H 'K2K-User: bob' -d '{}'
expect_in_answer '"status":"CA"'

step "The vendor tries to credit more than is left: refused (409 over_credit)"
call VENDOR_KEY 409 POST /v1/credit-notes "${json[@]}" -H 'K2K-User: victor' \
	-d "{\"invoice_id\": $id, \"credit_note\": {\"number\": \"CN-$po-2\", \"issue_date\": \"$today\", \"currency\": \"EUR\", \"total_minor\": 999999, \"reason\": \"everything\", \"lines\": [{\"description\": \"All\", \"quantity\": 1, \"unit_price_minor\": 999999}]}}"
expect_in_answer '"code":"over_credit"'

step "The invoice with its revisions and audit events (GET /v1/invoices/$id)"
# The answer is long: show the invoice's own fields, then count its revisions and events.
show_answer() {
	sed 's/,"revisions":.*$/, "revisions": […], "events": […]}/' "$answer"
	cp "$answer" "$work/invoice.json"
}
call PROCUREMENT_KEY 200 GET "$inv"
show_answer() { cat "$answer"; }
expect_in_answer '"status":"P"'
expect_in_answer '"update_pending":false'
grep -o '{"revision":[0-9]*,"invoice_number":"[^"]*","issue_date":"[^"]*","currency":"[^"]*","total_minor":[0-9]*' "$answer" |
	sed 's/{"revision":\([0-9]*\),"invoice_number":"\([^"]*\)",.*"currency":"\([^"]*\)","total_minor":\([0-9]*\)/revision \1: \2, total_minor \4 \3/'
[[ $(grep -o '{"revision":[0-9]*,"invoice_number"' "$answer" | wc -l) == 2 ]] || die "expected 2 revisions"
echo "$(grep -o '"occurred_at":' "$answer" | wc -l) audit events: $(grep -o '"kind":"[a-z_]*"\(,"action":"[a-z_]*"\)\{0,1\}' "$answer" |
	sed 's/"kind":"\([a-z_]*\)"\(,"action":"\([a-z_]*\)"\)\{0,1\}/\1 \3/; s/ $//' | paste -sd, - | sed 's/,/, /g')"
echo "credited_minor $(json_field credited_minor), net_minor $(json_field net_minor) (total_minor $(json_field total_minor))"
[[ $(json_field net_minor) == 121500 ]] || die "expected the net amount 121500 after the credit note"
echo "(the whole answer: ${work#"$root"/}/invoice.json)"

step "A download link of revision 2's PDF (GET $inv/revisions/2/pdf)"
call PROCUREMENT_KEY 200 GET "$inv/revisions/2/pdf"
pdf_url=$(json_field url | sed 's/\\u0026/\&/g')  # JSON escapes & as \u0026
curl -sf -o "$work/invoice-r2.pdf" "$pdf_url" || die "the download link does not work"
head -c 5 "$work/invoice-r2.pdf" | grep -q '%PDF-' || die "the download is not a PDF"
echo "downloaded ${work#"$root"/}/invoice-r2.pdf ($(wc -c <"$work/invoice-r2.pdf") bytes)"

step "What the accounting system received (starter receive verified every signature)"
cat "$work/accounting.log"
grep -q '^verified .* with [0-9]* bytes of EN 16931 XML' "$work/accounting.log" || die "the accounting system verified no delivery"

step "What the buyer's webhook endpoint received, in order, every signature verified"
for _ in $(seq 1 50); do grep -q 'credit_note.rejected' "$work/hooks.log" && break; sleep 0.2; done  # the last event the demo makes
cat "$work/hooks.log"
grep -q '^verified .* invoice.transition mark_paid S→P' "$work/hooks.log" || die "the webhook endpoint did not get the payment"

step "Done. The invoice in the Temporal UI:"
echo "$K2K_TEMPORAL_UI_URL/namespaces/$TEMPORAL_NAMESPACE/workflows/$(printf %s "$workflow_id" | sed 's|/|%2F|g')"
echo "The dev stack stays up for a look (gateway at $gw, API description at $gw/openapi.json); stop it with: make down"
echo "The demo's API keys are revoked as it ends. To send the requests above again, make keys of your own:"
echo "  source .dev/env"
echo "  VENDOR_KEY=\$(starter apikey create --company $vendor --role vendor --label mine)"
echo "  PROCUREMENT_KEY=\$(starter apikey create --company $buyer --role procurement --label mine)"
echo "  ACCOUNTING_KEY=\$(starter apikey create --company $buyer --role accounting --label mine)"
