package gateway

// Self-service for a company's admin key: its own settings (each flag on its own, every change
// audited) and its K2K connections (request, accept, reject, suspend, reactivate).

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
)

// SettingsView is a company's K2K settings and their latest changes.
type SettingsView struct {
	CompanyID         string                 `json:"company_id"`
	Name              string                 `json:"name"`
	AutoInvoiceSync   bool                   `json:"auto_invoice_sync"`
	AcceptK2KInvoices bool                   `json:"accept_k2k_invoices"`
	SeparateDuties    bool                   `json:"separate_duties"`
	Changes           []store.SettingsChange `json:"changes"`
}

// SettingsPatch changes the settings it names and keeps the others.
type SettingsPatch struct {
	AutoInvoiceSync   *bool `json:"auto_invoice_sync,omitempty"`
	AcceptK2KInvoices *bool `json:"accept_k2k_invoices,omitempty"`
	SeparateDuties    *bool `json:"separate_duties,omitempty"`
}

// ConnectionRequest is the body of POST /v1/admin/connections: the pair, one of them the key's company.
type ConnectionRequest struct {
	VendorID string `json:"vendor_id"`
	BuyerID  string `json:"buyer_id"`
}

// ConnectionList is a company's connections.
type ConnectionList struct {
	Connections []invoice.Connection `json:"connections"`
}

// changeRequest reads what every admin route that changes something takes: its JSON body into
// body and who it changes things as (changer). It answers the request itself when one is wrong.
func (s *Server) changeRequest(w http.ResponseWriter, r *http.Request, body any) (store.Changer, bool) {
	if !s.decodeJSON(w, r, body) {
		return store.Changer{}, false
	}
	return changer(w, r)
}

// changer is who a request changes things as: its user (requestUser) and its key. A malformed
// K2K-User is answered 400 here (ok false).
func changer(w http.ResponseWriter, r *http.Request) (store.Changer, bool) {
	user, ok := requestUser(w, r)
	return store.Changer{UserID: user, APIKeyID: principal(r).ID}, ok
}

func (s *Server) settingsView(w http.ResponseWriter, r *http.Request, c store.Company) {
	changes, err := s.Store.SettingsChanges(r.Context(), c.ID, 20)
	if err != nil {
		s.internal(w, err)
		return
	}
	if changes == nil {
		changes = []store.SettingsChange{}
	}
	writeJSON(w, http.StatusOK, SettingsView{CompanyID: c.ID, Name: c.Name, AutoInvoiceSync: c.AutoInvoiceSync,
		AcceptK2KInvoices: c.AcceptK2KInvoices, SeparateDuties: c.SeparateDuties, Changes: changes})
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request) {
	c, err := s.Store.CompanyGet(r.Context(), principal(r).CompanyID)
	if err != nil {
		s.internal(w, err)
		return
	}
	s.settingsView(w, r, c)
}

// patchSettings changes the settings the body names, each on its own, audited with who and when.
func (s *Server) patchSettings(w http.ResponseWriter, r *http.Request) {
	var p SettingsPatch
	by, ok := s.changeRequest(w, r, &p)
	if !ok {
		return
	}
	if p == (SettingsPatch{}) {
		invalid(w, invoice.FieldError{Field: "body", Rule: "must name at least one of auto_invoice_sync, accept_k2k_invoices, separate_duties"})
		return
	}
	c, err := s.Store.CompanySettingsChange(r.Context(), principal(r).CompanyID, store.CompanySettings{AutoInvoiceSync: p.AutoInvoiceSync,
		AcceptK2KInvoices: p.AcceptK2KInvoices, SeparateDuties: p.SeparateDuties}, by)
	if err != nil {
		s.internal(w, err)
		return
	}
	s.settingsView(w, r, c)
}

func (s *Server) listConnections(w http.ResponseWriter, r *http.Request) {
	cs, err := s.Store.Connections(r.Context(), principal(r).CompanyID)
	if err != nil {
		s.internal(w, err)
		return
	}
	if cs == nil {
		cs = []invoice.Connection{}
	}
	writeJSON(w, http.StatusOK, ConnectionList{Connections: cs})
}

// ConnectionChangeList is a connection's audited steps, oldest first.
type ConnectionChangeList struct {
	Changes []store.ConnectionChange `json:"changes"`
}

// connectionHistory answers the pair's audited steps, accepted and refused, to an admin of one of
// the two (404 to anyone else). A third company's refused attempts are left out, as they are not
// announced to the pair either.
func (s *Server) connectionHistory(w http.ResponseWriter, r *http.Request) {
	vendorID, buyerID, company := r.PathValue("vendor"), r.PathValue("buyer"), principal(r).CompanyID
	if company != vendorID && company != buyerID {
		notFound(w)
		return
	}
	chs, err := s.Store.ConnectionChanges(r.Context(), vendorID, buyerID)
	if err != nil {
		s.internal(w, err)
		return
	}
	out := []store.ConnectionChange{}
	for _, ch := range chs {
		if ch.CompanyID == vendorID || ch.CompanyID == buyerID {
			out = append(out, ch)
		}
	}
	writeJSON(w, http.StatusOK, ConnectionChangeList{Changes: out})
}

