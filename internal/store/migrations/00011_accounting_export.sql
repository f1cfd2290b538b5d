-- Export to the buyer's accounting system: a buyer configures an endpoint (URL and signing
-- secret); approved invoices are sent there (ES) and end synchronized (S) or failed (F).

-- +goose Up
ALTER TABLE vendor_invoices DROP CONSTRAINT vendor_invoices_status_check;
ALTER TABLE vendor_invoices ADD CONSTRAINT vendor_invoices_status_check
    CHECK (status IN ('AP', 'AA', 'A', 'ES', 'S', 'F', 'P', 'D', 'V'));

CREATE TABLE accounting_exports (
    buyer_id   text PRIMARY KEY REFERENCES companies (id),
    url        text NOT NULL CHECK (url ~ '^https?://'),
    -- The signing secret the buyer gave ("whsec_" and base64); never returned by the API.
    secret     text NOT NULL CHECK (secret ~ '^whsec_'),
    enabled    boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE accounting_exports;
ALTER TABLE vendor_invoices DROP CONSTRAINT vendor_invoices_status_check;
ALTER TABLE vendor_invoices ADD CONSTRAINT vendor_invoices_status_check
    CHECK (status IN ('AP', 'AA', 'A', 'P', 'D', 'V'));
