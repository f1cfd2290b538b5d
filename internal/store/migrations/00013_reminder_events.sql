-- A reminder's audit row (and so its webhook message) says whom the invoice waits for and which
-- reminder of the stay it is.

-- +goose Up
ALTER TABLE invoice_events
    ADD COLUMN waiting_on text CHECK (waiting_on IN ('buyer', 'vendor')),
    ADD COLUMN reminder integer CHECK (reminder > 0);

-- +goose Down
ALTER TABLE invoice_events DROP COLUMN reminder, DROP COLUMN waiting_on;