// requestConnection asks the other company of the pair to connect: 201 pending.
func (s *Server) requestConnection(w http.ResponseWriter, r *http.Request) {
	var req ConnectionRequest
	if !s.decodeJSON(w, r, &req) {
		return
	}
	var fields []invoice.FieldError
	for _, f := range []struct{ name, id string }{{"vendor_id", req.VendorID}, {"buyer_id", req.BuyerID}} {
		if err := invoice.CheckCompanyID(f.name, f.id); err != nil {
			var v *invoice.ValidationError
			if errors.As(err, &v) {
				fields = append(fields, v.Fields...)
			}
		}
	}
	if req.VendorID != "" && req.VendorID == req.BuyerID {
		fields = append(fields, invoice.FieldError{Field: "buyer_id", Rule: "must differ from vendor_id"})
	}
	if fields != nil {
		invalid(w, fields...)
		return
	}
	s.connectionAct(w, r, req.VendorID, req.BuyerID, invoice.ConnectionRequest, http.StatusCreated)
}

// actOnConnection takes a handshake step on the path's pair: 200 with the connection after it.
func (s *Server) actOnConnection(w http.ResponseWriter, r *http.Request) {
	action := invoice.ConnectionAction(r.PathValue("action"))
	if action == invoice.ConnectionRequest {
		notFound(w) // a request is POST /v1/admin/connections
		return
	}
	s.connectionAct(w, r, r.PathValue("vendor"), r.PathValue("buyer"), action, http.StatusOK)
}

func (s *Server) connectionAct(w http.ResponseWriter, r *http.Request, vendorID, buyerID string, action invoice.ConnectionAction, status int) {
	by, ok := changer(w, r)
	if !ok {
		return
	}
	key := principal(r)
	missing, err := s.Store.CompaniesMissing(r.Context(), vendorID, buyerID)
	if err != nil {
		s.internal(w, err)
		return
	}
	if len(missing) > 0 && (key.CompanyID == vendorID || key.CompanyID == buyerID) {
		invalid(w, invoice.FieldError{Field: "company", Rule: missing[0] + " is not a known company"})
		return
	}
	c, err := s.Store.ConnectionAct(r.Context(), vendorID, buyerID, action, key.CompanyID, by)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, status, c)
}

// AccountingExportBody configures the buyer's accounting export. Secret is the signing secret
// ("whsec_" and base64): required the first time, kept when left out; it is never returned.
type AccountingExportBody struct {
	URL     string `json:"url"`
	Secret  string `json:"secret,omitempty"`
	Enabled *bool  `json:"enabled,omitempty"`
}

// AccountingExportView is the buyer's accounting export as the API shows it: never its secret.
type AccountingExportView struct {
	URL       string `json:"url"`
	Enabled   bool   `json:"enabled"`
	SecretSet bool   `json:"secret_set"`
}

func (s *Server) getAccountingExport(w http.ResponseWriter, r *http.Request) {
	e, err := s.Store.AccountingExportGet(r.Context(), principal(r).CompanyID)
	if errors.Is(err, store.ErrNotFound) {
		notFound(w)
		return
	} else if err != nil {
		s.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, AccountingExportView{URL: e.URL, Enabled: e.Enabled, SecretSet: e.Secret != ""})
}

// putAccountingExport configures the export of the admin key's company: orders confirmed from
// then on are sent to it once approved for payment, while it is enabled.
func (s *Server) putAccountingExport(w http.ResponseWriter, r *http.Request) {
	var b AccountingExportBody
	by, ok := s.changeRequest(w, r, &b)
	if !ok {
		return
	}
	var fields []invoice.FieldError
	if rule := invoice.CheckHTTPURL(b.URL); rule != "" {
		fields = append(fields, invoice.FieldError{Field: "url", Rule: rule})
	}
	company := principal(r).CompanyID
	switch key, cut := strings.CutPrefix(b.Secret, "whsec_"); {
	case b.Secret == "":
		if _, err := s.Store.AccountingExportGet(r.Context(), company); errors.Is(err, store.ErrNotFound) {
			fields = append(fields, invoice.FieldError{Field: "secret", Rule: "is required the first time"})
		}
	case !cut || key == "" || !isBase64(key):
		fields = append(fields, invoice.FieldError{Field: "secret", Rule: "must be whsec_ followed by the secret in base64"})
	}
	if fields != nil {
		invalid(w, fields...)
		return
	}
	enabled := b.Enabled == nil || *b.Enabled
	if err := s.Store.AccountingExportSet(r.Context(), company, b.URL, b.Secret, enabled, by); err != nil {
		s.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, AccountingExportView{URL: b.URL, Enabled: enabled, SecretSet: true})
}

func isBase64(s string) bool {
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}

// WebhookEndpointBody registers a webhook endpoint of the admin key's company.
type WebhookEndpointBody struct {
	URL        string   `json:"url"`
	EventTypes []string `json:"event_types,omitempty"`
}

