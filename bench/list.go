package main

// The list phase: GET /v1/invoices through the gateway with many invoice rows in PostgreSQL,
// seeded with COPY: several buyers and vendors, statuses spread, created_at spread over two years,
// and one buyer whose rows are all older than everyone else's.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/k2kinvoice/autoinvoice/internal/gateway"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
)

// ListResult is the list phase's measurements.
type ListResult struct {
	Requests int        `json:"requests_per_shape"`
	Sizes    []ListSize `json:"sizes"`
	// Plans are the plans PostgreSQL chose for each shape at the largest size.
	PlansAt int        `json:"plans_at_rows"`
	Plans   []ListPlan `json:"plans"`
}

// ListSize is every query shape at one table size.
type ListSize struct {
	Rows        int         `json:"rows"`
	SeedSeconds float64     `json:"seed_seconds"`
	Shapes      []ListShape `json:"shapes"`
}

// ListShape is one kind of list request and its latency.
type ListShape struct {
	Name     string  `json:"name"`
	Query    string  `json:"query"`
	P50      float64 `json:"p50_ms"`
	P95      float64 `json:"p95_ms"`
	PageRows int     `json:"page_rows"` // invoices on the page (the default page size is 20)
}

// ListPlan is a shape's plan, from the top node down to the scan.
type ListPlan struct {
	Shape string `json:"shape"`
	Plan  string `json:"plan"`
}

// The companies of the list phase.
const (
	listBuyers  = 8
	listVendors = 40
	skewedBuyer = "LB-OLD"
	topBuyer    = "LB-01"
	topVendor   = "LV-01"
)

// buyerShares are the buyers' shares of the invoices (after the skewed buyer's), in percent.
var buyerShares = []int{30, 20, 14, 10, 8, 7, 6, 5}

// listShape is a request and the store filter the gateway makes of it.
type listShape struct {
	name   string
	key    string // whose API key: a buyer's procurement, the vendor's, the skewed buyer's
	query  string
	filter store.InvoiceFilter
}

// list seeds each size in a database of its own and measures every shape on it.
func (l *lab) list(ctx context.Context) (*ListResult, error) {
	st, dbURL, drop, err := newDatabase(ctx)
	if err != nil {
		return nil, err
	}
	defer drop()
	defer st.Close()
	keys, err := listCompanies(ctx, st)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer((&gateway.Server{Store: st, Log: quiet, Ready: st.Ping}).Handler())
	defer srv.Close()

	res := &ListResult{Requests: l.cfg.ListRequests}
	var shapes []listShape
	for _, rows := range l.cfg.ListSizes {
		began := time.Now()
		po, err := seedInvoices(ctx, conn, rows)
		if err != nil {
			return res, err
		}
		size := ListSize{Rows: rows, SeedSeconds: time.Since(began).Seconds()}
		l.logf("list: %d invoice rows seeded in %.1fs", rows, size.SeedSeconds)
		shapes = listShapes(po)
		for _, s := range shapes {
			m, err := measureList(ctx, srv.URL, keys[s.key], s, l.cfg.ListRequests)
			if err != nil {
				return res, err
			}
			size.Shapes = append(size.Shapes, m)
		}
		res.Sizes = append(res.Sizes, size)
	}
	if len(shapes) > 0 {
		res.PlansAt = res.Sizes[len(res.Sizes)-1].Rows
		for _, s := range shapes {
			plan, err := explain(ctx, st, s.filter)
			if err != nil {
				return res, err
			}
			res.Plans = append(res.Plans, ListPlan{Shape: s.name, Plan: plan})
		}
	}
	return res, nil
}

