package activities

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

func TestNotifierPostsJSONWithIdempotencyKey(t *testing.T) {
	var got Notification
	var key, contentType string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, contentType = r.Header.Get("Idempotency-Key"), r.Header.Get("Content-Type")
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Errorf("decode body: %v", err)
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	note := Notification{EventKey: "wf#7", Kind: "reminder", WorkflowID: "wf", BuyerID: "B", Status: invoice.StatusAA,
		WaitingFor: "buyer accounting to approve payment", Since: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Reminder: 2}
	if err := NewNotifier(srv.URL).Send(context.Background(), note); err != nil {
		t.Fatal(err)
	}
	if key != "wf#7" || contentType != "application/json" || got != note {
		t.Errorf("posted %+v with key %q and type %q; want %+v, wf#7, application/json", got, key, contentType, note)
	}
}

func TestNotifierErrors(t *testing.T) {
	for _, c := range []struct {
		status    int
		retryable bool
	}{
		{http.StatusBadRequest, false},
		{http.StatusNotFound, false},
		{http.StatusTooManyRequests, true},
		{http.StatusInternalServerError, true},
		{http.StatusBadGateway, true},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(c.status) }))
		err := NewNotifier(srv.URL).Send(context.Background(), Notification{EventKey: "k"})
		srv.Close()
		var appErr *temporal.ApplicationError
		nonRetryable := errors.As(err, &appErr) && appErr.NonRetryable()
		if err == nil || nonRetryable == c.retryable {
			t.Errorf("HTTP %d: err = %v, want an error that is retryable=%t", c.status, err, c.retryable)
		}
	}
}

func TestNoNotifierWithoutURL(t *testing.T) {
	if n := NewNotifier(""); n != nil {
		t.Errorf("NewNotifier(\"\") = %+v, want nil (no hook configured)", n)
	}
	a := &Activities{}
	if err := a.Notify(context.Background(), Notification{}); err != nil {
		t.Errorf("Notify without a hook = %v, want nil", err)
	}
}
