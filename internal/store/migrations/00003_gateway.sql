-- The HTTP gateway: API keys per company (only a hash of the secret is stored), the answers
-- kept per Idempotency-Key, and indexes for the buyer's invoice list filters.

-- +goose Up
CREATE TABLE api_keys (
    id            text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
    company_id    text NOT NULL REFERENCES companies (id),
    role          text NOT NULL CHECK (role IN ('procurement', 'accounting', 'vendor')),
    label         text NOT NULL CHECK (label <> ''),
    secret_sha256 char(64) NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
CREATE INDEX api_keys_company_idx ON api_keys (company_id);

CREATE TABLE idempotency_keys (
    company_id   text NOT NULL,
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    fingerprint  char(64) NOT NULL, -- SHA-256 of method, path and body
    status_code  integer,           -- NULL while the first request is in progress
    content_type text,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, key)
);

CREATE INDEX vendor_invoices_buyer_vendor_idx ON vendor_invoices (buyer_id, vendor_id, id);
CREATE INDEX vendor_invoices_buyer_po_idx ON vendor_invoices (buyer_id, po_number);
CREATE INDEX vendor_invoices_buyer_discrepancy_idx ON vendor_invoices (buyer_id, id) WHERE total_minor <> po_total_minor;
CREATE INDEX vendor_invoices_vendor_idx ON vendor_invoices (vendor_id, id);

-- +goose Down
DROP INDEX vendor_invoices_vendor_idx;
DROP INDEX vendor_invoices_buyer_discrepancy_idx;
DROP INDEX vendor_invoices_buyer_po_idx;
DROP INDEX vendor_invoices_buyer_vendor_idx;
DROP TABLE idempotency_keys;
DROP TABLE api_keys;
