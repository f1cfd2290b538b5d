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
	w.Standing = w.facts().Tolerance.Stand(w.Discrepancy, w.Order.POTotalMinor, w.Order.Currency)
	attrs := []temporal.SearchAttributeUpdate{AttrStatus.ValueSet(string(w.Status)),
		AttrInvoiceNumber.ValueSet(w.Order.InvoiceNumber), AttrRevision.ValueSet(int64(w.Revision)),
		AttrUpdatePending.ValueSet(w.UpdatePending), AttrStatusSince.ValueSet(w.StatusSince)}
	if w.shape >= shapeLocalSteps && w.Status.Terminal() {
		// The lifecycle ends here: the outcome goes in the same upsert.
		attrs = append(attrs, AttrOutcome.ValueSet(string(outcomeOf(w.Status))))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, attrs...); err != nil {
		return err
	}
	workflow.SetCurrentDetails(ctx, w.details())
	return nil
}

// findable sets the search attributes ops find the invoice by, unless the start set them already
// (ConfirmOrder.SearchAttributesSet). The workflow cannot look: a history read back from the
// server holds the attributes as they are now in its start event, so a replay would see the
// values of later upserts there and decide differently.
func (w *invoiceWorkflow) findable(ctx workflow.Context, setAtStart bool) error {
	if w.shape >= shapeLocalSteps && setAtStart {
		return nil
	}
	o := w.Order
	return workflow.UpsertTypedSearchAttributes(ctx, AttrVendor.ValueSet(o.VendorID),
		AttrBuyer.ValueSet(o.BuyerID), AttrPONumber.ValueSet(o.PONumber),
		AttrInvoiceNumber.ValueSet(o.InvoiceNumber))
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
		return "buyer accounting to approve payment" + w.notByApprover()
	case invoice.StatusA:
		return "buyer accounting to mark it paid" + w.notByApprover()
	case invoice.StatusD:
		return "the vendor to update or void the disputed invoice"
	case invoice.StatusES:
		return "the buyer's accounting system to take it"
	case invoice.StatusS:
		return "buyer accounting to mark it paid (it is in their accounting system)" + w.notByApprover()
	case invoice.StatusF:
		return "buyer accounting to send it again or return it to approved (the export failed)"
	}
	return "nothing"
}

// notByApprover names the user who may not take the next step, when the buyer separates duties.
func (w *invoiceWorkflow) notByApprover() string {
	if !w.SeparateDuties || w.ApprovedBy == "" {
		return ""
	}
	return fmt.Sprintf(" (by another user than %s, who approved it: the buyer separates duties)", w.ApprovedBy)
}

// details is the workflow's current details in the Temporal UI (markdown).
func (w *invoiceWorkflow) details() string {
	o := w.Order
	warning := ""
	if w.UpdatePending {
		warning = "\n\n⚠ The vendor updated this invoice; the buyer has not reviewed the update yet."
	}
	if w.Standing == invoice.StandingBeyond {
		warning += fmt.Sprintf("\n\nThe discrepancy (%s) is beyond the buyer's tolerance (%s)", invoice.FormatMoney(w.Discrepancy, o.Currency),
			w.facts().Tolerance.Describe(o.Currency))
		if w.Override != nil {
			warning += fmt.Sprintf("; approved by %s with the override: %s", w.Override.By.UserID, w.Override.Reason)
		}
		warning += "."
	}
	if w.Dispute != nil {
		warning += fmt.Sprintf("\n\nDisputed by %s (%s): %s", w.Dispute.By.UserID, w.Dispute.By.Role, w.Dispute.Reason)
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
