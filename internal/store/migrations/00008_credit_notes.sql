-- Credit notes: a vendor's credit against a paid invoice, approved by the buyer (AP, AA) and then
-- applied (CA). Several per invoice, together at most its total; numbered uniquely per vendor and
-- buyer. Their audit rows go to invoice_events, naming the invoice and the credit note.

-- +goose Up
CREATE TABLE credit_notes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id  text NOT NULL UNIQUE,
    invoice_id   bigint NOT NULL REFERENCES vendor_invoices (id),
    vendor_id    text NOT NULL REFERENCES companies (id),
    buyer_id     text NOT NULL REFERENCES companies (id),
    number       text NOT NULL,
    issue_date   date NOT NULL,
    currency     char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total_minor  bigint NOT NULL CHECK (total_minor > 0),
    reason       text NOT NULL CHECK (reason <> ''),
    lines        jsonb NOT NULL,
    status       text NOT NULL CHECK (status IN ('AP', 'AA', 'CA')),
    pdf_key      text NOT NULL,
    pdf_size     bigint NOT NULL CHECK (pdf_size > 0),
    pdf_sha256   char(64) NOT NULL CHECK (pdf_sha256 ~ '^[0-9a-f]{64}$'),
    pdf_source   text NOT NULL CHECK (pdf_source IN ('vendor', 'rendered')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credit_notes_number_key UNIQUE (vendor_id, buyer_id, number)
);

CREATE INDEX credit_notes_invoice_idx ON credit_notes (invoice_id, id);

ALTER TABLE invoice_events ADD COLUMN credit_note_id bigint REFERENCES credit_notes (id);
ALTER TABLE invoice_events DROP CONSTRAINT invoice_events_kind_check;
ALTER TABLE invoice_events ADD CONSTRAINT invoice_events_kind_check
    CHECK (kind IN ('not_eligible', 'rejected', 'invoice_created', 'transition', 'refused', 'reminder', 'credit_note_created'));

-- +goose Down
ALTER TABLE invoice_events DROP CONSTRAINT invoice_events_kind_check;
ALTER TABLE invoice_events ADD CONSTRAINT invoice_events_kind_check
    CHECK (kind IN ('not_eligible', 'rejected', 'invoice_created', 'transition', 'refused', 'reminder'));
ALTER TABLE invoice_events DROP COLUMN credit_note_id;
DROP TABLE credit_notes;
