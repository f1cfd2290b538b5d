package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
)

// TestInvoiceListReadsAPageInIndexOrder checks the plan PostgreSQL picks for every filter of the
// invoice list, for a buyer, a vendor and a buyer whose invoices are all older than everyone
// else's, on a table of 40,000 invoices: an index scan that yields rows newest first, so a page
// costs the same however many rows there are. Never a sequential scan, never a walk of the
// primary key, never a sort of more than a few rows.
func TestInvoiceListReadsAPageInIndexOrder(t *testing.T) {
	ctx := context.Background()
	url := freshDatabase(t)
	st := openAt(t, url)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	seedInvoices(t, conn)

	yes, no := true, false
	filters := map[string]store.InvoiceFilter{
		"unfiltered":      {},
		"status":          {Status: invoice.StatusAA},
		"counterpart":     {Counterpart: "X"},
		"po number":       {PONumber: "PO-7"},
		"warning":         {Warning: &yes},
		"no warning":      {Warning: &no},
		"discrepancy":     {Discrepancy: &yes},
		"no discrepancy":  {Discrepancy: &no},
		"next page":       {AfterID: 20000},
		"status and page": {Status: invoice.StatusAP, AfterID: 20000},
	}
	for _, company := range []struct{ name, buyer, vendor, counterpart string }{
		{"buyer", "B1", "", "V1"}, {"vendor", "", "V1", "B1"}, {"buyer with the oldest invoices", "B-OLD", "", "V1"},
	} {
		for name, f := range filters {
			t.Run(company.name+"/"+name, func(t *testing.T) {
				f.BuyerID, f.VendorID, f.Limit = company.buyer, company.vendor, 50
				if f.Counterpart != "" {
					f.Counterpart = company.counterpart
				}
				plan, err := st.ExplainInvoiceList(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				var index string
				plan.Walk(func(n store.PlanNode) {
					switch {
					case n.NodeType == "Seq Scan":
						t.Errorf("sequential scan of %s", n.Relation)
					case n.Index == "vendor_invoices_pkey":
						t.Errorf("walks the primary key, filtering %s", n.Filter)
					case n.NodeType == "Sort" && n.Plans[0].Rows > maxSortedRows:
						t.Errorf("sorts %d rows (%v): no index serves them in order", n.Plans[0].Rows, n.SortKey)
					case n.Index != "":
						index = n.Index
					}
				})
				if index == "" {
					t.Errorf("no index used")
				}
				// A PO number pins the list to a few rows: the index must go straight to them, the
				// company matched by equality (a range on it would read all the company's entries).
				if f.PONumber != "" {
					plan.Walk(func(n store.PlanNode) {
						if n.Index != "" && !strings.Contains(n.IndexCond, "_id = ") {
							t.Errorf("the PO number's index scan is bounded by %s, not by the company's equality", n.IndexCond)
						}
					})
				}
				if t.Failed() {
					t.Logf("filter %+v\nplan %+v", f, plan)
				} else {
					t.Logf("%s", index)
				}
			})
		}
	}
}

// maxSortedRows is the most rows a list may sort rather than read in index order: a filter that
// leaves a company few invoices (a PO number, its warnings) may collect and sort them.
const maxSortedRows = 500

// seedInvoices copies 40,000 invoices into the table: first 2,000 of buyer B-OLD (the oldest
// rows), then the rest spread over 8 buyers and 5 vendors, with statuses, warnings and
// discrepancies mixed as in a real list; then it analyzes the table, as autovacuum would.
func seedInvoices(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	companies := []string{"B-OLD", "V1", "V2", "V3", "V4", "V5"}
	for b := 1; b <= 8; b++ {
		companies = append(companies, fmt.Sprintf("B%d", b))
	}
	for _, id := range companies {
		if _, err := conn.Exec(ctx, `INSERT INTO companies (id, name) VALUES ($1, $1)`, id); err != nil {
			t.Fatal(err)
		}
	}
	statuses := []string{"AP", "AA", "A", "P", "P", "P"}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const n, old = 40000, 2000
	rows := make([][]any, 0, n)
	for i := range n {
		buyer := fmt.Sprintf("B%d", 1+i%8)
		if i < old {
			buyer = "B-OLD"
		}
		vendor := fmt.Sprintf("V%d", 1+(i/8)%5)
		po := fmt.Sprintf("PO-%d", i)
		total, poTotal := int64(1000+i%97), int64(1000+i%97)
		if i%20 == 0 {
			poTotal++
		}
		at := start.Add(time.Duration(i) * time.Minute)
		rows = append(rows, []any{fmt.Sprintf("wf-%d", i), vendor, buyer, po, fmt.Sprintf("INV-%d", i),
			statuses[i%len(statuses)], 1, "EUR", total, poTotal, i%50 == 0, at, at})
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"vendor_invoices"}, []string{"workflow_id", "vendor_id", "buyer_id",
		"po_number", "invoice_number", "status", "current_revision", "currency", "total_minor", "po_total_minor",
		"update_pending", "created_at", "updated_at"}, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE vendor_invoices`); err != nil {
		t.Fatal(err)
	}
}
