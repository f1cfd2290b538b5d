-- Signing secrets may be stored sealed with the payload key ring (K2K_PAYLOAD_KEYS): "sealed:",
-- the key's ID and the ciphertext, instead of the secret itself.

-- +goose Up
ALTER TABLE webhook_endpoints DROP CONSTRAINT webhook_endpoints_secret_check;
ALTER TABLE webhook_endpoints ADD CONSTRAINT webhook_endpoints_secret_check CHECK (secret ~ '^(whsec_|sealed:)');
ALTER TABLE accounting_exports DROP CONSTRAINT accounting_exports_secret_check;
ALTER TABLE accounting_exports ADD CONSTRAINT accounting_exports_secret_check CHECK (secret ~ '^(whsec_|sealed:)');

-- +goose Down
ALTER TABLE accounting_exports DROP CONSTRAINT accounting_exports_secret_check;
ALTER TABLE accounting_exports ADD CONSTRAINT accounting_exports_secret_check CHECK (secret ~ '^whsec_');
ALTER TABLE webhook_endpoints DROP CONSTRAINT webhook_endpoints_secret_check;
ALTER TABLE webhook_endpoints ADD CONSTRAINT webhook_endpoints_secret_check CHECK (secret ~ '^whsec_');
