-- Separation of duties, a buyer setting: the user who approved an invoice for procurement may not
-- approve its payment nor mark it paid. On for companies created from now on; companies that
-- existed before keep working as they did (off) until they turn it on.

-- +goose Up
ALTER TABLE companies ADD COLUMN separate_duties boolean NOT NULL DEFAULT false;
ALTER TABLE companies ALTER COLUMN separate_duties SET DEFAULT true;

-- +goose Down
ALTER TABLE companies DROP COLUMN separate_duties;