// listShapes are the shapes measured: a buyer unfiltered and with each filter of the list
// (docs: README "List invoices", the OpenAPI document), a vendor unfiltered, and the buyer whose
// invoices are all older than anyone else's. po is one of the top buyer's PO numbers.
func listShapes(po string) []listShape {
	yes := true
	buyer := func(name, query string, f store.InvoiceFilter) listShape {
		f.BuyerID, f.Limit = topBuyer, 20
		return listShape{name: name, key: topBuyer, query: query, filter: f}
	}
	return []listShape{
		buyer("buyer", "", store.InvoiceFilter{}),
		buyer("buyer status=AP", "status=AP", store.InvoiceFilter{Status: invoice.StatusAP}),
		buyer("buyer vendor=", "vendor="+topVendor, store.InvoiceFilter{Counterpart: topVendor}),
		buyer("buyer po=", "po="+po, store.InvoiceFilter{PONumber: po}),
		buyer("buyer warning=true", "warning=true", store.InvoiceFilter{Warning: &yes}),
		buyer("buyer discrepancy=true", "discrepancy=true", store.InvoiceFilter{Discrepancy: &yes}),
		{name: "vendor", key: topVendor, filter: store.InvoiceFilter{VendorID: topVendor, Limit: 20}},
		{name: "skewed buyer", key: skewedBuyer, filter: store.InvoiceFilter{BuyerID: skewedBuyer, Limit: 20}},
	}
}

// listCompanies creates the buyers and vendors and an API key for each company a shape lists as.
func listCompanies(ctx context.Context, st *store.Store) (map[string]string, error) {
	var ids []string
	for i := range listBuyers {
		ids = append(ids, fmt.Sprintf("LB-%02d", i+1))
	}
	for i := range listVendors {
		ids = append(ids, fmt.Sprintf("LV-%02d", i+1))
	}
	for _, id := range append(ids, skewedBuyer) {
		if err := st.CompanyUpsert(ctx, store.Company{ID: id, Name: "List " + id, AutoInvoiceSync: true, AcceptK2KInvoices: true}); err != nil {
			return nil, err
		}
	}
	keys := map[string]string{}
	for company, role := range map[string]invoice.Role{topBuyer: invoice.RoleProcurement, skewedBuyer: invoice.RoleProcurement, topVendor: invoice.RoleVendor} {
		_, secret, err := st.APIKeyCreate(ctx, company, role, "bench")
		if err != nil {
			return nil, err
		}
		keys[company] = secret
	}
	return keys, nil
}

// seedInvoices replaces the invoices with rows ones, oldest first (so IDs follow created_at, as
// they do in production): the skewed buyer's 2% first, three to two years old, then everyone
// else's over the last two years. It returns a PO number of the top buyer.
func seedInvoices(ctx context.Context, conn *pgx.Conn, rows int) (string, error) {
	if _, err := conn.Exec(ctx, `TRUNCATE vendor_invoices RESTART IDENTITY CASCADE`); err != nil {
		return "", err
	}
	rng := rand.New(rand.NewPCG(uint64(rows), 42))
	now := time.Now().UTC().Truncate(time.Hour)
	skewed := max(1, rows/50)
	day := 24 * time.Hour
	var po string
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= rows {
			return nil, nil
		}
		var buyer string
		var created time.Time
		if i < skewed {
			buyer = skewedBuyer
			created = now.Add(-3 * 365 * day).Add(time.Duration(float64(365*day) * float64(i) / float64(skewed)))
		} else {
			buyer = pickBuyer(rng)
			created = now.Add(-2 * 365 * day).Add(time.Duration(float64(2*365*day) * float64(i-skewed) / float64(rows-skewed)))
		}
		vendor := fmt.Sprintf("LV-%02d", 1+int(float64(listVendors)*rng.Float64()*rng.Float64())) // the first vendors sell most
		status := pickStatus(rng, now.Sub(created))
		pending := status != invoice.StatusP && rng.IntN(10) == 0
		revision := 1
		if pending {
			revision = 2
		}
		total := int64(1000 + rng.IntN(5_000_000))
		poTotal := total
		if rng.IntN(100) < 6 {
			poTotal = total - int64(1+rng.IntN(int(total/10)))
		}
		number := fmt.Sprintf("%08d", i)
		if buyer == topBuyer && (po == "" || i < rows/2) {
			po = "PO-" + number
		}
		updated := created.Add(time.Duration(rng.IntN(30*24)) * time.Hour)
		if updated.After(now) {
			updated = now
		}
		i++
		return []any{fmt.Sprintf("k2k-invoice/%s/%s/PO-%s", vendor, buyer, number), vendor, buyer, "PO-" + number,
			"INV-" + number, string(status), revision, "EUR", total, poTotal, pending, created, updated}, nil
	})
	_, err := conn.CopyFrom(ctx, pgx.Identifier{"vendor_invoices"}, []string{"workflow_id", "vendor_id", "buyer_id", "po_number",
		"invoice_number", "status", "current_revision", "currency", "total_minor", "po_total_minor", "update_pending",
		"created_at", "updated_at"}, src)
	if err != nil {
		return "", fmt.Errorf("COPY %d invoices: %w", rows, err)
	}
	// As autovacuum would have by then: statistics for the planner, the visibility map for
	// index-only scans.
	_, err = conn.Exec(ctx, `VACUUM ANALYZE vendor_invoices`)
	return po, err
}

