-- Self-service: admin API keys change their own company's settings, each change audited; K2K
-- connections are requested by one company and accepted or rejected by the other, suspended and
-- reactivated by either, each change audited (and delivered to webhooks).

-- +goose Up
ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check CHECK (role IN ('procurement', 'accounting', 'vendor', 'admin'));

CREATE TABLE settings_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id  text NOT NULL REFERENCES companies (id),
    setting     text NOT NULL,
    old_value   text NOT NULL,
    new_value   text NOT NULL,
    -- Who: the user the request named, and the API key it came with ('' from the ops CLI).
    user_id     text NOT NULL,
    api_key_id  text NOT NULL DEFAULT '',
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX settings_changes_company_idx ON settings_changes (company_id, id);

ALTER TABLE k2k_connections DROP CONSTRAINT k2k_connections_status_check;
ALTER TABLE k2k_connections ADD CONSTRAINT k2k_connections_status_check
    CHECK (status IN ('pending', 'active', 'suspended', 'rejected', 'terminated'));
ALTER TABLE k2k_connections ADD COLUMN requested_by text;

CREATE TABLE connection_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vendor_id   text NOT NULL,
    buyer_id    text NOT NULL,
    action      text NOT NULL,
    from_status text NOT NULL,
    to_status   text NOT NULL,
    company_id  text NOT NULL,
    user_id     text NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX connection_changes_pair_idx ON connection_changes (vendor_id, buyer_id, id);

-- +goose Down
DROP TABLE connection_changes;
ALTER TABLE k2k_connections DROP COLUMN requested_by;
ALTER TABLE k2k_connections DROP CONSTRAINT k2k_connections_status_check;
ALTER TABLE k2k_connections ADD CONSTRAINT k2k_connections_status_check
    CHECK (status IN ('pending', 'active', 'suspended', 'terminated'));
DROP TABLE settings_changes;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check CHECK (role IN ('procurement', 'accounting', 'vendor'));
