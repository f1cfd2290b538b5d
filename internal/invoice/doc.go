// Package invoice is the domain of K2K Auto-Invoice: the confirmed order that becomes a vendor
// invoice, its money rules, and the buyer-side lifecycle (who may do what in which status).
//
// It is pure: no I/O, no clock, no Temporal. The workflow, the activities, the store and the
// command-line tools all decide with these functions, so a rule lives in exactly one place.
package invoice
