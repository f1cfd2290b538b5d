-- The first schema of K2K Auto-Invoice: companies, their K2K connections and opt-in settings,
-- vendor invoices with their revisions, and the append-only audit log.

-- +goose Up
CREATE TABLE companies (
    id                  text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    name                text NOT NULL CHECK (name <> ''),
    -- Vendor setting: "Allow Automatic Invoice Synchronization with the Buyer Company".
    auto_invoice_sync   boolean NOT NULL DEFAULT false,
    -- Buyer setting: "Allow Invoices coming from K2K orders to be automatically uploaded".
    accept_k2k_invoices boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE k2k_connections (
    vendor_id  text NOT NULL REFERENCES companies (id),
    buyer_id   text NOT NULL REFERENCES companies (id),
    status     text NOT NULL CHECK (status IN ('pending', 'active', 'suspended', 'terminated')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vendor_id, buyer_id),
    CHECK (vendor_id <> buyer_id)
);

CREATE TABLE vendor_invoices (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id      text NOT NULL UNIQUE,
    vendor_id        text NOT NULL REFERENCES companies (id),
    buyer_id         text NOT NULL REFERENCES companies (id),
    po_number        text NOT NULL,
    invoice_number   text NOT NULL,
    status           text NOT NULL CHECK (status IN ('AP', 'AA', 'A', 'P')),
    current_revision integer NOT NULL CHECK (current_revision >= 1),
    currency         char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total_minor      bigint NOT NULL CHECK (total_minor > 0),
    po_total_minor   bigint NOT NULL CHECK (po_total_minor > 0),
    update_pending   boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- One invoice per (vendor, buyer, invoice number), and one invoice per order.
    CONSTRAINT vendor_invoices_number_key UNIQUE (vendor_id, buyer_id, invoice_number),
    CONSTRAINT vendor_invoices_order_key UNIQUE (vendor_id, buyer_id, po_number)
);

-- The buyer's PO Reconciliation lists its invoices by status.
CREATE INDEX vendor_invoices_buyer_status_idx ON vendor_invoices (buyer_id, status, id);

CREATE TABLE invoice_revisions (
    invoice_id     bigint NOT NULL REFERENCES vendor_invoices (id),
    revision       integer NOT NULL CHECK (revision >= 1),
    invoice_number text NOT NULL,
    issue_date     date NOT NULL,
    currency       char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total_minor    bigint NOT NULL CHECK (total_minor > 0),
    lines          jsonb NOT NULL,
    pdf_key        text NOT NULL,
    pdf_size       bigint NOT NULL CHECK (pdf_size > 0),
    pdf_sha256     char(64) NOT NULL CHECK (pdf_sha256 ~ '^[0-9a-f]{64}$'),
    pdf_source     text NOT NULL CHECK (pdf_source IN ('vendor', 'rendered')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (invoice_id, revision)
);

-- The audit log: every accepted or refused event, who, when, from, to, why. Rows are written
-- once, keyed by event_key so that a retried write is a no-op, and never changed.
CREATE TABLE invoice_events (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_key        text NOT NULL UNIQUE,
    workflow_id      text NOT NULL,
    invoice_id       bigint REFERENCES vendor_invoices (id),
    vendor_id        text NOT NULL,
    buyer_id         text NOT NULL,
    po_number        text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('not_eligible', 'rejected', 'invoice_created', 'transition', 'refused')),
    action           text,
    actor_company_id text,
    actor_user_id    text,
    actor_role       text,
    from_status      text,
    to_status        text,
    code             text,
    reason           text,
    occurred_at      timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX invoice_events_workflow_idx ON invoice_events (workflow_id, id);
CREATE INDEX invoice_events_invoice_idx ON invoice_events (invoice_id, id) WHERE invoice_id IS NOT NULL;

-- +goose StatementBegin
CREATE FUNCTION invoice_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'invoice_events is append-only: % is not allowed', TG_OP;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER invoice_events_append_only
    BEFORE UPDATE OR DELETE ON invoice_events
    FOR EACH ROW EXECUTE FUNCTION invoice_events_append_only();

-- +goose Down
DROP TABLE invoice_events;
DROP FUNCTION invoice_events_append_only();
DROP TABLE invoice_revisions;
DROP TABLE vendor_invoices;
DROP TABLE k2k_connections;
DROP TABLE companies;
