-- The whole lifecycle: vendor updates (new revisions, the warning flag), acknowledgements,
-- returns, cancelled approvals and reminders. Audit rows keep the warning flag they left.

-- +goose Up
ALTER TABLE invoice_events DROP CONSTRAINT invoice_events_kind_check;
ALTER TABLE invoice_events ADD CONSTRAINT invoice_events_kind_check
    CHECK (kind IN ('not_eligible', 'rejected', 'invoice_created', 'transition', 'refused', 'reminder'));
ALTER TABLE invoice_events ADD COLUMN update_pending boolean;
ALTER TABLE invoice_events ADD COLUMN revision integer;

-- The buyer's list of invoices with an unreviewed vendor update.
CREATE INDEX vendor_invoices_buyer_pending_idx ON vendor_invoices (buyer_id, id) WHERE update_pending;

-- +goose Down
DROP INDEX vendor_invoices_buyer_pending_idx;
ALTER TABLE invoice_events DROP COLUMN revision;
ALTER TABLE invoice_events DROP COLUMN update_pending;
ALTER TABLE invoice_events DROP CONSTRAINT invoice_events_kind_check;
ALTER TABLE invoice_events ADD CONSTRAINT invoice_events_kind_check
    CHECK (kind IN ('not_eligible', 'rejected', 'invoice_created', 'transition', 'refused'));
