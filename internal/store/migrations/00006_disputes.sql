-- Disputes and voids: a buyer can dispute an invoice (status D, waiting for the vendor) and the
-- vendor can void it (status V, terminal). A voided order can be confirmed again: each
-- confirmation of the same order (the same workflow ID) owns its own invoice row, numbered from 1.
-- A voided invoice keeps its number: a new confirmation needs a new invoice number.

-- +goose Up
ALTER TABLE vendor_invoices DROP CONSTRAINT vendor_invoices_status_check;
ALTER TABLE vendor_invoices ADD CONSTRAINT vendor_invoices_status_check
    CHECK (status IN ('AP', 'AA', 'A', 'P', 'D', 'V'));
ALTER TABLE vendor_invoices ADD COLUMN confirmation integer NOT NULL DEFAULT 1 CHECK (confirmation >= 1);
ALTER TABLE vendor_invoices DROP CONSTRAINT vendor_invoices_workflow_id_key;
ALTER TABLE vendor_invoices ADD CONSTRAINT vendor_invoices_workflow_confirmation_key UNIQUE (workflow_id, confirmation);
ALTER TABLE vendor_invoices DROP CONSTRAINT vendor_invoices_order_key;
ALTER TABLE vendor_invoices ADD CONSTRAINT vendor_invoices_order_key
    UNIQUE (vendor_id, buyer_id, po_number, confirmation);

-- +goose Down
ALTER TABLE vendor_invoices DROP CONSTRAINT vendor_invoices_order_key;
ALTER TABLE vendor_invoices ADD CONSTRAINT vendor_invoices_order_key UNIQUE (vendor_id, buyer_id, po_number);
ALTER TABLE vendor_invoices DROP CONSTRAINT vendor_invoices_workflow_confirmation_key;
ALTER TABLE vendor_invoices ADD CONSTRAINT vendor_invoices_workflow_id_key UNIQUE (workflow_id);
ALTER TABLE vendor_invoices DROP COLUMN confirmation;
ALTER TABLE vendor_invoices DROP CONSTRAINT vendor_invoices_status_check;
ALTER TABLE vendor_invoices ADD CONSTRAINT vendor_invoices_status_check CHECK (status IN ('AP', 'AA', 'A', 'P'));
