package workflows

// The ops view: search attributes, the current details in the Temporal UI, metrics and activity
// summaries.

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// show keeps the ops view current: search attributes and the workflow's current details.
func (w *invoiceWorkflow) show(ctx workflow.Context) error {
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrStatus.ValueSet(string(w.Status)),
		AttrInvoiceNumber.ValueSet(w.Order.InvoiceNumber), AttrRevision.ValueSet(int64(w.Revision)),
		AttrUpdatePending.ValueSet(w.UpdatePending), AttrStatusSince.ValueSet(w.StatusSince)); err != nil {
		return err
	}
	workflow.SetCurrentDetails(ctx, w.details())
	return nil
}

// findable sets the search attributes ops find the invoice by, unless its start set them already
// with these values (invoiceclient's start does; a start from elsewhere may not).
func (w *invoiceWorkflow) findable(ctx workflow.Context) error {
	o := w.Order
	keys := []temporal.SearchAttributeKeyKeyword{AttrVendor, AttrBuyer, AttrPONumber, AttrInvoiceNumber}
	values := []string{o.VendorID, o.BuyerID, o.PONumber, o.InvoiceNumber}
	if w.shape >= shapeLocalSteps && setAtStart(workflow.GetTypedSearchAttributes(ctx), keys, values) {
		return nil
	}
	updates := make([]temporal.SearchAttributeUpdate, len(keys))
	for i, key := range keys {
		updates[i] = key.ValueSet(values[i])
	}
	return workflow.UpsertTypedSearchAttributes(ctx, updates...)
}

// setAtStart reports whether each of keys holds the value at the same place in values.
func setAtStart(sa temporal.SearchAttributes, keys []temporal.SearchAttributeKeyKeyword, values []string) bool {
	for i, key := range keys {
		if got, ok := sa.GetKeyword(key); !ok || got != values[i] {
			return false
		}
	}
	return true
}

// waitingFor says who the invoice waits for in its status.
func (w *invoiceWorkflow) waitingFor() string {
	if w.UpdatePending && !w.Status.Terminal() {
		return "the buyer to review the vendor's update"
	}
	switch w.Status {
	case invoice.StatusAP:
		return "buyer procurement to approve"
	case invoice.StatusAA:
		return "buyer accounting to approve payment"
	case invoice.StatusA:
		return "buyer accounting to mark it paid"
	}
	return "nothing"
}

// details is the workflow's current details in the Temporal UI (markdown).
func (w *invoiceWorkflow) details() string {
	o := w.Order
	warning := ""
	if w.UpdatePending {
		warning = "\n\n⚠ The vendor updated this invoice; the buyer has not reviewed the update yet."
	}
	// What the invoice waits for leads: the UI shows the first lines of the details.
	waiting := ""
	if !w.Status.Terminal() {
		waiting = "Waiting for " + w.waitingFor() + ".\n\n"
	}
	return fmt.Sprintf("%s**%s** (%s) since %s%s\n\nInvoice %s, revision %d: %s (PO total %s)",
		waiting, w.Status, w.Status.Label(), w.StatusSince.UTC().Format(time.RFC3339), warning, o.InvoiceNumber,
		w.Revision, invoice.FormatMoney(o.TotalMinor, o.Currency), invoice.FormatMoney(o.POTotalMinor, o.Currency))
}

// count adds one to a business counter (the SDK records nothing while the workflow replays).
func count(ctx workflow.Context, name string, tags map[string]string) {
	workflow.GetMetricsHandler(ctx).WithTags(tags).Counter(name).Inc(1)
}

// summarized gives the next activity a one-line summary for the Temporal UI.
func summarized(ctx workflow.Context, summary string) workflow.Context {
	opts := workflow.GetActivityOptions(ctx)
	opts.Summary = summary
	return workflow.WithActivityOptions(ctx, opts)
}
