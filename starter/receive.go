package main

// A receiver of signed deliveries, for trying webhooks and the accounting export by hand (the
// demo runs two): it verifies each message's Standard Webhooks signature and prints it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

type receiveCmd struct {
	Listen      string `default:"127.0.0.1:0" help:"Address to listen on (port 0: a free one)."`
	AddressFile string `name:"address-file" help:"Write the URL it listens on to this file once it listens."`
	SecretFile  string `name:"secret-file" required:"" help:"File holding the signing secret (whsec_…), read at each delivery, so it may be written after the receiver starts."`
	RefuseFirst int    `name:"refuse-first" help:"Answer 422 to the first N deliveries (as an accounting system that refuses), then 200."`
}

func (c *receiveCmd) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	if c.AddressFile != "" {
		if err := os.WriteFile(c.AddressFile, []byte(url), 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("receiving  on %s\n", url)
	var mu sync.Mutex
	n := 0
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		secret, err := os.ReadFile(c.SecretFile)
		var wh *standardwebhooks.Webhook
		if err == nil {
			wh, err = standardwebhooks.NewWebhook(strings.TrimSpace(string(secret)))
		}
		if err == nil {
			err = wh.Verify(body, r.Header)
		}
		id := r.Header.Get("webhook-id")
		if err != nil {
			fmt.Printf("REJECTED   %s: signature does not verify: %v\n", id, err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		n++
		refuse := n <= c.RefuseFirst
		mu.Unlock()
		fmt.Printf("verified   %s %s\n", id, describeDelivery(body))
		if refuse {
			fmt.Printf("answered   422 (refusing %d of the first %d)\n", n, c.RefuseFirst)
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write([]byte(`{"error":"cost centre unknown"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"reference":"REF-%d"}`, n)
	})}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// describeDelivery says in one line what a delivery carries: a webhook event, or an exported invoice.
func describeDelivery(body []byte) string {
	var m struct {
		Type string `json:"type"`
		Data struct {
			Action string `json:"action"`
			From   string `json:"from"`
			To     string `json:"to"`
			Key    string `json:"key"`
		} `json:"data"`
		Invoice struct {
			InvoiceNumber string `json:"invoice_number"`
			TotalMinor    int64  `json:"total_minor"`
			Currency      string `json:"currency"`
		} `json:"invoice"`
		EInvoiceXML string `json:"einvoice_xml"`
	}
	_ = json.Unmarshal(body, &m)
	if m.Type != "" {
		return strings.Join(strings.Fields(fmt.Sprintf("%s %s %s→%s (%s)", m.Type, m.Data.Action, m.Data.From, m.Data.To, m.Data.Key)), " ")
	}
	return fmt.Sprintf("invoice %s for %d %s, with %d bytes of EN 16931 XML", m.Invoice.InvoiceNumber, m.Invoice.TotalMinor,
		m.Invoice.Currency, len(m.EInvoiceXML))
}
