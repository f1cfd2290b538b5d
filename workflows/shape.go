package workflows

// The workflow's shape on the server: how many history events and workflow tasks an invoice
// costs. Each change to it is versioned with workflow.GetVersion, so that histories recorded
// before the change replay on the branch they took.

import (
	"errors"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// changeLocalSteps names the change that made an invoice cheaper for the server: the database and
// storage steps run as local activities, one marker each instead of three activity events and a
// workflow task; a reminder timer is cancelled when its stay ends instead of firing later for
// nothing. Its marker is the workflow's one version marker: each later change that needs one is
// a higher version of it (shapeArrivalOrder, shapeKeepsCurrency, shapeWebhooks), so that it costs
// no event.
const changeLocalSteps = "local-steps"

// shapeLocalSteps is the version of changeLocalSteps that takes those steps.
const shapeLocalSteps workflow.Version = 1

// shapeArrivalOrder is the version of changeLocalSteps that also takes signals in the order the
// worker delivered them, noted by the ArrivalOrder interceptor, through one goroutine instead of a
// listener per message name (see listen). It adds no event: the marker of changeLocalSteps only
// carries the higher version.
const shapeArrivalOrder workflow.Version = 2

// shapeKeepsCurrency is the version of changeLocalSteps from which a vendor update may not change
// the invoice's currency (invoice.InvoiceUpdate.Revise).
const shapeKeepsCurrency workflow.Version = 3

// shapeWebhooks is the version of changeLocalSteps whose reminders are only recorded: the audit
// row, written with its webhook messages in one transaction, is how a reminder reaches people.
// Older runs also run the retired Notify activity for each reminder (see remind).
const shapeWebhooks workflow.Version = 4

// shapeCurrent is the version of changeLocalSteps new runs take.
const shapeCurrent = shapeWebhooks

// changeKeepCurrency brings the currency rule to runs started before shapeKeepsCurrency: the first
// vendor update such a run decides records which rule it follows from then on. A run that decided
// one before the rule existed replays without the marker and keeps the rule it ran under
// (ReviseAnyCurrency); one whose first vendor update comes later follows the new rule.
const changeKeepCurrency = "keep-currency"

// keepsCurrency reports whether this run refuses a vendor update that changes the currency. On a
// run older than shapeKeepsCurrency it may record changeKeepCurrency's marker, so it is called only
// where a vendor update is decided, never from a validator.
func (w *invoiceWorkflow) keepsCurrency(ctx workflow.Context) bool {
	return w.shape >= shapeKeepsCurrency || workflow.GetVersion(ctx, changeKeepCurrency, workflow.DefaultVersion, 1) == 1
}

// revised is the order as vendor update u changes it, keeping the currency or not.
func (w *invoiceWorkflow) revised(u *invoice.InvoiceUpdate, keepCurrency bool) (invoice.Order, error) {
	if keepCurrency {
		return u.Revise(w.Order)
	}
	return u.ReviseAnyCurrency(w.Order)
}

// nonRetryableErrorTypes are the activity errors retrying cannot fix: refusals of the data.
var nonRetryableErrorTypes = activityOptions.RetryPolicy.NonRetryableErrorTypes

// localOptions give a step a few quick tries in the worker that runs the workflow task. A step
// still failing after them (an outage, not a refusal) becomes an activity with activityOptions:
// it retries without end and shows ops the failure as a pending activity, as before the change.
var localOptions = workflow.LocalActivityOptions{
	ScheduleToCloseTimeout: 5 * time.Second,
	StartToCloseTimeout:    2 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        100 * time.Millisecond,
		BackoffCoefficient:     2,
		MaximumAttempts:        3,
		NonRetryableErrorTypes: nonRetryableErrorTypes,
	},
}

// step runs one of the workflow's activities (every one is idempotent, so running it again after
// a crash is safe) and stores its result in out. On the older shape it is an activity; on the
// current one, a local activity first.
func (w *invoiceWorkflow) step(ctx workflow.Context, summary string, activity, in, out any) error {
	if w.shape >= shapeLocalSteps {
		opts := localOptions
		opts.Summary = summary
		err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, opts), activity, in).Get(ctx, out)
		if err == nil || isRefusal(err) || temporal.IsCanceledError(err) {
			return err
		}
		workflow.GetLogger(ctx).Warn("local step failed; retrying it as an activity", "step", summary, "error", err)
	}
	return workflow.ExecuteActivity(summarized(ctx, summary), activity, in).Get(ctx, out)
}

// isRefusal reports whether err is an activity's refusal of the data, which no retry changes.
func isRefusal(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && (appErr.NonRetryable() || slices.Contains(nonRetryableErrorTypes, appErr.Type()))
}

// renderedAt is the creation date a PDF rendered for o carries. On the current shape it is o's
// issue date, so rendering a revision again makes the same bytes, stored under the same
// content-addressed key: a local step lost with its workflow task runs again in a later task,
// whose time differs. (Issue dates are validated; an unreadable one falls back to the start.)
func (w *invoiceWorkflow) renderedAt(ctx workflow.Context, o invoice.Order) time.Time {
	if w.shape < shapeLocalSteps {
		return workflow.Now(ctx)
	}
	if day, err := time.Parse(time.DateOnly, o.IssueDate); err == nil {
		return day
	}
	return workflow.GetInfo(ctx).WorkflowStartTime
}