// WebhookEndpointView is a registered endpoint; Secret only in the answer that created it.
type WebhookEndpointView struct {
	ID         int64     `json:"id"`
	URL        string    `json:"url"`
	EventTypes []string  `json:"event_types"`
	Active     bool      `json:"active"`
	CreatedAt  time.Time `json:"created_at"`
	Secret     string    `json:"secret,omitempty"`
}

// WebhookEndpointList is a company's endpoints.
type WebhookEndpointList struct {
	Endpoints []WebhookEndpointView `json:"endpoints"`
}

// WebhookMessageView is one message of an endpoint's delivery log.
type WebhookMessageView struct {
	WebhookID   string     `json:"webhook_id"`
	EventType   string     `json:"event_type"`
	EventKey    string     `json:"event_key"`
	Attempts    int        `json:"attempts"`
	CreatedAt   time.Time  `json:"created_at"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
}

// WebhookMessageList is an endpoint's latest messages, newest first.
type WebhookMessageList struct {
	Messages []WebhookMessageView `json:"messages"`
}

func endpointView(ep store.WebhookEndpoint) WebhookEndpointView {
	return WebhookEndpointView{ID: ep.ID, URL: ep.URL, EventTypes: ep.EventTypes, Active: ep.Active, CreatedAt: ep.CreatedAt}
}

// addWebhookEndpoint registers an endpoint: 201 with its signing secret, shown this once.
func (s *Server) addWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	var b WebhookEndpointBody
	by, ok := s.changeRequest(w, r, &b)
	if !ok {
		return
	}
	var fields []invoice.FieldError
	if rule := invoice.CheckHTTPURL(b.URL); rule != "" {
		fields = append(fields, invoice.FieldError{Field: "url", Rule: rule})
	}
	for i, t := range b.EventTypes {
		if rule := invoice.CheckEventType(t); rule != "" {
			fields = append(fields, invoice.FieldError{Field: fmt.Sprintf("event_types[%d]", i), Rule: rule})
		}
	}
	if fields != nil {
		invalid(w, fields...)
		return
	}
	ep, secret, err := s.Store.WebhookEndpointAdd(r.Context(), principal(r).CompanyID, b.URL, b.EventTypes, by)
	if err != nil {
		s.internal(w, err)
		return
	}
	v := endpointView(ep)
	v.Secret = secret
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) listWebhookEndpoints(w http.ResponseWriter, r *http.Request) {
	eps, err := s.Store.WebhookEndpoints(r.Context(), principal(r).CompanyID)
	if err != nil {
		s.internal(w, err)
		return
	}
	out := WebhookEndpointList{Endpoints: []WebhookEndpointView{}}
	for _, ep := range eps {
		out.Endpoints = append(out.Endpoints, endpointView(ep))
	}
	writeJSON(w, http.StatusOK, out)
}

// ownEndpoint reads the path's endpoint if it is the key's company's; 404 otherwise.
func (s *Server) ownEndpoint(w http.ResponseWriter, r *http.Request) (store.WebhookEndpoint, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err == nil {
		eps, lerr := s.Store.WebhookEndpoints(r.Context(), principal(r).CompanyID)
		if lerr != nil {
			s.internal(w, lerr)
			return store.WebhookEndpoint{}, false
		}
		if i := slices.IndexFunc(eps, func(ep store.WebhookEndpoint) bool { return ep.ID == id }); i >= 0 {
			return eps[i], true
		}
	}
	notFound(w)
	return store.WebhookEndpoint{}, false
}

// webhookMessages is an endpoint's delivery log: its 50 latest messages.
func (s *Server) webhookMessages(w http.ResponseWriter, r *http.Request) {
	ep, ok := s.ownEndpoint(w, r)
	if !ok {
		return
	}
	msgs, err := s.Store.WebhookMessages(r.Context(), ep.ID, 50)
	if err != nil {
		s.internal(w, err)
		return
	}
	out := WebhookMessageList{Messages: []WebhookMessageView{}}
	for _, m := range msgs {
		out.Messages = append(out.Messages, WebhookMessageView{WebhookID: m.MessageID(), EventType: m.EventType, EventKey: m.EventKey,
			Attempts: m.Attempts, CreatedAt: m.CreatedAt, DeliveredAt: m.DeliveredAt, LastError: m.LastError})
	}
	writeJSON(w, http.StatusOK, out)
}

// redeliverWebhook sends one of the endpoint's messages again, under the same webhook-id: 202.
func (s *Server) redeliverWebhook(w http.ResponseWriter, r *http.Request) {
	ep, ok := s.ownEndpoint(w, r)
	if !ok {
		return
	}
	msgs, err := s.Store.WebhookMessages(r.Context(), ep.ID, 1<<20)
	if err != nil {
		s.internal(w, err)
		return
	}
	i := slices.IndexFunc(msgs, func(m store.WebhookMessage) bool { return m.MessageID() == r.PathValue("message") })
	if i < 0 {
		notFound(w)
		return
	}
	if err := s.Store.WebhookRedeliver(r.Context(), msgs[i].ID); err != nil {
		s.internal(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"webhook_id": msgs[i].MessageID()})
}
