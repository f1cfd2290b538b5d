-- Tolerances: how far an invoice total may differ from its PO total and still be approved without
-- an override. A buyer sets one for all its vendors (vendor_id ''), and may set one per vendor
-- connection, which then replaces the buyer's. An invoice keeps the tolerance it was confirmed
-- under, so the buyer's lists can say where each invoice stands against it.

-- +goose Up
CREATE TABLE tolerances (
    buyer_id     text NOT NULL REFERENCES companies (id),
    -- '' for the buyer's tolerance for every vendor; else the vendor of one connection.
    vendor_id    text NOT NULL DEFAULT '',
    amount_minor bigint NOT NULL DEFAULT 0 CHECK (amount_minor >= 0),
    currency     char(3) CHECK (currency ~ '^[A-Z]{3}$'),
    percent_bp   bigint NOT NULL DEFAULT 0 CHECK (percent_bp BETWEEN 0 AND 10000),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (buyer_id, vendor_id),
    CHECK (amount_minor = 0 OR currency IS NOT NULL)
);

ALTER TABLE vendor_invoices ADD COLUMN tolerance_amount_minor bigint NOT NULL DEFAULT 0;
ALTER TABLE vendor_invoices ADD COLUMN tolerance_currency char(3);
ALTER TABLE vendor_invoices ADD COLUMN tolerance_percent_bp bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE vendor_invoices DROP COLUMN tolerance_percent_bp;
ALTER TABLE vendor_invoices DROP COLUMN tolerance_currency;
ALTER TABLE vendor_invoices DROP COLUMN tolerance_amount_minor;
DROP TABLE tolerances;
