package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/gateway"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
)

// list lists invoices with the key and a query, and returns their IDs and the next page token.
func list(t *testing.T, token, query string) ([]int64, string) {
	t.Helper()
	l := decode[gateway.InvoiceList](t, get(t, "/v1/invoices?"+query, token), http.StatusOK)
	ids := []int64{}
	for _, s := range l.Invoices {
		ids = append(ids, s.ID)
	}
	return ids, l.NextPageToken
}

// TestListInvoices: a buyer's and a vendor's lists, each filter, paging, and the summaries.
func TestListInvoices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newParty(t)
	// A second vendor of the same buyer.
	v2 := invoice.Order{VendorID: "V2" + p.Order.VendorID}
	if err := deps.Store.CompanyUpsert(ctx, store.Company{ID: v2.VendorID, Name: "Second vendor", AutoInvoiceSync: true}); err != nil {
		t.Fatal(err)
	}
	if err := deps.Store.ConnectionUpsert(ctx, v2.VendorID, p.Order.BuyerID, store.ConnectionActive); err != nil {
		t.Fatal(err)
	}
	v2Token := apiKey(t, v2.VendorID, invoice.RoleVendor)

	// 1: no discrepancy, AP. 2: a discrepancy, approved into AA. 3: the second vendor's, updated
	// (warning, a discrepancy).
	o1, i1 := confirm(t, p, func(o *invoice.Order) {
		o.PONumber, o.InvoiceNumber, o.POTotalMinor = o.PONumber+"-1", o.InvoiceNumber+"-1", o.TotalMinor
	})
	o2, i2 := confirm(t, p, func(o *invoice.Order) { o.PONumber, o.InvoiceNumber = o.PONumber+"-2", o.InvoiceNumber+"-2" })
	accepted(t, act(t, i2.InvoiceID, "approve", p.Procurement, `{}`, nil), invoice.ActionApprove, invoice.StatusAA)
	o3, i3 := confirm(t, testenv.Party{Order: p.Order, Vendor: v2Token}, func(o *invoice.Order) {
		o.VendorID, o.PONumber, o.POTotalMinor = v2.VendorID, o.PONumber+"-3", o.TotalMinor
	})
	accepted(t, act(t, i3.InvoiceID, "vendor-update", v2Token, update(o3, ""), nil), invoice.ActionVendorUpdate, invoice.StatusAP)

	all := []int64{i3.InvoiceID, i2.InvoiceID, i1.InvoiceID}
	for _, c := range []struct {
		query string
		want  []int64
	}{
		{"", all},
		{"status=AP", []int64{i3.InvoiceID, i1.InvoiceID}},
		{"status=AA", []int64{i2.InvoiceID}},
		{"status=A", []int64{}},
		{"status=P", []int64{}},
		{"vendor=" + url.QueryEscape(v2.VendorID), []int64{i3.InvoiceID}},
		{"vendor=" + url.QueryEscape(p.Order.VendorID), []int64{i2.InvoiceID, i1.InvoiceID}},
		{"po=" + url.QueryEscape(o1.PONumber), []int64{i1.InvoiceID}},
		{"po=" + strings.Repeat("9", 64), []int64{}},
		{"po=" + url.QueryEscape(strings.Repeat("ä", 64)), []int64{}},
		{"warning=true", []int64{i3.InvoiceID}},
		{"warning=false", []int64{i2.InvoiceID, i1.InvoiceID}},
		{"discrepancy=true", []int64{i3.InvoiceID, i2.InvoiceID}},
		{"discrepancy=false", []int64{i1.InvoiceID}},
		{"status=AP&discrepancy=true&warning=true&vendor=" + url.QueryEscape(v2.VendorID), []int64{i3.InvoiceID}},
		{"page_size=100", all},
		// A buyer's filter by buyer is not one: the buyer is the key's company.
		{"buyer=NOBODY", all},
	} {
		if got, _ := list(t, p.Procurement, c.query); !slices.Equal(got, c.want) {
			t.Errorf("GET /v1/invoices?%s = %v, want %v", c.query, got, c.want)
		}
	}
	// Pages: full pages carry a token, the page after the last is empty and has none.
	var paged []int64
	query := "page_size=1"
	for range 5 {
		ids, next := list(t, p.Accounting, query)
		paged = append(paged, ids...)
		if (next == "") != (len(ids) == 0) {
			t.Fatalf("page %v with next page token %q", ids, next)
		}
		if next == "" {
			break
		}
		query = "page_size=1&page_token=" + url.QueryEscape(next)
	}
	if !slices.Equal(paged, all) {
		t.Errorf("pages of one: %v, want %v", paged, all)
	}
	if ids, next := list(t, p.Accounting, "page_size=2"); !slices.Equal(ids, all[:2]) || next == "" {
		t.Errorf("a page of 2: %v, token %q", ids, next)
	} else if ids, next := list(t, p.Accounting, "page_size=2&page_token="+next); !slices.Equal(ids, all[2:]) || next != "" {
		t.Errorf("the last page of 2: %v, token %q; want %v and no token", ids, next, all[2:])
	}
	// The vendor's list: its own invoices, by buyer too; the vendor filter is not one.
	if got, _ := list(t, p.Vendor, "vendor=NOBODY"); !slices.Equal(got, []int64{i2.InvoiceID, i1.InvoiceID}) {
		t.Errorf("vendor's list = %v", got)
	}
	if got, _ := list(t, p.Vendor, "buyer="+url.QueryEscape(p.Order.BuyerID)+"&status=AA"); !slices.Equal(got, []int64{i2.InvoiceID}) {
		t.Errorf("vendor's list by buyer and status = %v", got)
	}
	if got, _ := list(t, p.Vendor, "buyer=NOBODY"); len(got) != 0 {
		t.Errorf("vendor's list for another buyer = %v", got)
	}
	// Summaries.
	l := decode[gateway.InvoiceList](t, get(t, "/v1/invoices?status=AA", p.Procurement), http.StatusOK)
	if s := l.Invoices[0]; s.ID != i2.InvoiceID || s.WorkflowID != i2.WorkflowID || s.VendorID != o2.VendorID || s.BuyerID != o2.BuyerID ||
		s.PONumber != o2.PONumber || s.InvoiceNumber != o2.InvoiceNumber || s.Status != invoice.StatusAA || s.Revision != 1 || s.Currency != "EUR" ||
		s.TotalMinor != 131850 || s.POTotalMinor != 130000 || s.DiscrepancyMinor != 1850 || s.UpdatePending || s.CreatedAt.IsZero() ||
		s.UpdatedAt.Before(s.CreatedAt) {
		t.Errorf("summary of invoice 2: %+v", s)
	}
	l = decode[gateway.InvoiceList](t, get(t, "/v1/invoices?warning=true", p.Procurement), http.StatusOK)
	if s := l.Invoices[0]; s.Revision != 2 || !s.UpdatePending || s.TotalMinor != 131900 || s.DiscrepancyMinor != 131900-o3.POTotalMinor ||
		s.InvoiceNumber != o3.InvoiceNumber+"-R" {
		t.Errorf("summary of the updated invoice: %+v", s)
	}

	// One invoice: its revisions and events, for the buyer and the vendor alike.
	v := invoiceView(t, i3.InvoiceID, v2Token)
	if v.InvoiceSummary != l.Invoices[0] {
		t.Errorf("invoice %+v, its summary in the list %+v", v.InvoiceSummary, l.Invoices[0])
	}
	if len(v.Revisions) != 2 || v.Revisions[0].Revision != 1 || v.Revisions[0].InvoiceNumber != o3.InvoiceNumber ||
		v.Revisions[0].IssueDate != o3.IssueDate || v.Revisions[0].TotalMinor != o3.TotalMinor || len(v.Revisions[0].Lines) != 3 ||
		v.Revisions[1].Revision != 2 || v.Revisions[1].IssueDate != "2026-11-28" || v.Revisions[1].Currency != "EUR" ||
		v.Revisions[1].Lines[2].UnitPriceMinor != 1400 || v.Revisions[1].PDFSize <= 0 || len(v.Revisions[1].PDFSHA256) != 64 ||
		v.Revisions[1].PDFSource != string(invoice.PDFRendered) {
		t.Errorf("revisions %+v", v.Revisions)
	}
	if len(v.Events) != 2 || v.Events[0].Kind != invoice.EventInvoiceCreated || v.Events[1].Action != invoice.ActionVendorUpdate ||
		v.Events[1].Reason != "one more pallet" {
		t.Errorf("events %+v", v.Events)
	}
	if b := invoiceView(t, i3.InvoiceID, p.Accounting); b.ID != v.ID || len(b.Events) != 2 {
		t.Errorf("the buyer's view %+v", b.InvoiceSummary)
	}
	// Not the vendor's, another company's, or no invoice at all: 404, alike.
	notFound := want{status: http.StatusNotFound, slug: "not-found", title: "Not found", detail: "no such resource for this API key"}
	stranger := newParty(t)
	for _, c := range []struct{ path, token string }{
		{fmt.Sprint(i3.InvoiceID), p.Vendor},
		{fmt.Sprint(i3.InvoiceID), stranger.Procurement},
		{fmt.Sprint(i3.InvoiceID), stranger.Vendor},
		{"0", p.Procurement},
		{"-3", p.Procurement},
		{"3x", p.Procurement},
		{"987654321", p.Procurement},
	} {
		problem(t, get(t, "/v1/invoices/"+c.path, c.token), notFound)
		problem(t, get(t, "/v1/invoices/"+c.path+"/revisions/1/pdf", c.token), notFound)
	}

	// PDF links: a URL that downloads the revision's bytes, for a minute.
	for rev, token := range map[int]string{1: p.Procurement, 2: v2Token} {
		before := time.Now()
		link := decode[gateway.PDFLink](t, get(t, fmt.Sprintf("/v1/invoices/%d/revisions/%d/pdf", i3.InvoiceID, rev), token), http.StatusOK)
		if link.SHA256 != v.Revisions[rev-1].PDFSHA256 || link.ExpiresAt.Before(before.Add(time.Minute)) || link.ExpiresAt.After(time.Now().Add(time.Minute)) {
			t.Errorf("link to revision %d: %+v, want its sha256 and an expiry a minute ahead", rev, link)
		}
		resp, err := httpClient.Get(link.URL)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if sum := sha256.Sum256(data); err != nil || resp.StatusCode != http.StatusOK || hex.EncodeToString(sum[:]) != link.SHA256 {
			t.Errorf("download of revision %d: %d, %v, sha256 %x; want %s", rev, resp.StatusCode, err, sum, link.SHA256)
		}
	}
	for _, rev := range []string{"0", "-1", "3", "x"} {
		problem(t, get(t, fmt.Sprintf("/v1/invoices/%d/revisions/%s/pdf", i3.InvoiceID, rev), p.Procurement), notFound)
	}
}

