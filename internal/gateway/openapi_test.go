package gateway

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// The checks below keep openapi.json honest: it is read as plain JSON (no OpenAPI library) and
// compared with what the code serves — routes, headers, enums and the Go types' JSON names.

// publicOperations need no API key.
var publicOperations = []string{"GET /healthz", "GET /readyz", "GET /openapi.json"}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

type object = map[string]any

// loadOpenAPI parses the document the gateway embeds.
func loadOpenAPI(t *testing.T) object {
	t.Helper()
	var doc object
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	return doc
}

// pointer resolves a local JSON pointer ("#/components/schemas/Problem").
func pointer(doc object, ref string) (any, bool) {
	rest, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, false
	}
	var node any = doc
	if rest == "" {
		return node, true
	}
	if !strings.HasPrefix(rest, "/") {
		return nil, false
	}
	for _, tok := range strings.Split(rest[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch n := node.(type) {
		case object:
			if node, ok = n[tok]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n) {
				return nil, false
			}
			node = n[i]
		default:
			return nil, false
		}
	}
	return node, true
}

// deref follows $ref until it reaches an object that is not a reference.
func deref(t *testing.T, doc object, node any) object {
	t.Helper()
	for range 32 {
		o, ok := node.(object)
		if !ok {
			t.Fatalf("expected an object, got %T", node)
		}
		ref, isRef := o["$ref"].(string)
		if !isRef {
			return o
		}
		if node, ok = pointer(doc, ref); !ok {
			t.Fatalf("$ref %q does not resolve", ref)
		}
	}
	t.Fatal("$ref chain too long (a cycle?)")
	return nil
}

// operation is one documented path and method.
type operation struct {
	route string // "POST /v1/orders", as Routes() spells it
	path  string
	op    object
	item  object // the path item, for parameters shared by its operations
}

func operations(t *testing.T, doc object) []operation {
	t.Helper()
	paths, ok := doc["paths"].(object)
	if !ok {
		t.Fatal("openapi.json has no paths")
	}
	var out []operation
	for _, path := range slices.Sorted(maps.Keys(paths)) {
		item := deref(t, doc, paths[path])
		for _, m := range httpMethods {
			if op, ok := item[m].(object); ok {
				out = append(out, operation{route: strings.ToUpper(m) + " " + path, path: path, op: op, item: item})
			}
		}
	}
	return out
}

// parameters are an operation's parameters, the path item's included, resolved.
func (o operation) parameters(t *testing.T, doc object) []object {
	t.Helper()
	var out []object
	for _, holder := range []object{o.item, o.op} {
		list, _ := holder["parameters"].([]any)
		for _, p := range list {
			out = append(out, deref(t, doc, p))
		}
	}
	return out
}

func (o operation) parameter(t *testing.T, doc object, in, name string) object {
	t.Helper()
	for _, p := range o.parameters(t, doc) {
		if p["in"] == in && strings.EqualFold(p["name"].(string), name) {
			return p
		}
	}
	return nil
}

func TestOpenAPIVersion(t *testing.T) {
	doc := loadOpenAPI(t)
	v, _ := doc["openapi"].(string)
	if !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(v) {
		t.Errorf("openapi is %q, want 3.1.x", v)
	}
	info, _ := doc["info"].(object)
	if info["title"] == nil || info["version"] == nil {
		t.Error("info needs a title and a version")
	}
	servers, _ := doc["servers"].([]any)
	if len(servers) == 0 {
		t.Error("no servers")
	}
}