func pickBuyer(rng *rand.Rand) string {
	n := rng.IntN(100)
	for i, share := range buyerShares {
		if n < share {
			return fmt.Sprintf("LB-%02d", i+1)
		}
		n -= share
	}
	return fmt.Sprintf("LB-%02d", len(buyerShares))
}

// pickStatus: invoices older than three months are nearly all paid (97% P, 1% each of A, AA and
// AP); recent ones are spread (40% P, 15% A, 20% AA, 25% AP).
func pickStatus(rng *rand.Rand, age time.Duration) invoice.Status {
	cuts := []int{40, 55, 75}
	if age > 90*24*time.Hour {
		cuts = []int{97, 98, 99}
	}
	n := rng.IntN(100)
	for i, s := range []invoice.Status{invoice.StatusP, invoice.StatusA, invoice.StatusAA} {
		if n < cuts[i] {
			return s
		}
	}
	return invoice.StatusAP
}

// measureList sends one warm-up request and then n timed ones, one after the other.
func measureList(ctx context.Context, base, key string, s listShape, n int) (ListShape, error) {
	out := ListShape{Name: s.name, Query: "GET /v1/invoices"}
	if s.query != "" {
		out.Query += "?" + s.query
	}
	url := base + "/v1/invoices"
	if s.query != "" {
		url += "?" + s.query
	}
	var latencies []float64
	for i := range n + 1 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return out, err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		t := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return out, err
		}
		var page gateway.InvoiceList
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return out, fmt.Errorf("%s answered %s (%v)", out.Query, resp.Status, err)
		}
		if i > 0 {
			latencies = append(latencies, ms(time.Since(t)))
		}
		out.PageRows = len(page.Invoices)
	}
	p := percentiles(latencies)
	out.P50, out.P95 = p.P50, p.P95
	return out, nil
}

// explain is the plan of the list query for f, from the top node down its first children:
// "Limit → Index Scan Backward using vendor_invoices_pkey (filter: …)".
func explain(ctx context.Context, st *store.Store, f store.InvoiceFilter) (string, error) {
	plan, err := st.ExplainInvoiceList(ctx, f)
	if err != nil {
		return "", err
	}
	var parts []string
	for n := &plan; n != nil; {
		s := n.NodeType
		if n.Direction == "Backward" {
			s += " Backward"
		}
		if n.Index != "" {
			s += " using " + n.Index
		}
		var conds []string
		if n.IndexCond != "" {
			conds = append(conds, "cond "+n.IndexCond)
		}
		if n.Filter != "" {
			conds = append(conds, "filter "+n.Filter)
		}
		if len(conds) > 0 {
			s += " (" + strings.Join(conds, "; ") + ")"
		}
		parts = append(parts, s)
		if len(n.Plans) == 0 {
			break
		}
		n = &n.Plans[0]
	}
	return strings.Join(parts, " → "), nil
}

func printList(w io.Writer, res *ListResult) {
	fmt.Fprintf(w, "\nGET /v1/invoices through the gateway (%d requests per shape, one after the other; ms)\n", res.Requests)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rows\tshape\trequest\tp50\tp95\tpage\t")
	for _, size := range res.Sizes {
		for _, s := range size.Shapes {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%.1f\t%.1f\t%d\t\n", size.Rows, s.Name, s.Query, s.P50, s.P95, s.PageRows)
		}
	}
	tw.Flush()
	if len(res.Plans) > 0 {
		fmt.Fprintf(w, "\nPlans at %d rows (EXPLAIN, top node down to the scan)\n", res.PlansAt)
		for _, p := range res.Plans {
			fmt.Fprintf(w, "  %-22s %s\n", p.Shape, p.Plan)
		}
	}
}