// TestListInvoicesQueryRules: a query that breaks a rule is answered 422 naming each parameter.
func TestListInvoicesQueryRules(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	token := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for query, fields := range map[string][]string{
		"status=PAID":                            {"status"},
		"status=ap":                              {"status"},
		"warning=maybe":                          {"warning"},
		"discrepancy=2":                          {"discrepancy"},
		"page_size=0":                            {"page_size"},
		"page_size=101":                          {"page_size"},
		"page_size=ten":                          {"page_size"},
		"page_token=%21%21":                      {"page_token"},
		"page_token=" + token("0"):               {"page_token"},
		"page_token=" + token("-5"):              {"page_token"},
		"page_token=" + token("x1"):              {"page_token"},
		"po=" + strings.Repeat("9", 65):          {"po"},
		"vendor=" + url.QueryEscape("\n1"):       {"vendor"},
		"buyer=" + url.QueryEscape("B\x7f"):      {"buyer"},
		"po=%FF":                                 {"po"},
		"status=X&page_size=0&warning=1&po=%0A1": {"status", "page_size", "po"},
	} {
		t.Run(query, func(t *testing.T) {
			w := want{status: http.StatusUnprocessableEntity, slug: "validation", title: "The request is not valid"}
			for _, f := range fields {
				w.fields = append(w.fields, [2]string{f, "must"})
			}
			if strings.HasPrefix(query, "page_token") {
				w.fields = [][2]string{{"page_token", "is not a token from a previous page"}}
			}
			pr := problem(t, get(t, "/v1/invoices?"+query, p.Procurement), w)
			if len(pr.Errors) != len(fields) {
				t.Errorf("errors %+v, want %d", pr.Errors, len(fields))
			}
		})
	}
}