// TestOpenAPIRoutes: every route the gateway serves is documented, and nothing else is.
func TestOpenAPIRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	documented := map[string]bool{}
	for _, o := range operations(t, doc) {
		documented[o.route] = true
	}
	served := map[string]bool{}
	for _, pattern := range Routes() {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			t.Errorf("route %q has no method; every route must be METHOD /path", pattern)
			continue
		}
		// ServeMux wildcards {name...} and {$} have no OpenAPI form; none is expected.
		if strings.Contains(path, "...}") || strings.Contains(path, "{$}") {
			t.Errorf("route %q uses a ServeMux wildcard OpenAPI cannot describe", pattern)
		}
		served[method+" "+path] = true
	}
	for r := range served {
		if !documented[r] {
			t.Errorf("route %s is served but not in openapi.json", r)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("openapi.json documents %s, which the gateway does not serve", r)
		}
	}
	if len(served) == 0 {
		t.Fatal("Routes() is empty")
	}
}

// TestOpenAPIPathParameters: each {param} of a path is a required path parameter, and no other.
func TestOpenAPIPathParameters(t *testing.T) {
	doc := loadOpenAPI(t)
	wildcard := regexp.MustCompile(`\{([^}]+)\}`)
	for _, o := range operations(t, doc) {
		var want, got []string
		for _, m := range wildcard.FindAllStringSubmatch(o.path, -1) {
			want = append(want, m[1])
		}
		for _, p := range o.parameters(t, doc) {
			if p["in"] != "path" {
				continue
			}
			got = append(got, p["name"].(string))
			if p["required"] != true {
				t.Errorf("%s: path parameter %v must be required", o.route, p["name"])
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Errorf("%s: path parameters %v, the path has %v", o.route, got, want)
		}
	}
}

// TestOpenAPIIdempotencyKey: every POST documents the required Idempotency-Key header, and the
// answers of the idempotency and authentication middleware.
func TestOpenAPIIdempotencyKey(t *testing.T) {
	doc := loadOpenAPI(t)
	posts := 0
	for _, o := range operations(t, doc) {
		if !strings.HasPrefix(o.route, "POST ") {
			continue
		}
		posts++
		p := o.parameter(t, doc, "header", "Idempotency-Key")
		if p == nil {
			t.Errorf("%s does not document the Idempotency-Key header", o.route)
			continue
		}
		if p["required"] != true {
			t.Errorf("%s: Idempotency-Key must be required", o.route)
		}
		schema := deref(t, doc, p["schema"])
		if schema["maxLength"] != float64(maxHeaderValueLen) {
			t.Errorf("%s: Idempotency-Key maxLength is %v, the gateway allows %d", o.route, schema["maxLength"], maxHeaderValueLen)
		}
		responses, _ := o.op["responses"].(object)
		// idempotent(): 400 bad key, 409 in progress, 413 too large, 422 reused; authenticated(): 401; both 500.
		for _, code := range []string{"400", "401", "409", "413", "422", "500"} {
			if responses[code] == nil {
				t.Errorf("%s does not document %s, which every POST can answer", o.route, code)
			}
		}
	}
	if posts == 0 {
		t.Fatal("no POST operation documented")
	}
}

// TestOpenAPISecurity: every operation but the public ones needs the bearer API key.
func TestOpenAPISecurity(t *testing.T) {
	doc := loadOpenAPI(t)
	schemes, _ := doc["components"].(object)["securitySchemes"].(object)
	for name, s := range schemes {
		s := deref(t, doc, s)
		if s["type"] != "http" || !strings.EqualFold(s["scheme"].(string), "bearer") {
			t.Errorf("security scheme %s is not HTTP bearer", name)
		}
	}
	global, hasGlobal := doc["security"].([]any)
	for _, o := range operations(t, doc) {
		sec, ok := o.op["security"].([]any)
		if !ok && hasGlobal {
			sec = global
		}
		public := slices.Contains(publicOperations, o.route)
		hasKey := false
		for _, req := range sec {
			for name := range req.(object) {
				if schemes[name] == nil {
					t.Errorf("%s: security scheme %q is not in components.securitySchemes", o.route, name)
				}
				hasKey = true
			}
		}
		switch {
		case public && hasKey:
			t.Errorf("%s is public but documents security", o.route)
		case !public && !hasKey:
			t.Errorf("%s needs an API key but documents no security", o.route)
		case !public:
			responses, _ := o.op["responses"].(object)
			if responses["401"] == nil {
				t.Errorf("%s does not document 401", o.route)
			}
		}
	}
}

// TestOpenAPIRefsResolve: every $ref points into the document.
func TestOpenAPIRefsResolve(t *testing.T) {
	doc := loadOpenAPI(t)
	refs := 0
	var walk func(at string, node any)
	walk = func(at string, node any) {
		switch n := node.(type) {
		case object:
			if ref, ok := n["$ref"]; ok {
				refs++
				s, isString := ref.(string)
				if !isString {
					t.Errorf("%s: $ref is %T, want a string", at, ref)
				} else if _, ok := pointer(doc, s); !ok {
					t.Errorf("%s: $ref %q does not resolve", at, s)
				}
			}
			for k, v := range n {
				walk(at+"/"+k, v)
			}
		case []any:
			for i, v := range n {
				walk(at+"/"+strconv.Itoa(i), v)
			}
		}
	}
	walk("#", doc)
	if refs == 0 {
		t.Fatal("no $ref at all")
	}
}

// enumOf returns the enum of a schema (following $ref), as strings.
func enumOf(t *testing.T, doc object, schema any) []string {
	t.Helper()
	var out []string
	list, _ := deref(t, doc, schema)["enum"].([]any)
	for _, v := range list {
		out = append(out, v.(string))
	}
	return out
}

func schemaNamed(t *testing.T, doc object, name string) object {
	t.Helper()
	s, ok := pointer(doc, "#/components/schemas/"+name)
	if !ok {
		t.Fatalf("components.schemas has no %s", name)
	}
	return deref(t, doc, s)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestOpenAPIEnums: the {action} names, actions, statuses and refusal codes are the code's.
func TestOpenAPIEnums(t *testing.T) {
	doc := loadOpenAPI(t)
	var names, actions []string
	for _, a := range invoice.Actions() {
		name, err := workflows.SignalFor(a)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		actions = append(actions, string(a))
	}
	var act *operation
	for _, o := range operations(t, doc) {
		if o.route == "POST /v1/invoices/{id}/actions/{action}" {
			act = &o
		}
	}
	if act == nil {
		t.Fatal("the action route is not documented")
	}
	p := act.parameter(t, doc, "path", "action")
	if p == nil {
		t.Fatal("the action route has no {action} parameter")
	}
	if got := enumOf(t, doc, p["schema"]); !sameSet(got, names) {
		t.Errorf("{action} enum is %v, the message names are %v", got, names)
	}
	if got := slices.Sorted(maps.Keys(actionByName)); !sameSet(got, names) {
		t.Errorf("the gateway routes actions %v, the message names are %v", got, names)
	}
	if got := enumOf(t, doc, schemaNamed(t, doc, "Action")); !sameSet(got, actions) {
		t.Errorf("Action enum is %v, invoice.Actions() is %v", got, actions)
	}
	var codes []string
	for _, c := range invoice.RefusalCodes() {
		codes = append(codes, string(c))
	}
	problem := schemaNamed(t, doc, "Problem")
	if got := enumOf(t, doc, problem["properties"].(object)["code"]); !sameSet(got, codes) {
		t.Errorf("Problem.code enum is %v, the refusal codes are %v", got, codes)
	}
	var statuses []string
	for _, st := range invoice.Statuses() {
		statuses = append(statuses, string(st))
	}
	if got := enumOf(t, doc, schemaNamed(t, doc, "Status")); !sameSet(got, statuses) {
		t.Errorf("Status enum is %v, want %v", got, statuses)
	}
	var outcomes []string
	for _, o := range workflows.Outcomes() {
		outcomes = append(outcomes, string(o))
	}
	if got := enumOf(t, doc, schemaNamed(t, doc, "Outcome")); !sameSet(got, outcomes) {
		t.Errorf("Outcome enum is %v, want %v", got, outcomes)
	}
}

// TestOpenAPIProblemTypes: Problem.type lists exactly the problem kinds the gateway's code uses.
func TestOpenAPIProblemTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if id, ok := call.Fun.(*ast.Ident); !ok || id.Name != "problemType" || len(call.Args) != 1 {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: problemType with a non-literal argument; this test cannot see its value", fset.Position(call.Pos()))
				return true
			}
			slug, _ := strconv.Unquote(lit.Value)
			used[problemType(slug)] = true
			return true
		})
	}
	if len(used) == 0 {
		t.Fatal("found no problemType calls")
	}
	problem := schemaNamed(t, doc, "Problem")
	documented := enumOf(t, doc, problem["properties"].(object)["type"])
	if got := slices.Sorted(maps.Keys(used)); !sameSet(got, documented) {
		t.Errorf("Problem.type enum is %v, the code uses %v", documented, got)
	}
}

