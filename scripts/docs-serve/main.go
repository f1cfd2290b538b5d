// Command docs-serve serves the gateway's own HTTP handler with no PostgreSQL, S3 or Temporal
// behind it, so the API reference page (/docs) and the OpenAPI document can be looked at without
// the stack; scripts/docs-check.sh loads the page from it in a headless browser. Only /docs,
// /openapi.json and /healthz answer as in the gateway; every other path answers 503.
//
//	docs-serve [-listen 127.0.0.1:0]   prints the base URL on its first line, serves until SIGINT/SIGTERM
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/gateway"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (port 0: any free port)")
	flag.Parse()
	if err := run(*listen); err != nil {
		fmt.Fprintln(os.Stderr, "docs-serve:", err)
		os.Exit(1)
	}
}

func run(listen string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	api := (&gateway.Server{Log: log, Ready: func(context.Context) error {
		return errors.New("docs-serve has no PostgreSQL, S3 or Temporal")
	}}).Handler()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "/docs" || strings.HasPrefix(p, "/docs/") || p == "/openapi.json" || p == "/healthz" {
			api.ServeHTTP(w, r)
			return
		}
		http.Error(w, "docs-serve serves only /docs, /openapi.json and /healthz", http.StatusServiceUnavailable)
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Printf("http://%s\n", ln.Addr())
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
