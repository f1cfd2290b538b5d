package main

// Webhook endpoints: register, list, turn off and on, read the delivery log, redeliver.

import (
	"context"
	"fmt"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
)

type webhookCmd struct {
	Add       webhookAddCmd       `cmd:"" help:"Register a company's webhook endpoint; prints its signing secret once."`
	List      webhookListCmd      `cmd:"" help:"List webhook endpoints."`
	Disable   webhookActiveCmd    `cmd:"" help:"Turn an endpoint off: nothing more is queued for it."`
	Enable    webhookActiveCmd    `cmd:"" help:"Turn an endpoint on again."`
	Messages  webhookMessagesCmd  `cmd:"" help:"An endpoint's latest messages: delivered, waiting, and why the last attempt failed."`
	Redeliver webhookRedeliverCmd `cmd:"" help:"Send a message again, under the same webhook-id."`
}

type webhookAddCmd struct {
	Company    string   `required:"" help:"The company whose invoices' events are delivered (as vendor and as buyer)."`
	URL        string   `name:"url" required:"" help:"Where to POST each event (http or https)."`
	EventTypes []string `name:"event-type" help:"Deliver only these event types (repeat the flag); none: every type."`
}

func (c *webhookAddCmd) Run(ctx context.Context) error {
	var fields []invoice.FieldError
	if rule := invoice.CheckHTTPURL(c.URL); rule != "" {
		fields = append(fields, invoice.FieldError{Field: "--url", Rule: rule})
	}
	for _, t := range c.EventTypes {
		if rule := invoice.CheckEventType(t); rule != "" {
			fields = append(fields, invoice.FieldError{Field: "--event-type", Rule: rule})
		}
	}
	if fields != nil {
		return &invoice.ValidationError{Fields: fields}
	}
	return withStore(ctx, func(st *store.Store) error {
		ep, secret, err := st.WebhookEndpointAdd(ctx, c.Company, c.URL, c.EventTypes, store.Operator)
		if err != nil {
			return err
		}
		fmt.Printf("endpoint   %d of %s: %s, %s\n", ep.ID, ep.CompanyID, ep.URL, typesOf(ep))
		fmt.Printf("secret     %s (keep it now: it is not shown again; verify each message's webhook-signature with it)\n", secret)
		return nil
	})
}

type webhookListCmd struct {
	Company string `help:"Only this company's endpoints."`
}

func (c *webhookListCmd) Run(ctx context.Context) error {
	return withStore(ctx, func(st *store.Store) error {
		eps, err := st.WebhookEndpoints(ctx, c.Company)
		if err != nil {
			return err
		}
		for _, ep := range eps {
			state := "on"
			if !ep.Active {
				state = "off"
			}
			fmt.Printf("endpoint   %d of %s: %s, %s, %s\n", ep.ID, ep.CompanyID, ep.URL, typesOf(ep), state)
		}
		return nil
	})
}

func typesOf(ep store.WebhookEndpoint) string {
	if len(ep.EventTypes) == 0 {
		return "every event type"
	}
	return strings.Join(ep.EventTypes, ", ")
}

type webhookActiveCmd struct {
	ID int64 `required:"" help:"The endpoint's ID."`
}

func (c *webhookActiveCmd) Run(ctx context.Context, kctx *kong.Context) error {
	on := kctx.Selected().Name == "enable"
	return withStore(ctx, func(st *store.Store) error {
		if err := st.WebhookEndpointSetActive(ctx, c.ID, on, store.Operator); err != nil {
			return err
		}
		fmt.Printf("endpoint   %d: %s\n", c.ID, map[bool]string{true: "on", false: "off"}[on])
		return nil
	})
}

type webhookMessagesCmd struct {
	Endpoint int64 `required:"" help:"The endpoint's ID."`
	Limit    int   `default:"20" help:"How many of the latest messages."`
}

func (c *webhookMessagesCmd) Run(ctx context.Context) error {
	return withStore(ctx, func(st *store.Store) error {
		msgs, err := st.WebhookMessages(ctx, c.Endpoint, c.Limit)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			state := "waiting"
			if m.DeliveredAt != nil {
				state = "delivered " + m.DeliveredAt.UTC().Format("2006-01-02T15:04:05Z")
			}
			if m.LastError != "" {
				state += ", last attempt: " + m.LastError
			}
			fmt.Printf("message    %s %s %s: %s after %d attempt(s)\n", m.MessageID(), m.EventType, m.EventKey, state, m.Attempts)
		}
		return nil
	})
}

type webhookRedeliverCmd struct {
	Message int64 `required:"" help:"The message's number (webhook-id msg_N)."`
}

func (c *webhookRedeliverCmd) Run(ctx context.Context) error {
	return withStore(ctx, func(st *store.Store) error {
		if err := st.WebhookRedeliver(ctx, c.Message); err != nil {
			return err
		}
		fmt.Printf("message    msg_%d: due again\n", c.Message)
		return nil
	})
}