// jsonFields returns the JSON names of a struct's fields and which of them are always present
// (no omitempty), flattening embedded structs as encoding/json does.
func jsonFields(t reflect.Type) (names []string, always []string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			n, a := jsonFields(f.Type)
			names, always = append(names, n...), append(always, a...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		if !slices.Contains(strings.Split(opts, ","), "omitempty") {
			always = append(always, name)
		}
	}
	return names, always
}

// schemaFields returns a schema's property names and required names, through $ref and allOf.
func schemaFields(t *testing.T, doc object, schema any) (props, required []string) {
	t.Helper()
	s := deref(t, doc, schema)
	if p, ok := s["properties"].(object); ok {
		props = append(props, slices.Collect(maps.Keys(p))...)
	}
	if r, ok := s["required"].([]any); ok {
		for _, name := range r {
			required = append(required, name.(string))
		}
	}
	all, _ := s["allOf"].([]any)
	for _, sub := range all {
		p, r := schemaFields(t, doc, sub)
		props, required = append(props, p...), append(required, r...)
	}
	return props, required
}

// TestOpenAPISchemasMatchGoTypes: each schema has exactly the JSON names of its Go type. For
// answers, the required properties are those the gateway always writes (no omitempty).
func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	for _, c := range []struct {
		schema string
		typ    any
		answer bool
	}{
		{"OrderResponse", OrderResponse{}, true},
		{"ActionResponse", ActionResponse{}, true},
		{"BulkActionResponse", BulkActionResponse{}, true},
		{"BulkItem", BulkItem{}, true},
		{"BulkActionBody", BulkActionBody{}, false},
		{"Problem", Problem{}, true},
		{"FieldError", invoice.FieldError{}, true},
		{"Upload", Upload{}, true},
		{"InvoiceSummary", InvoiceSummary{}, true},
		{"InvoiceList", InvoiceList{}, true},
		{"InvoiceView", InvoiceView{}, true},
		{"RevisionView", RevisionView{}, true},
		{"Event", invoice.Event{}, true},
		{"Actor", invoice.Actor{}, true},
		{"PDFLink", PDFLink{}, true},
		{"OrderRequest", OrderRequest{}, false},
		{"ActionBody", ActionBody{}, false},
		{"Order", invoice.Order{}, false},
		{"Line", invoice.Line{}, false},
		{"InvoiceUpdate", invoice.InvoiceUpdate{}, false},
		{"CreditNoteRequest", CreditNoteRequest{}, false},
		{"CreditNote", invoice.CreditNote{}, false},
		{"CreditNoteView", CreditNoteView{}, true},
		{"DisputeView", DisputeView{}, true},
		{"Tolerance", invoice.Tolerance{}, true},
		{"SettingsView", SettingsView{}, true},
		{"SettingsChange", store.SettingsChange{}, true},
		{"SettingsPatch", SettingsPatch{}, false},
		{"ConnectionRequest", ConnectionRequest{}, false},
		{"Connection", invoice.Connection{}, true},
		{"ConnectionList", ConnectionList{}, true},
		{"AccountingExportBody", AccountingExportBody{}, false},
		{"AccountingExportView", AccountingExportView{}, true},
		{"WebhookEndpointBody", WebhookEndpointBody{}, false},
		{"WebhookEndpointView", WebhookEndpointView{}, true},
		{"WebhookEndpointList", WebhookEndpointList{}, true},
		{"WebhookMessageView", WebhookMessageView{}, true},
		{"WebhookMessageList", WebhookMessageList{}, true},
	} {
		t.Run(c.schema, func(t *testing.T) {
			names, always := jsonFields(reflect.TypeOf(c.typ))
			props, required := schemaFields(t, doc, schemaNamed(t, doc, c.schema))
			if !sameSet(props, names) {
				t.Errorf("properties %v, the Go type's JSON names are %v", slices.Sorted(slices.Values(props)), slices.Sorted(slices.Values(names)))
			}
			for _, r := range required {
				if !slices.Contains(props, r) {
					t.Errorf("required %q is not a property", r)
				}
			}
			if c.answer && !sameSet(required, always) {
				t.Errorf("required %v, the gateway always writes %v", slices.Sorted(slices.Values(required)), slices.Sorted(slices.Values(always)))
			}
		})
	}
}

