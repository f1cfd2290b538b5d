package invoice

import "slices"

// ConnectionAction is a company's step in the K2K connection handshake.
type ConnectionAction string

// The handshake: either company requests, the other accepts or rejects; either suspends an active
// connection or reactivates a suspended one.
const (
	ConnectionRequest    ConnectionAction = "request"
	ConnectionAccept     ConnectionAction = "accept"
	ConnectionReject     ConnectionAction = "reject"
	ConnectionSuspend    ConnectionAction = "suspend"
	ConnectionReactivate ConnectionAction = "reactivate"
)

// ConnectionActions lists the handshake's actions.
func ConnectionActions() []ConnectionAction {
	return []ConnectionAction{ConnectionRequest, ConnectionAccept, ConnectionReject, ConnectionSuspend, ConnectionReactivate}
}

// The statuses of a K2K connection; only an active one carries invoices.
const (
	ConnectionPending    = "pending"
	ConnectionActive     = "active"
	ConnectionSuspended  = "suspended"
	ConnectionRejected   = "rejected"
	ConnectionTerminated = "terminated"
)

// Connection is what the handshake decides on: the pair, its status ("" when there is none yet)
// and which company asked for it.
type Connection struct {
	VendorID    string `json:"vendor_id"`
	BuyerID     string `json:"buyer_id"`
	Status      string `json:"status"`
	RequestedBy string `json:"requested_by,omitempty"`
}

// connectionRule is one row of the handshake: from which statuses, to which, and whether the
// company that asked may take it (accepting one's own request is not accepting).
type connectionRule struct {
	from          []string
	to            string
	notRequester  bool
	summaryOfRule string
}

var connectionTable = map[ConnectionAction]connectionRule{
	ConnectionRequest:    {from: []string{"", ConnectionRejected, ConnectionTerminated}, to: ConnectionPending, summaryOfRule: "asks the other company to connect"},
	ConnectionAccept:     {from: []string{ConnectionPending}, to: ConnectionActive, notRequester: true, summaryOfRule: "accepts the other company's request"},
	ConnectionReject:     {from: []string{ConnectionPending}, to: ConnectionRejected, notRequester: true, summaryOfRule: "rejects the other company's request"},
	ConnectionSuspend:    {from: []string{ConnectionActive}, to: ConnectionSuspended, summaryOfRule: "suspends an active connection"},
	ConnectionReactivate: {from: []string{ConnectionSuspended}, to: ConnectionActive, summaryOfRule: "reactivates a suspended connection"},
}

// DecideConnection applies the handshake: the status company's action leads c to, or a *Refusal.
func DecideConnection(c Connection, action ConnectionAction, company string) (string, error) {
	r, known := connectionTable[action]
	switch {
	case !known:
		return c.Status, refuse(RefusedInvalid, "action %q is not one of %v", shortened(string(action)), ConnectionActions())
	case company != c.VendorID && company != c.BuyerID:
		return c.Status, refuse(RefusedWrongActor, "only %s or %s may %s their connection", c.VendorID, c.BuyerID, action)
	case !slices.Contains(r.from, c.Status):
		return c.Status, refuse(RefusedWrongStatus, "%s %s; the connection is %s", action, r.summaryOfRule, statusOrNone(c.Status))
	case r.notRequester && company == c.RequestedBy:
		return c.Status, refuse(RefusedWrongActor, "%s asked for this connection; the other company must %s it", company, action)
	}
	return r.to, nil
}

func statusOrNone(s string) string {
	if s == "" {
		return "not requested yet"
	}
	return s
}
