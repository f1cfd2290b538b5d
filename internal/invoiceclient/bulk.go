package invoiceclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// MaxBulk is the most invoices one bulk action may name.
const MaxBulk = 100

// bulkParallel is how many of a bulk action's updates are in flight at once.
const bulkParallel = 8

// BulkActions are the actions that may be sent to many invoices at once: the approvals, whose
// requests carry nothing of their own but the actor.
var BulkActions = []invoice.Action{invoice.ActionApprove, invoice.ActionApprovePayment}

// ItemKey is the idempotency key of one invoice's item in a bulk action sent under key: key, "/",
// and 16 hex digits of the SHA-256 of the invoice's workflow ID. Each item is applied once however
// often the whole request is sent again, through whichever door.
func ItemKey(key, workflowID string) string {
	sum := sha256.Sum256([]byte(workflowID))
	return key + "/" + hex.EncodeToString(sum[:8])
}

// MaxBulkKeyLen is the longest key a bulk request may carry: its items' keys must fit
// invoice.MaxIdempotencyKeyLen.
const MaxBulkKeyLen = invoice.MaxIdempotencyKeyLen - 17

// BulkItem is one invoice's action of a bulk request.
type BulkItem struct {
	WorkflowID string
	Request    invoice.ActionRequest
}

// BulkAnswer is one item's outcome: the workflow's answer (accepted, or refused with Refusal
// set), or Err when it could not be answered (an outage; sending the request again is safe).
type BulkAnswer struct {
	Answer  workflows.Answer
	Refusal *invoice.Refusal
	Err     error
}

// DoEach sends every item as Do does, bulkParallel at a time, and returns the answers in the
// items' order. One item's refusal or failure does not stop the others.
func (c *Client) DoEach(ctx context.Context, items []BulkItem) []BulkAnswer {
	answers := make([]BulkAnswer, len(items))
	slots := make(chan struct{}, bulkParallel)
	var wg sync.WaitGroup
	for i, item := range items {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			answer, err := c.Do(ctx, item.WorkflowID, item.Request)
			answers[i] = BulkAnswer{Answer: answer}
			var refusal *invoice.Refusal
			switch {
			case errors.As(err, &refusal):
				answers[i].Refusal = refusal
			case err != nil:
				answers[i].Err = err
			}
		})
	}
	wg.Wait()
	return answers
}

// CheckBulk checks a bulk action's shape before anything is sent: an action that may be sent in
// bulk, an idempotency key short enough for its items' keys, between one and MaxBulk items, none
// named twice. keyField and field name the key and the list in errors.
func CheckBulk(action invoice.Action, keyField, key, field string, ids []string) error {
	v := &invoice.ValidationError{}
	if !slices.Contains(BulkActions, action) {
		v.Fields = append(v.Fields, invoice.FieldError{Field: "action", Rule: fmt.Sprintf("must be one of %v to be sent in bulk", BulkActions)})
	}
	if len(key) > MaxBulkKeyLen {
		v.Fields = append(v.Fields, invoice.FieldError{Field: keyField,
			Rule: fmt.Sprintf("must be at most %d bytes in a bulk request (each item's key adds 17), got %d", MaxBulkKeyLen, len(key))})
	}
	if len(ids) == 0 || len(ids) > MaxBulk {
		v.Fields = append(v.Fields, invoice.FieldError{Field: field, Rule: fmt.Sprintf("must name between 1 and %d invoices, got %d", MaxBulk, len(ids))})
		ids = nil // too many to name each repeat
	}
	seen := map[string]int{}
	for i, id := range ids {
		if first, dup := seen[id]; dup {
			v.Fields = append(v.Fields, invoice.FieldError{Field: fmt.Sprintf("%s[%d]", field, i),
				Rule: fmt.Sprintf("names the same invoice as %s[%d]", field, first)})
			continue
		}
		seen[id] = i
	}
	if len(v.Fields) > 0 {
		return v
	}
	return nil
}