// TestOpenAPIResponses: every operation has a success answer, and every error answer is a Problem
// in application/problem+json.
func TestOpenAPIResponses(t *testing.T) {
	doc := loadOpenAPI(t)
	ids := map[string]string{}
	for _, o := range operations(t, doc) {
		id, _ := o.op["operationId"].(string)
		if id == "" {
			t.Errorf("%s has no operationId", o.route)
		} else if other, dup := ids[id]; dup {
			t.Errorf("operationId %s is used by %s and %s", id, other, o.route)
		}
		ids[id] = o.route
		responses, _ := o.op["responses"].(object)
		success := false
		for code, r := range responses {
			n, err := strconv.Atoi(code)
			if err != nil || n < 100 || n > 599 {
				t.Errorf("%s: response %q is not a status code", o.route, code)
				continue
			}
			r := deref(t, doc, r)
			if r["description"] == nil {
				t.Errorf("%s %s: no description", o.route, code)
			}
			content, _ := r["content"].(object)
			if n < 400 {
				success = success || n < 300
				if _, ok := content["application/problem+json"]; ok {
					t.Errorf("%s %s: a success is not a problem", o.route, code)
				}
				continue
			}
			media, ok := content["application/problem+json"].(object)
			if !ok || len(content) != 1 {
				t.Errorf("%s %s: an error answer must be application/problem+json only", o.route, code)
				continue
			}
			if ref, _ := media["schema"].(object)["$ref"].(string); ref != "#/components/schemas/Problem" {
				t.Errorf("%s %s: schema is %v, want the Problem", o.route, code, media["schema"])
			}
		}
		if !success {
			t.Errorf("%s documents no 2xx answer", o.route)
		}
	}
}

// TestOpenAPIServed: the gateway serves this very document, and /healthz, without dependencies.
func TestOpenAPIServed(t *testing.T) {
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	h := (&Server{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
	for _, c := range []struct {
		path, contentType string
		status            int
		body              []byte
	}{
		{"/openapi.json", "application/json", http.StatusOK, file},
		{"/healthz", "application/json", http.StatusOK, []byte(`{"status":"alive"}` + "\n")},
		{"/nowhere", "application/problem+json", http.StatusNotFound, nil},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
		if rec.Code != c.status || rec.Header().Get("Content-Type") != c.contentType {
			t.Errorf("GET %s: %d %s, want %d %s", c.path, rec.Code, rec.Header().Get("Content-Type"), c.status, c.contentType)
		}
		if c.body != nil && rec.Body.String() != string(c.body) {
			t.Errorf("GET %s serves another body than the file", c.path)
		}
	}
}
