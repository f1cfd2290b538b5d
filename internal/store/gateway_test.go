package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
)

func TestAPIKeys(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	o := seed(t, st)
	key, secret, err := st.APIKeyCreate(ctx, o.BuyerID, invoice.RoleAccounting, "erp")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "k2k_"+key.ID+"_") || len(secret) != len("k2k_")+16+1+64 {
		t.Fatalf("key %q does not have the form k2k_<16 hex id>_<64 hex secret>", secret)
	}
	got, err := st.APIKeyAuthenticate(ctx, secret)
	if err != nil || got.ID != key.ID || got.CompanyID != o.BuyerID || got.Role != invoice.RoleAccounting || got.Label != "erp" {
		t.Errorf("authenticate = %+v, %v; want the key", got, err)
	}
	wrong := secret[:len(secret)-1] + map[bool]string{true: "0", false: "1"}[secret[len(secret)-1] != '0']
	for _, bad := range []string{"", "k2k_", "Bearer " + secret, wrong, strings.Replace(secret, "k2k_", "k3k_", 1), secret + "0"} {
		if _, err := st.APIKeyAuthenticate(ctx, bad); !errors.Is(err, store.ErrUnauthenticated) {
			t.Errorf("authenticate(%q) = %v, want ErrUnauthenticated", bad, err)
		}
	}
	if err := st.APIKeyRevoke(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.APIKeyAuthenticate(ctx, secret); !errors.Is(err, store.ErrUnauthenticated) {
		t.Errorf("authenticate a revoked key = %v, want ErrUnauthenticated", err)
	}
	if err := st.APIKeyRevoke(ctx, key.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke twice = %v, want ErrNotFound", err)
	}
	if _, _, err := st.APIKeyCreate(ctx, "NO-SUCH-COMPANY", invoice.RoleVendor, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("key for an unknown company = %v, want ErrNotFound", err)
	}
}

func TestIdempotencyKeys(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	o := seed(t, st)
	stored, err := st.IdempotencyBegin(ctx, o.BuyerID, "k1", strings.Repeat("a", 64))
	if err != nil || stored != nil {
		t.Fatalf("first begin = %v, %v; want nil, nil (process it)", stored, err)
	}
	if _, err := st.IdempotencyBegin(ctx, o.BuyerID, "k1", strings.Repeat("a", 64)); !errors.Is(err, store.ErrIdempotencyInProgress) {
		t.Errorf("begin while in progress = %v, want ErrIdempotencyInProgress", err)
	}
	answer := store.StoredResponse{StatusCode: 201, ContentType: "application/json", Body: []byte(`{"id":1}`)}
	if err := st.IdempotencyFinish(ctx, o.BuyerID, "k1", answer); err != nil {
		t.Fatal(err)
	}
	stored, err = st.IdempotencyBegin(ctx, o.BuyerID, "k1", strings.Repeat("a", 64))
	if err != nil || stored == nil || stored.StatusCode != 201 || string(stored.Body) != `{"id":1}` || stored.ContentType != "application/json" {
		t.Errorf("replay = %+v, %v; want the first answer", stored, err)
	}
	if _, err := st.IdempotencyBegin(ctx, o.BuyerID, "k1", strings.Repeat("b", 64)); !errors.Is(err, store.ErrIdempotencyMismatch) {
		t.Errorf("same key, another request = %v, want ErrIdempotencyMismatch", err)
	}
	// Keys are per company.
	if stored, err := st.IdempotencyBegin(ctx, o.VendorID, "k1", strings.Repeat("b", 64)); err != nil || stored != nil {
		t.Errorf("another company's k1 = %v, %v; want a fresh claim", stored, err)
	}
	// A released key (the first attempt failed on our side) can be claimed again.
	if err := st.IdempotencyRelease(ctx, o.VendorID, "k1"); err != nil {
		t.Fatal(err)
	}
	if stored, err := st.IdempotencyBegin(ctx, o.VendorID, "k1", strings.Repeat("c", 64)); err != nil || stored != nil {
		t.Errorf("claim after release = %v, %v; want a fresh claim", stored, err)
	}
}

func TestInvoiceListFiltersAndPages(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	o := seed(t, st)
	var ids []int64
	for i, po := range []string{"PO-A", "PO-B", "PO-C"} {
		oi := o
		oi.PONumber, oi.InvoiceNumber = po, "INV-"+po
		if i == 1 {
			oi.POTotalMinor = 900 // a discrepancy
		}
		inv, err := st.InvoiceCreate(ctx, newInvoice(oi, "wf-"+o.VendorID+po))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, inv.ID)
	}
	list := func(f store.InvoiceFilter) []int64 {
		t.Helper()
		if f.Limit == 0 {
			f.Limit = 10
		}
		got, err := st.InvoiceList(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, i := range got {
			out = append(out, i.ID)
		}
		return out
	}
	yes := true
	for name, c := range map[string]struct {
		f    store.InvoiceFilter
		want []int64
	}{
		"buyer, newest first":   {store.InvoiceFilter{BuyerID: o.BuyerID}, []int64{ids[2], ids[1], ids[0]}},
		"vendor side":           {store.InvoiceFilter{VendorID: o.VendorID}, []int64{ids[2], ids[1], ids[0]}},
		"by PO":                 {store.InvoiceFilter{BuyerID: o.BuyerID, PONumber: "PO-B"}, []int64{ids[1]}},
		"discrepancy":           {store.InvoiceFilter{BuyerID: o.BuyerID, Discrepancy: &yes}, []int64{ids[1]}},
		"warning":               {store.InvoiceFilter{BuyerID: o.BuyerID, Warning: &yes}, nil},
		"status AA":             {store.InvoiceFilter{BuyerID: o.BuyerID, Status: invoice.StatusAA}, nil},
		"other vendor":          {store.InvoiceFilter{BuyerID: o.BuyerID, Counterpart: "NOPE"}, nil},
		"page after the newest": {store.InvoiceFilter{BuyerID: o.BuyerID, AfterID: ids[2], Limit: 1}, []int64{ids[1]}},
		"another buyer":         {store.InvoiceFilter{BuyerID: o.VendorID}, nil},
	} {
		if got := list(c.f); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: ids %v, want %v", name, got, c.want)
		}
	}
}
