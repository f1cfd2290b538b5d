-- A refused connection action is audited too: a row with the status unchanged, the refusal code
-- and its reason.

-- +goose Up
ALTER TABLE connection_changes
    ADD COLUMN refused text,
    ADD COLUMN reason text,
    ADD CONSTRAINT connection_changes_refused_check CHECK ((refused IS NULL) = (reason IS NULL) AND (refused IS NULL OR from_status = to_status));

-- +goose Down
ALTER TABLE connection_changes DROP CONSTRAINT connection_changes_refused_check, DROP COLUMN reason, DROP COLUMN refused;
