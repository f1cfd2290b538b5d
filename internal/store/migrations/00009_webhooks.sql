-- Webhooks: companies register endpoints; every audit event of their invoices and credit notes
-- is written to an outbox in the same transaction as the audit row, and delivered from there in
-- order per invoice, signed (Standard Webhooks), retried with backoff, each attempt logged.

-- +goose Up
CREATE TABLE webhook_endpoints (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id   text NOT NULL REFERENCES companies (id),
    url          text NOT NULL CHECK (url ~ '^https?://'),
    -- The signing secret, "whsec_" and base64; returned once, when the endpoint is created.
    secret       text NOT NULL CHECK (secret ~ '^whsec_'),
    -- The event types delivered; empty: every type.
    event_types  text[] NOT NULL DEFAULT '{}',
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webhook_endpoints_company_idx ON webhook_endpoints (company_id) WHERE active;

CREATE TABLE webhook_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id     bigint NOT NULL REFERENCES webhook_endpoints (id),
    event_key       text NOT NULL,
    event_type      text NOT NULL,
    -- Messages of one ordering key (an invoice's workflow) reach an endpoint in id order.
    ordering_key    text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    delivered_at    timestamptz,
    last_error      text,
    UNIQUE (endpoint_id, event_key)
);

-- The dispatcher's queue: what is still to deliver, oldest first per endpoint and invoice.
CREATE INDEX webhook_outbox_pending_idx ON webhook_outbox (endpoint_id, ordering_key, id) WHERE delivered_at IS NULL;

CREATE TABLE webhook_deliveries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id    bigint NOT NULL REFERENCES webhook_outbox (id),
    attempted_at timestamptz NOT NULL DEFAULT now(),
    status_code  integer,
    error        text,
    duration_ms  integer NOT NULL
);

CREATE INDEX webhook_deliveries_outbox_idx ON webhook_deliveries (outbox_id, id);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_outbox;
DROP TABLE webhook_endpoints;
