#!/usr/bin/env bash
# Walks one demo K2K order through its life on the dev stack: two companies with an active
# connection and both settings on, an order confirmed, its invoice in AP with a PDF in S3, a
# refused out-of-order action, an approval, a vendor update that sends it back to AP with a
# warning, the buyer's review, then approve → approve payment → paid. Leaves the stack up.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/devstack.sh" up
# shellcheck source=/dev/null
source "$root/.dev/env"
starter=$root/.dev/bin/starter
step() { printf '\n### %s\n' "$*"; }

vendor=ACME-SUPPLY
buyer=GLOBEX-RETAIL
po="PO-$(date -u +%Y%m%d-%H%M%S)"
order=$root/.dev/demo-order.json

step "Two companies, an active K2K connection, both settings on"
"$starter" company upsert --id "$vendor" --name "Acme Supply Co." --auto-invoice-sync
"$starter" company upsert --id "$buyer" --name "Globex Retail Ltd." --accept-k2k-invoices
"$starter" connection upsert --vendor "$vendor" --buyer "$buyer" --status active

step "The vendor confirms order $po"
cat >"$order" <<JSON
{
  "vendor_id": "$vendor",
  "buyer_id": "$buyer",
  "po_number": "$po",
  "invoice_number": "INV-$po",
  "issue_date": "$(date -u +%Y-%m-%d)",
  "currency": "EUR",
  "total_minor": 131850,
  "po_total_minor": 131850,
  "lines": [
    {"description": "Steel brackets, 40 mm", "quantity": 500, "unit_price_minor": 189},
    {"description": "Assembly service", "quantity": 8, "unit_price_minor": 4500},
    {"description": "Freight", "quantity": 1, "unit_price_minor": 1350}
  ]
}
JSON
cat "$order"
"$starter" confirm "$order"

act() { "$starter" "$@" --vendor "$vendor" --buyer "$buyer" --po "$po"; }

step "Accounting tries to pay before procurement approved: refused, status unchanged"
if act mark-paid --company "$buyer" --user carol --role accounting \
	--payment-date "$(date -u +%Y-%m-%d)" --payment-reference "SEPA-$po"; then
	echo "expected a refusal" >&2
	exit 1
fi

step "Procurement approves (AP → AA)"
act approve --company "$buyer" --user alice --role procurement

step "The vendor updates the invoice: revision 2 with an extra line (back to AP, warning set)"
update=$root/.dev/demo-update.json
cat >"$update" <<JSON
{
  "invoice_number": "INV-$po-R2",
  "issue_date": "$(date -u +%Y-%m-%d)",
  "currency": "EUR",
  "total_minor": 134350,
  "lines": [
    {"description": "Steel brackets, 40 mm", "quantity": 500, "unit_price_minor": 189},
    {"description": "Assembly service", "quantity": 8, "unit_price_minor": 4500},
    {"description": "Freight", "quantity": 1, "unit_price_minor": 1350},
    {"description": "Express surcharge", "quantity": 1, "unit_price_minor": 2500}
  ]
}
JSON
act vendor-update "$update" --company "$vendor" --user victor --role vendor
act status

step "Procurement tries to approve before reviewing the update: refused"
if act approve --company "$buyer" --user alice --role procurement; then
	echo "expected a refusal" >&2
	exit 1
fi

step "Procurement reviews the new revision (clears the warning) and approves again"
act acknowledge-update --company "$buyer" --user alice --role procurement
act approve --company "$buyer" --user alice --role procurement
step "Accounting approves payment (AA → A)"
act approve-payment --company "$buyer" --user bob --role accounting
step "Accounting marks it paid (A → P)"
act mark-paid --company "$buyer" --user bob --role accounting \
	--payment-date "$(date -u +%Y-%m-%d)" --payment-reference "SEPA-$po"

step "Final state"
act status
workflow_id=$("$starter" status --json --vendor "$vendor" --buyer "$buyer" --po "$po" | sed -n 's/^  "workflow_id": "\(.*\)",$/\1/p')
step "Done. The invoice in the Temporal UI:"
echo "$K2K_TEMPORAL_UI_URL/namespaces/$TEMPORAL_NAMESPACE/workflows/$(printf %s "$workflow_id" | sed 's|/|%2F|g')"
echo "The dev stack stays up for a look; stop it with: make down"
