-- Indexes for every filter of the invoice list, for buyers and vendors alike, each starting with
-- the company and ending in id, so the newest-first page is read in index order and stops at the
-- page size, however many rows the company has and however old they are. The discrepancy filter
-- is written as total_minor - po_total_minor compared with 0, with statistics on that expression,
-- so the planner knows how many invoices agree with their PO (without them it guesses 0.5 %).
-- Built concurrently: the list stays usable while they build.

-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY IF NOT EXISTS vendor_invoices_buyer_idx ON vendor_invoices (buyer_id, id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS vendor_invoices_vendor_status_idx ON vendor_invoices (vendor_id, status, id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS vendor_invoices_vendor_buyer_idx ON vendor_invoices (vendor_id, buyer_id, id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS vendor_invoices_vendor_po_idx ON vendor_invoices (vendor_id, po_number);
CREATE INDEX CONCURRENTLY IF NOT EXISTS vendor_invoices_vendor_pending_idx ON vendor_invoices (vendor_id, id) WHERE update_pending;
CREATE INDEX CONCURRENTLY IF NOT EXISTS vendor_invoices_buyer_discrepant_idx ON vendor_invoices (buyer_id, id) WHERE total_minor - po_total_minor <> 0;
CREATE INDEX CONCURRENTLY IF NOT EXISTS vendor_invoices_vendor_discrepant_idx ON vendor_invoices (vendor_id, id) WHERE total_minor - po_total_minor <> 0;
DROP INDEX CONCURRENTLY IF EXISTS vendor_invoices_buyer_discrepancy_idx;
CREATE STATISTICS IF NOT EXISTS vendor_invoices_discrepancy_stats ON (total_minor - po_total_minor) FROM vendor_invoices;
ANALYZE vendor_invoices;

-- +goose Down
DROP STATISTICS IF EXISTS vendor_invoices_discrepancy_stats;
CREATE INDEX CONCURRENTLY IF NOT EXISTS vendor_invoices_buyer_discrepancy_idx ON vendor_invoices (buyer_id, id) WHERE total_minor <> po_total_minor;
DROP INDEX CONCURRENTLY IF EXISTS vendor_invoices_vendor_discrepant_idx;
DROP INDEX CONCURRENTLY IF EXISTS vendor_invoices_buyer_discrepant_idx;
DROP INDEX CONCURRENTLY IF EXISTS vendor_invoices_vendor_pending_idx;
DROP INDEX CONCURRENTLY IF EXISTS vendor_invoices_vendor_po_idx;
DROP INDEX CONCURRENTLY IF EXISTS vendor_invoices_vendor_buyer_idx;
DROP INDEX CONCURRENTLY IF EXISTS vendor_invoices_vendor_status_idx;
DROP INDEX CONCURRENTLY IF EXISTS vendor_invoices_buyer_idx;
