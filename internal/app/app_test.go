package app

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestProbe(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	ctx := context.Background()
	if err := Probe(ctx, "0.0.0.0:"+port); err != nil {
		t.Errorf("probe of a healthy server: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := Probe(ctx, ":"+port); err == nil {
		t.Error("probe of an unhealthy server succeeded")
	}
	if err := Probe(ctx, "no-port"); err == nil {
		t.Error("probe of a malformed address succeeded")
	}
}
