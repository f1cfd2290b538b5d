package integration

// TestDocCommands: the commands README.md and docs/operations.md show work as written. The test
// reads them from the documents (the lines of every ```sh block, and the commands quoted inline
// in the prose), so a changed command is run as changed, and a new one fails the test until
// docRunners says how to check it or why it cannot run here. Each one runs exactly as written,
// in the order the document gives, against servers the test started (doc_world_test.go), with
// two substitutions and no other change: a documented address (127.0.0.1:8088, localhost:8088,
// the ports 7233, 8089, 8233, 9464, 7070) becomes the test's own, in the command's text or, for a
// command that falls back on a documented default address (`worker healthcheck`), in the
// variable that overrides it; and the documented environment (`source .dev/env`, written by
// `make up`) is the test's .dev/env, with the same names. So the test passes while `make demo`
// runs on the default ports. A pattern the docs tell to fill with values they list (`temporal
// workflow list --query "…"` and the queries of its table) runs once per value. Each command's
// exit code must be 0, or the one the docs give beside it ("exit 3"), and its output must hold
// the value its runner names.

import (
	"bytes"
	"debug/buildinfo"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/payloadcrypt"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// docFiles are the documents whose commands must work as written, in the order they are run.
var docFiles = []string{"README.md", "docs/operations.md"}

// docCommand is one command of a document.
type docCommand struct {
	doc  string
	line int
	// text is the command as written: its lines (continuations included, the fence's indent
	// removed), comments kept.
	text string
	// oneLine is text without comments on one line: what runners match and messages show.
	oneLine string
	// notes are its comments: on its own lines, and the comment lines right after it.
	notes  string
	inline bool     // quoted in the prose (run on its own), not a line of a block
	also   []string // an inline command quoted again: where
}

func (c docCommand) where() string { return fmt.Sprintf("%s:%d", c.doc, c.line) }

var exitNote = regexp.MustCompile(`\bexit (\d+)\b`)

// wantExit is the exit code the docs give beside the command ("exit 3"), else 0.
func (c docCommand) wantExit() int {
	if m := exitNote.FindStringSubmatch(c.notes); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// docPrograms are the programs whose name starts an inline command (with at least one argument;
// a bare name is a name, not a command). Paths to an executable of the checkout count too.
var docPrograms = map[string]bool{
	"worker": true, "gateway": true, "codec-server": true, "starter": true,
	"make": true, "go": true, "docker": true, "temporal": true, "curl": true, "openssl": true, "kill": true,
	"source": true, ".": true, "psql": true, "pg_dump": true, "jq": true, "bash": true, "git": true, "uuidgen": true,
}

var envAssignment = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=\S*$`)

// isInlineCommand says whether a code span of the prose is a command.
func isInlineCommand(repo string, words []string) bool {
	k := 0
	for k < len(words) && envAssignment.MatchString(words[k]) {
		k++
	}
	if k == len(words) {
		return false
	}
	prog := words[k]
	if (docPrograms[prog] || strings.HasPrefix(prog, ".dev/bin/")) && len(words) > k+1 {
		return true
	}
	st, err := os.Stat(filepath.Join(repo, prog))
	return strings.Contains(prog, "/") && err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// docCommands reads the commands of one document: every line of its ```sh (bash, shell) blocks,
// and its inline commands (each once, with the places it is quoted again).
func docCommands(repo, doc string) ([]docCommand, error) {
	data, err := os.ReadFile(filepath.Join(repo, doc))
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(data), "\n")
	prose := make([]string, len(lines)) // the lines outside fences; "" inside
	var cmds []docCommand
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimLeft(lines[i], " ")
		if !strings.HasPrefix(trimmed, "```") {
			prose[i] = lines[i]
			continue
		}
		indent := strings.Repeat(" ", len(lines[i])-len(trimmed))
		info := strings.TrimSpace(strings.TrimLeft(trimmed, "`"))
		j := i + 1
		for j < len(lines) && !strings.HasPrefix(strings.TrimLeft(lines[j], " "), "```") {
			j++
		}
		if j == len(lines) {
			return nil, fmt.Errorf("%s:%d: a fenced block that does not end", doc, i+1)
		}
		if info == "sh" || info == "bash" || info == "shell" {
			var body []string
			for _, l := range lines[i+1 : j] {
				body = append(body, strings.TrimPrefix(l, indent))
			}
			block, err := blockCommands(doc, i+2, body)
			if err != nil {
				return nil, err
			}
			cmds = append(cmds, block...)
		}
		i = j
	}
	seen := map[string]int{}
	text := strings.Join(prose, "\n")
	for i := 0; i < len(text); {
		if text[i] != '`' {
			i++
			continue
		}
		n := 1
		for i+n < len(text) && text[i+n] == '`' {
			n++
		}
		ticks := text[i : i+n]
		end := strings.Index(text[i+n:], ticks)
		if end < 0 || strings.Contains(text[i+n:i+n+end], "\n\n") {
			i += n
			continue
		}
		content, line := text[i+n:i+n+end], 1+strings.Count(text[:i], "\n")
		i += n + end + n
		words := strings.Fields(content)
		if !isInlineCommand(repo, words) {
			continue
		}
		c := docCommand{doc: doc, line: line, text: strings.Join(words, " "), oneLine: strings.Join(words, " "), inline: true}
		if k, ok := seen[c.oneLine]; ok {
			cmds[k].also = append(cmds[k].also, c.where())
			continue
		}
		seen[c.oneLine] = len(cmds)
		cmds = append(cmds, c)
	}
	slices.SortStableFunc(cmds, func(a, b docCommand) int { return a.line - b.line })
	return cmds, nil
}

// blockCommands splits a block's lines into commands: a command goes on while its line ends with
// a backslash or bash does not see it complete (an open quote, a trailing pipe); a comment line
// is a note of the command just before it.
func blockCommands(doc string, first int, body []string) ([]docCommand, error) {
	var cmds []docCommand
	attach := false
	for i := 0; i < len(body); i++ {
		trimmed := strings.TrimSpace(body[i])
		switch {
		case trimmed == "":
			attach = false
			continue
		case strings.HasPrefix(trimmed, "#"):
			if attach {
				cmds[len(cmds)-1].notes += strings.TrimSpace(strings.TrimPrefix(trimmed, "#")) + "\n"
			}
			continue
		}
		start, text := i, body[i]
		for {
			complete, why := bashComplete(text)
			if complete && !strings.HasSuffix(strings.TrimRight(text, " "), `\`) {
				break
			}
			if i++; i == len(body) {
				return nil, fmt.Errorf("%s:%d: the command does not end within its block: %s", doc, first+start, why)
			}
			text += "\n" + body[i]
		}
		c := docCommand{doc: doc, line: first + start, text: text}
		c.oneLine, c.notes = splitComments(text)
		cmds = append(cmds, c)
		attach = true
	}
	return cmds, nil
}

// bashComplete says whether bash reads text as complete commands (bash -n).
func bashComplete(text string) (bool, string) {
	out, err := execOutput("bash", "-n", "-c", text)
	return err == nil, strings.TrimSpace(out)
}

// splitComments returns a command without its comments, on one line, and the comments.
func splitComments(s string) (string, string) {
	var code, notes strings.Builder
	single, double := false, false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case single:
			single = ch != '\''
		case ch == '\\' && i+1 < len(s):
			code.WriteByte(ch)
			i++
			ch = s[i]
		case double:
			double = ch != '"'
		case ch == '\'':
			single = true
		case ch == '"':
			double = true
		case ch == '#' && (i == 0 || strings.ContainsRune(" \t\n", rune(s[i-1]))):
			end := strings.IndexByte(s[i:], '\n')
			if end < 0 {
				end = len(s) - i
			}
			notes.WriteString(strings.TrimSpace(s[i+1:i+end]) + "\n")
			i += end - 1
			continue
		}
		code.WriteByte(ch)
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(code.String(), "\\\n", " ")), " "), notes.String()
}

func execOutput(program string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(program, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// docAddress is a documented address in a command: the test puts its own in its place.
var docAddress = regexp.MustCompile(`\b(127\.0\.0\.1|localhost):(\d{2,5})\b`)

// substitute is the command's text with each documented address replaced by the test's: the
// only change the test makes to a command.
func (w *docWorld) substitute(c docCommand) string {
	w.t.Helper()
	return docAddress.ReplaceAllStringFunc(c.text, func(a string) string {
		_, port, _ := strings.Cut(a, ":")
		mine, ok := w.addr[port]
		if !ok {
			w.t.Fatalf("%s: the test has no address in place of %s (docWorld.addr)", c.where(), a)
		}
		return mine
	})
}

// docRunner says how the commands it matches are checked, or why they are not run here.
type docRunner struct {
	name  string
	doc   string // the document it is for; "" for both
	match func(oneLine string) bool
	// skip is the reviewed reason the command does not run in this test.
	skip string
	// before arranges what the command takes as given in the docs (companies, an invoice in some
	// status); it runs before each occurrence.
	before func(w *docWorld, c docCommand)
	// env gives an inline command the test's address where it would fall back on a documented
	// default (127.0.0.1:9464 for `worker healthcheck`).
	env func(w *docWorld) map[string]string
	// check asserts a value from the output of the command's n-th occurrence (from 0).
	check func(w *docWorld, c docCommand, r docResult, n int) error
	// retry runs the command again for up to 20 s while check fails: a visibility query sees a
	// change a moment after it happened. Only for commands that change nothing.
	retry bool
	// run replaces running the command as written: for a pattern the docs tell to fill with the
	// values they list (the queries of a table).
	run func(w *docWorld, c docCommand)
}

func exact(s string) func(string) bool { return func(c string) bool { return c == s } }

func prefixed(s string) func(string) bool {
	return func(c string) bool { return strings.HasPrefix(c, s) }
}

func matches(pattern string) func(string) bool { return regexp.MustCompile(pattern).MatchString }

// holding matches a command that starts with prefix and holds every part.
func holding(prefix string, parts ...string) func(string) bool {
	return func(c string) bool {
		if !strings.HasPrefix(c, prefix) {
			return false
		}
		for _, p := range parts {
			if !strings.Contains(c, p) {
				return false
			}
		}
		return true
	}
}

// stdoutHas checks that stdout holds every part.
func stdoutHas(parts ...string) func(*docWorld, docCommand, docResult, int) error {
	return func(_ *docWorld, _ docCommand, r docResult, _ int) error { return holds(r.stdout, parts...) }
}

func holds(s string, parts ...string) error {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return fmt.Errorf("the output lacks %q", p)
		}
	}
	return nil
}

// byOccurrence checks the n-th occurrence of a command with the n-th list of parts.
func byOccurrence(parts ...[]string) func(*docWorld, docCommand, docResult, int) error {
	return func(_ *docWorld, c docCommand, r docResult, n int) error {
		if n >= len(parts) {
			return fmt.Errorf("occurrence %d of the command has no expectation in its runner", n+1)
		}
		return holds(r.stdout, parts[n]...)
	}
}

// jsonFields checks that stdout is a JSON object whose fields hold the given values (compared as
// JSON).
func jsonFields(want map[string]any) func(*docWorld, docCommand, docResult, int) error {
	return func(_ *docWorld, _ docCommand, r docResult, _ int) error {
		var got map[string]json.RawMessage
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			return fmt.Errorf("the output is not a JSON object: %v", err)
		}
		return sameFields(got, want)
	}
}

func sameFields(got map[string]json.RawMessage, want map[string]any) error {
	for k, v := range want {
		w, _ := json.Marshal(v)
		var g any
		_ = json.Unmarshal(got[k], &g)
		gn, _ := json.Marshal(g)
		if !bytes.Equal(gn, w) {
			return fmt.Errorf("field %s is %s, want %s", k, got[k], w)
		}
	}
	return nil
}

// The arrangements: what a block takes as given. Each runs once, through the world's starter.

// arrangeContracts: the README's raw CLI example acts on invoice PO-7 of ACME → GLOBEX, in AP.
func arrangeContracts(w *docWorld, _ docCommand) {
	w.once("contracts", func() {
		w.starter("company", "upsert", "--id", "ACME", "--name", "Acme", "--auto-invoice-sync")
		w.starter("company", "upsert", "--id", "GLOBEX", "--name", "Globex", "--accept-k2k-invoices")
		w.starter("connection", "upsert", "--vendor", "ACME", "--buyer", "GLOBEX", "--status", "active")
		w.starter("confirm", w.orderFile("ACME", "GLOBEX", "PO-7", "INV-7"))
	})
}

// arrangeOps: the operations guide's invoices of ACME-SUPPLY → GLOBEX-RETAIL: PO-1001 with a
// vendor update to review, PO-1002 waiting for accounting, PO-1003 not eligible (no connection to
// its buyer), PO-1004 rejected (its invoice number is PO-1002's).
func arrangeOps(w *docWorld, _ docCommand) {
	w.once("ops", func() {
		w.starter("company", "upsert", "--id", "ACME-SUPPLY", "--name", "Acme Supply Co.", "--auto-invoice-sync")
		w.starter("company", "upsert", "--id", "GLOBEX-RETAIL", "--name", "Globex Retail Ltd.", "--accept-k2k-invoices")
		w.starter("company", "upsert", "--id", "INITECH", "--name", "Initech", "--accept-k2k-invoices")
		w.starter("connection", "upsert", "--vendor", "ACME-SUPPLY", "--buyer", "GLOBEX-RETAIL", "--status", "active")
		target := func(po string) []string {
			return []string{"--vendor", "ACME-SUPPLY", "--buyer", "GLOBEX-RETAIL", "--po", po}
		}
		w.starter("confirm", w.orderFile("ACME-SUPPLY", "GLOBEX-RETAIL", "PO-1001", "INV-1001"))
		w.starter(append([]string{"vendor-update", w.updateFile("INV-1001-R2"), "--company", "ACME-SUPPLY", "--user", "victor",
			"--role", "vendor"}, target("PO-1001")...)...)
		w.starter("confirm", w.orderFile("ACME-SUPPLY", "GLOBEX-RETAIL", "PO-1002", "INV-1002"))
		w.starter(append([]string{"approve", "--company", "GLOBEX-RETAIL", "--user", "alice", "--role", "procurement"},
			target("PO-1002")...)...)
		if out := w.starter("confirm", w.orderFile("ACME-SUPPLY", "INITECH", "PO-1003", "INV-1003")); !strings.Contains(out, "not_eligible") {
			w.t.Fatalf("PO-1003 should not be eligible:\n%s", out)
		}
		if out := w.starter("confirm", w.orderFile("ACME-SUPPLY", "GLOBEX-RETAIL", "PO-1004", "INV-1002")); !strings.Contains(out, "rejected") {
			w.t.Fatalf("PO-1004 should be rejected:\n%s", out)
		}
	})
}

// opsWorkflow is the workflow ID of one of arrangeOps's orders.
func opsWorkflow(po string) string {
	if po == "PO-1003" {
		return workflows.InvoiceWorkflowID("ACME-SUPPLY", "INITECH", po)
	}
	return workflows.InvoiceWorkflowID("ACME-SUPPLY", "GLOBEX-RETAIL", po)
}

// listed checks which workflows `temporal workflow list` printed.
func listed(out string, has, hasNot []string) error {
	for _, id := range has {
		if !regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(id) + `(\s|$)`).MatchString(out) {
			return fmt.Errorf("%s is not listed", id)
		}
	}
	for _, id := range hasNot {
		if regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(id) + `(\s|$)`).MatchString(out) {
			return fmt.Errorf("%s is listed", id)
		}
	}
	return nil
}

// queriedState checks the state `temporal workflow query … --type status` printed.
func queriedState(check func(workflows.State) error) func(*docWorld, docCommand, docResult, int) error {
	return func(_ *docWorld, _ docCommand, r docResult, _ int) error {
		_, rest, ok := strings.Cut(r.stdout, "{")
		if !ok {
			return fmt.Errorf("no JSON in the output")
		}
		var st workflows.State
		if err := json.NewDecoder(strings.NewReader("{" + rest)).Decode(&st); err != nil {
			return err
		}
		return check(st)
	}
}

// The upload_id of examples/invoice.pdf, as the README spells it.
func examplePDF(w *docWorld) ([]byte, string) {
	data, err := os.ReadFile(filepath.Join(w.repo, "examples", "invoice.pdf"))
	if err != nil {
		w.t.Fatal(err)
	}
	return data, blob.SHA256Hex(data)
}

// opsQueries are what each query of the operations guide's table must find among arrangeOps's
// orders (PO numbers), keyed by the query as the table writes it.
var opsQueries = map[string]struct{ has, hasNot []string }{
	"K2KBuyer = 'GLOBEX-RETAIL' AND K2KStatus = 'AA' AND ExecutionStatus = 'Running'": {[]string{"PO-1002"}, []string{"PO-1001"}},
	"K2KBuyer = 'GLOBEX-RETAIL' AND K2KUpdatePending = true":                          {[]string{"PO-1001"}, []string{"PO-1002"}},
	"K2KUpdatePending = true AND ExecutionStatus = 'Running'":                         {[]string{"PO-1001"}, []string{"PO-1002"}},
	"K2KOutcome = 'not_eligible' AND CloseTime > '2026-11-26T00:00:00Z'":              {nil, []string{"PO-1001"}}, // PO-1003: see the runner
	"K2KOutcome = 'rejected'":                               {[]string{"PO-1004"}, []string{"PO-1001"}},
	"K2KVendor = 'ACME-SUPPLY' AND K2KPONumber = 'PO-1001'": {[]string{"PO-1001"}, []string{"PO-1002"}},
	"K2KRevision >= 3":                                      {nil, []string{"PO-1001"}}, // revision 2
	"K2KStatus = 'AA' AND K2KStatusSince < '2026-11-24T00:00:00Z' AND ExecutionStatus = 'Running'": {nil, []string{"PO-1002"}},
	"ExecutionStatus = 'Failed' AND WorkflowType = 'K2KInvoice'":                                   {nil, []string{"PO-1001", "PO-1002"}},
}

// opsTableQueries reads the queries of the operations guide's table of questions.
func opsTableQueries(t *testing.T, repo string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(data), "| question | query |\n|---|---|\n")
	if !ok {
		t.Fatal("docs/operations.md has no table | question | query |: update opsTableQueries")
	}
	var queries []string
	for _, row := range strings.Split(table, "\n") {
		if !strings.HasPrefix(row, "|") {
			break
		}
		cells := strings.Split(row, "|")
		queries = append(queries, strings.Trim(strings.TrimSpace(cells[len(cells)-2]), "`"))
	}
	return queries
}

var docRunners = []*docRunner{
	// Not run here, each for its reason.
	{name: "the demo and the stack", match: matches(`^(make (demo|up)( PROFILE=cluster)?|scripts/demo\.sh)$`),
		skip: "starts the dev stack (and walks the demo) on the default ports, which the tests leave to a running demo; " +
			"it is run by `make demo` (scripts/demo.sh), which stops at the first answer it does not expect"},
	{name: "make down", match: exact("make down"),
		skip: "stops the checkout's dev stack, maybe a running demo's, which a test must leave alone"},
	{name: "the test suite", match: matches(`^(make (test|test-server|tools|monitoring-check)|\.ci/run|go vet|go test( \./\.\.\.| \./bench)?)$`),
		skip: "the test suite itself, or one of its steps: running it from a test would recurse"},
	{name: "the long runs", match: matches(`^(make (faults|fuzz|mutate|bench)|go test \./faults|go run \./bench( -h)?)$`),
		skip: "the whole fault suite, fuzzing, mutation testing and the benchmark take many minutes and have targets of " +
			"their own; `make test` runs the faults' smoke part, brief fuzzing and the benchmark at tiny sizes (go test ./bench)"},
	{name: "Docker", match: prefixed("docker compose "),
		skip: "needs a Docker engine, which this project's machines do not have; internal/compose checks docker-compose.yml"},
	{name: "the codec endpoint flag", doc: "README.md", match: exact("temporal … --codec-endpoint http://127.0.0.1:8089"),
		skip: "a fragment (… stands for any temporal command); every temporal command here decodes through the test's " +
			"codec server, which .dev/env names in TEMPORAL_CODEC_ENDPOINT"},
	{name: "names in the prose", doc: "README.md", match: matches(`^(starter confirm|curl -F)$`),
		skip: "a command's name in a sentence; the README's blocks run it with its arguments"},
	{name: "starter serve", doc: "README.md", match: exact("starter serve"),
		skip: "names what the project chose not to have (the HTTP API is the gateway command)"},
	{name: "temporal workflow describe", doc: "docs/operations.md", match: exact("temporal workflow describe"),
		skip: "the command's name in a sentence, for a workflow whose tasks fail after an unsafe deploy: the state " +
			"integration/versioning_test.go makes and finds in the workflow's history"},
	{name: "the API reference check", doc: "README.md", match: matches(`^(make docs-check|go run \./scripts/docs-serve -listen 127\.0\.0\.1:8090)$`),
		skip: "installs Chromium when missing and loads the page in it (scripts/docs-check.sh, which runs docs-serve " +
			"itself); internal/gateway's TestDocsPageIsSelfContained checks the page and its assets"},
	{name: "the codec credentials pattern", doc: "docs/operations.md",
		match: exact(`temporal workflow show … --codec-endpoint URL --codec-auth "Bearer TOKEN"`),
		skip:  "a pattern whose URL and TOKEN are placeholders; codec-server's tests check both credentials"},
	{name: "apikey patterns", doc: "docs/operations.md", match: matches(`^starter apikey (create --company C --role R --label L|revoke ID)$`),
		skip: "a pattern whose C, R, L and ID are placeholders; the README's apikey commands run with real values"},

	// The server commands.
	{name: "worker migrate", match: exact("worker migrate"),
		check: func(w *docWorld, _ docCommand, r docResult, _ int) error {
			files, _ := filepath.Glob(filepath.Join(w.repo, "internal", "store", "migrations", "*.sql"))
			return holds(r.stderr, `"msg":"schema up to date"`, fmt.Sprintf(`"version":%d`, len(files)))
		}},
	{name: "worker search-attributes", match: exact("worker search-attributes"),
		check: func(_ *docWorld, _ docCommand, r docResult, _ int) error {
			var want string
			for _, sa := range workflows.SearchAttributes() {
				want += sa.Name + "=" + sa.Type + "\n"
			}
			if r.stdout != want {
				return fmt.Errorf("printed\n%s\nwant\n%s", r.stdout, want)
			}
			return nil
		}},
	{name: "healthchecks", match: matches(`^(worker|gateway|codec-server) healthcheck$`),
		env: func(w *docWorld) map[string]string {
			return map[string]string{"K2K_WORKER_HTTP_LISTEN": w.workerHTTP, "K2K_GATEWAY_LISTEN": w.gateway, "K2K_CODEC_LISTEN": w.codec}
		},
		check: func(w *docWorld, c docCommand, r docResult, _ int) error {
			if r.stdout+r.stderr != "" {
				return fmt.Errorf("a healthcheck that passes prints nothing")
			}
			// It does probe: with nothing listening at the address it fails, saying so.
			down := map[string]string{"K2K_WORKER_HTTP_LISTEN": "127.0.0.1:1", "K2K_GATEWAY_LISTEN": "127.0.0.1:1", "K2K_CODEC_LISTEN": "127.0.0.1:1"}
			if r := w.runAlone(c.text, down, 30*time.Second); r.code != 1 || !strings.Contains(r.stderr, "probe") {
				return fmt.Errorf("with nothing listening: %s; want exit 1 and the probe's error", r)
			}
			return nil
		}},

	// README, Contracts: the raw Temporal CLI on PO-7, and a visibility query.
	{name: "raw update", doc: "README.md", before: arrangeContracts,
		match: prefixed("temporal workflow update execute --workflow-id 'k2k-invoice/ACME/GLOBEX/PO-7' --name approve "),
		check: stdoutHas("Name      approve\n", "Result    map[accepted:true action:approve status:AA]")},
	{name: "raw signal", doc: "README.md",
		match: prefixed("temporal workflow signal --workflow-id 'k2k-invoice/ACME/GLOBEX/PO-7' --name approve-payment "),
		check: stdoutHas("Signal workflow succeeded")},
	{name: "raw query", doc: "README.md", retry: true,
		match: exact("temporal workflow query --workflow-id 'k2k-invoice/ACME/GLOBEX/PO-7' --type status"),
		check: queriedState(func(st workflows.State) error {
			if st.Status != "A" || !st.Answers["k1"].Accepted || !st.Answers["k2"].Accepted {
				return fmt.Errorf("status %s, answers %+v; want A, k1 and k2 accepted", st.Status, st.Answers)
			}
			return nil
		})},
	{name: "README's visibility query", doc: "README.md", before: arrangeOps, retry: true,
		match: exact(`temporal workflow list --query "K2KBuyer='GLOBEX-RETAIL' AND K2KStatus='AA'"`),
		check: func(_ *docWorld, _ docCommand, r docResult, _ int) error {
			return listed(r.stdout, []string{opsWorkflow("PO-1002")}, []string{opsWorkflow("PO-1001")})
		}},

	// README, Using the starter: the walk of PO-1.
	{name: "source .dev/env", match: exact("source .dev/env"),
		check: func(w *docWorld, c docCommand, _ docResult, _ int) error {
			got := w.eval(c.doc, `printf '%s %s %s' "$TEMPORAL_NAMESPACE" "$K2K_GATEWAY_URL" "$(command -v starter)"`)
			if want := docNamespace + " " + w.env["K2K_GATEWAY_URL"] + " " + filepath.Join(w.root, ".dev", "bin", "starter"); got != want {
				return fmt.Errorf("after it, the shell has %q, want %q", got, want)
			}
			return nil
		}},
	{name: "company upsert", doc: "README.md", match: prefixed(".dev/bin/starter company upsert "),
		check: func(_ *docWorld, c docCommand, r docResult, _ int) error {
			id := regexp.MustCompile(`--id (\S+)`).FindStringSubmatch(c.oneLine)[1]
			return holds(r.stdout, fmt.Sprintf("company    %s ", id),
				fmt.Sprintf("auto-invoice-sync=%t accept-k2k-invoices=%t separate-duties=%t", strings.Contains(c.oneLine, "--auto-invoice-sync"),
					strings.Contains(c.oneLine, "--accept-k2k-invoices"), !strings.Contains(c.oneLine, "--no-separate-duties")))
		}},
	{name: "connection upsert", doc: "README.md", match: prefixed(".dev/bin/starter connection upsert "),
		check: stdoutHas("connection ACME → GLOBEX: active")},
	{name: "confirm", doc: "README.md", match: exact(".dev/bin/starter confirm examples/order.json"),
		check: stdoutHas("workflow   k2k-invoice/ACME/GLOBEX/PO-1 ", " INV-1, 1318.50 EUR", "status     AP (pending approval by procurement), revision 1")},
	{name: "approve", doc: "README.md", match: prefixed(".dev/bin/starter approve --"),
		check: byOccurrence([]string{"accepted   status AA"}, []string{"refused    update_unreviewed"}, []string{"accepted   status AA"})},
	{name: "return-to-procurement", doc: "README.md", match: prefixed(".dev/bin/starter return-to-procurement "),
		check: stdoutHas("accepted   status AP")},
	{name: "vendor-update", doc: "README.md", match: prefixed(".dev/bin/starter vendor-update examples/update.json "),
		check: stdoutHas("accepted   status AP")},
	{name: "acknowledge-update", doc: "README.md", match: prefixed(".dev/bin/starter acknowledge-update "),
		check: stdoutHas("accepted   status AP")},
	{name: "approve-payment", doc: "README.md", match: prefixed(".dev/bin/starter approve-payment "),
		check: byOccurrence([]string{"accepted   status A (approved"}, []string{"accepted   status A (approved"})},
	{name: "cancel-payment-approval", doc: "README.md", match: prefixed(".dev/bin/starter cancel-payment-approval "),
		check: stdoutHas("accepted   status AA")},
	{name: "mark-paid", doc: "README.md", match: prefixed(".dev/bin/starter mark-paid "),
		check: stdoutHas("accepted   status P (paid)")},
	{name: "status", doc: "README.md", match: exact(".dev/bin/starter status --vendor ACME --buyer GLOBEX --po PO-1"),
		check: stdoutHas(" INV-1-R2, 1343.50 EUR", "status     P (paid), revision 2", "mark_paid")},

	// README, Using the gateway.
	{name: "apikey create", doc: "README.md", match: matches(`^[A-Z_]+=\$\(\.dev/bin/starter apikey create --company \S+ --role \S+ --label \S+\)$`),
		check: func(w *docWorld, c docCommand, r docResult, _ int) error {
			m := regexp.MustCompile(`^([A-Z_]+)=.* --company (\S+) --role (\S+) --label (\S+)\)$`).FindStringSubmatch(c.oneLine)
			if err := holds(r.stderr, fmt.Sprintf("for %s (%s), %q", m[2], m[3], m[4])); err != nil {
				return err
			}
			if key := w.eval(c.doc, `printf %s "$`+m[1]+`"`); !regexp.MustCompile(`^k2k_[0-9a-f]{16}_[0-9a-f]{64}$`).MatchString(key) {
				return fmt.Errorf("$%s is %q, not an API key", m[1], key)
			}
			return nil
		}},
	{name: "apikey revoke", doc: "README.md", match: matches(`^\.dev/bin/starter apikey revoke [0-9a-f]{16}$`),
		// The README revokes a key of its own: the test makes it, and sees it work until then.
		before: func(w *docWorld, c docCommand) {
			id := strings.Fields(c.oneLine)[3]
			secret := strings.Repeat("5e", 32)
			w.sql(`INSERT INTO api_keys (id, company_id, role, label, secret_sha256) VALUES ($1, 'ACME', 'vendor', 'old-erp', $2)
				RETURNING id`, id, blob.SHA256Hex([]byte(secret)))
			w.note["revoked key"] = "k2k_" + id + "_" + secret
			if code := w.gatewayStatus(w.note["revoked key"]); code != http.StatusOK {
				w.t.Fatalf("the key to revoke answers %d before it is revoked", code)
			}
		},
		check: func(w *docWorld, c docCommand, r docResult, _ int) error {
			if err := holds(r.stdout, "revoked    api key "+strings.Fields(c.oneLine)[3]); err != nil {
				return err
			}
			if code := w.gatewayStatus(w.note["revoked key"]); code != http.StatusUnauthorized {
				return fmt.Errorf("the revoked key answers %d, want 401", code)
			}
			return nil
		}},
	{name: "key()", doc: "README.md", match: exact("key() { cat /proc/sys/kernel/random/uuid; }"),
		check: func(w *docWorld, c docCommand, _ docResult, _ int) error {
			uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$`)
			a, b := w.eval(c.doc, "key"), w.eval(c.doc, "key")
			if !uuid.MatchString(a) || a == b {
				return fmt.Errorf("key prints %q then %q; want two UUIDs", a, b)
			}
			return nil
		}},
	{name: "confirm as JSON", doc: "README.md", match: holding("curl ", "examples/order-2.json", `/v1/orders"`),
		// The README's invoice 42: the test's database numbers the next invoice so.
		before: func(w *docWorld, _ docCommand) {
			if last, _ := strconv.Atoi(w.sql(`SELECT coalesce(max(id), 0)::text FROM vendor_invoices`)); last >= 42 {
				w.t.Fatalf("invoice ids already reach %d: the README's 42 cannot be the next", last)
			}
			w.sql(`SELECT setval(pg_get_serial_sequence('vendor_invoices', 'id'), 41)::text`)
		},
		check: jsonFields(map[string]any{"workflow_id": "k2k-invoice/ACME/GLOBEX/PO-2", "invoice_id": 42, "status": "AP"})},
	{name: "confirm as multipart", doc: "README.md", match: holding("curl ", "-F 'order=@examples/order-3.json;type=application/json'", "/v1/orders"),
		check: func(w *docWorld, c docCommand, r docResult, n int) error {
			_, sha := examplePDF(w)
			if got := w.sql(`SELECT r.pdf_sha256::text FROM invoice_revisions r JOIN vendor_invoices i ON i.id = r.invoice_id
				WHERE i.vendor_id = 'ACME' AND i.po_number = 'PO-3'`); got != sha {
				return fmt.Errorf("PO-3's PDF has SHA-256 %q, want examples/invoice.pdf's %s", got, sha)
			}
			return jsonFields(map[string]any{"workflow_id": "k2k-invoice/ACME/GLOBEX/PO-3", "invoice_id": 43, "status": "AP"})(w, c, r, n)
		}},
	{name: "upload", doc: "README.md", match: holding("curl ", "--data-binary @examples/invoice.pdf", "/v1/uploads"),
		check: func(w *docWorld, c docCommand, r docResult, n int) error {
			data, sha := examplePDF(w)
			return jsonFields(map[string]any{"upload_id": sha, "size": len(data), "sha256": sha})(w, c, r, n)
		}},
	{name: "confirm with an upload", doc: "README.md", match: holding("curl ", "examples/order-4.json", "pdf_upload", `/v1/orders"`),
		check: jsonFields(map[string]any{"workflow_id": "k2k-invoice/ACME/GLOBEX/PO-4", "invoice_id": 44, "status": "AP"})},
	{name: "vendor update with an upload", doc: "README.md", match: holding("curl ", "examples/update-2.json", "pdf_upload", "/v1/invoices/42/actions/vendor-update"),
		check: jsonFields(map[string]any{"action": "vendor_update", "accepted": true, "status": "AP"})},
	{name: "list", doc: "README.md", match: holding("curl ", `/v1/invoices?status=AP&warning=true&page_size=1"`),
		check: func(_ *docWorld, _ docCommand, r docResult, _ int) error {
			var page struct {
				Invoices      []map[string]json.RawMessage `json:"invoices"`
				NextPageToken string                       `json:"next_page_token"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || len(page.Invoices) != 1 || page.NextPageToken != "NDI" {
				return fmt.Errorf("want one invoice and next_page_token NDI (%v)", err)
			}
			return sameFields(page.Invoices[0], map[string]any{"id": 42, "po_number": "PO-2", "invoice_number": "INV-2-R2",
				"status": "AP", "revision": 2, "total_minor": 134350, "po_total_minor": 131850, "discrepancy_minor": 2500, "update_pending": true})
		}},
	{name: "list, next page", doc: "README.md", match: holding("curl ", `/v1/invoices?status=AP&warning=true&page_size=1&page_token=NDI"`),
		check: func(_ *docWorld, _ docCommand, r docResult, _ int) error {
			if strings.TrimSpace(r.stdout) != `{"invoices":[]}` {
				return fmt.Errorf(`want {"invoices":[]}`)
			}
			return nil
		}},
	{name: "get", doc: "README.md", match: exact(`curl -s -H "Authorization: Bearer $PROC_KEY" "$K2K_GATEWAY_URL/v1/invoices/42"`),
		check: func(_ *docWorld, _ docCommand, r docResult, _ int) error {
			var inv struct {
				ID        int `json:"id"`
				Revisions []struct {
					InvoiceNumber string `json:"invoice_number"`
				} `json:"revisions"`
				Events []struct {
					Action string `json:"action"`
				} `json:"events"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &inv); err != nil {
				return err
			}
			if inv.ID != 42 || len(inv.Revisions) != 2 || inv.Revisions[1].InvoiceNumber != "INV-2-R2" ||
				!slices.ContainsFunc(inv.Events, func(e struct {
					Action string `json:"action"`
				}) bool {
					return e.Action == "vendor_update"
				}) {
				return fmt.Errorf("want invoice 42 with revisions INV-2 and INV-2-R2 and its vendor_update event")
			}
			return nil
		}},
	{name: "approve over HTTP", doc: "README.md", match: holding("curl ", `/v1/invoices/42/actions/approve"`),
		check: jsonFields(map[string]any{"type": "urn:k2k:problem:refused", "status": 409, "code": "update_unreviewed"})},
	{name: "async approve-payment", doc: "README.md", match: holding("curl ", "/v1/invoices/42/actions/approve-payment?async=true"),
		check: func(w *docWorld, c docCommand, r docResult, n int) error {
			if strings.TrimSpace(r.stdout) != `{"action":"approve_payment","accepted":false,"queued":true}` {
				return fmt.Errorf(`want {"action":"approve_payment","accepted":false,"queued":true}`)
			}
			return nil
		}},
	{name: "PDF link", doc: "README.md", match: holding("curl ", `/v1/invoices/42/revisions/2/pdf"`),
		check: func(w *docWorld, c docCommand, r docResult, n int) error {
			_, sha := examplePDF(w)
			if err := holds(r.stdout, `"url":"`+w.env["AWS_ENDPOINT_URL_S3"]+"/"+docBucket+"/invoices/GLOBEX/ACME/INV-2-R2/r2/"+sha+".pdf?"); err != nil {
				return err
			}
			return jsonFields(map[string]any{"sha256": sha})(w, c, r, n)
		}},
	{name: "the link's URL", doc: "README.md", match: holding("URL=$(curl ", `/v1/invoices/42/revisions/2/pdf" | sed `),
		check: func(w *docWorld, c docCommand, _ docResult, _ int) error {
			url := w.eval(c.doc, `printf %s "$URL"`)
			if !strings.HasPrefix(url, w.env["AWS_ENDPOINT_URL_S3"]+"/") || !strings.Contains(url, "&X-Amz-") || strings.Contains(url, `\u0026`) {
				return fmt.Errorf("$URL is %q, not the presigned link", url)
			}
			return nil
		}},
	{name: "download", doc: "README.md", match: exact(`curl -s -o invoice-r2.pdf "$URL"`),
		check: func(w *docWorld, _ docCommand, _ docResult, _ int) error {
			got, err := os.ReadFile(filepath.Join(w.root, "invoice-r2.pdf"))
			if want, _ := examplePDF(w); err != nil || !bytes.Equal(got, want) {
				return fmt.Errorf("invoice-r2.pdf is not examples/invoice.pdf, revision 2's PDF (%v, %d bytes)", err, len(got))
			}
			return nil
		}},

	// docs/operations.md.
	{name: "the table's queries", doc: "docs/operations.md", match: exact(`temporal workflow list --query "…"`), before: arrangeOps,
		run: func(w *docWorld, c docCommand) {
			queries := opsTableQueries(w.t, w.repo)
			for q := range opsQueries {
				if !slices.Contains(queries, q) {
					w.t.Errorf("opsQueries has %q, which the table of docs/operations.md no longer has", q)
				}
			}
			for _, q := range queries {
				want, ok := opsQueries[q]
				if !ok {
					w.t.Errorf("the query %q of docs/operations.md has no expectation in opsQueries", q)
					continue
				}
				if strings.Contains(q, "not_eligible") && time.Now().After(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)) {
					want.has = append(want.has, "PO-1003")
				}
				var has, hasNot []string
				for _, po := range want.has {
					has = append(has, opsWorkflow(po))
				}
				for _, po := range want.hasNot {
					hasNot = append(hasNot, opsWorkflow(po))
				}
				// The pattern filled with the table's query, as the guide says to use it.
				filled := c
				filled.text = strings.Replace(c.text, "…", q, 1)
				w.runChecked(filled, &docRunner{retry: true, check: func(_ *docWorld, _ docCommand, r docResult, _ int) error {
					return listed(r.stdout, has, hasNot)
				}}, 0)
			}
		}},
	{name: "ops query", doc: "docs/operations.md", before: arrangeOps,
		match: exact("temporal workflow query --workflow-id 'k2k-invoice/ACME-SUPPLY/GLOBEX-RETAIL/PO-1001' --type status"),
		check: queriedState(func(st workflows.State) error {
			if st.Status != "AP" || !st.UpdatePending || st.Revision != 2 {
				return fmt.Errorf("status %s, update pending %t, revision %d; want AP, true, 2", st.Status, st.UpdatePending, st.Revision)
			}
			return nil
		})},
	{name: "ops acknowledge-update", doc: "docs/operations.md",
		match: prefixed("temporal workflow update execute --workflow-id 'k2k-invoice/ACME-SUPPLY/GLOBEX-RETAIL/PO-1001' --name acknowledge-update "),
		check: stdoutHas("Name      acknowledge-update\n", "Result    map[accepted:true action:acknowledge_update status:AP]")},
	{name: "task queue", doc: "docs/operations.md", match: exact("temporal task-queue describe --task-queue k2k-invoice"),
		check: func(w *docWorld, _ docCommand, r docResult, _ int) error {
			return holds(r.stdout, fmt.Sprintf("%d@", w.pidOf("worker-1")))
		}},
	{name: "history download", doc: "docs/operations.md",
		match: exact("temporal workflow show --workflow-id 'k2k-invoice/ACME-SUPPLY/GLOBEX-RETAIL/PO-1001' -o json > h.json"),
		check: func(w *docWorld, _ docCommand, _ docResult, _ int) error {
			// The guide's next step: replay it with the codec of the payload keys.
			codec, err := payloadcrypt.ParseKeys(w.env["K2K_PAYLOAD_KEYS"])
			if err != nil {
				return err
			}
			replayer, err := workflows.NewReplayer(codec.DataConverter())
			if err != nil {
				return err
			}
			return replayer.ReplayWorkflowHistoryFromJSONFile(slog.New(slog.NewTextHandler(io.Discard, nil)), filepath.Join(w.root, "h.json"))
		}},
	{name: "openssl", doc: "docs/operations.md", match: exact("openssl rand -base64 32"),
		check: func(w *docWorld, _ docCommand, r docResult, _ int) error {
			key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.stdout))
			if err != nil || len(key) != 32 {
				return fmt.Errorf("not 32 bytes in base64 (%v)", err)
			}
			// Put first in K2K_PAYLOAD_KEYS, as the guide says, it is a key ring the processes read.
			_, err = payloadcrypt.ParseKeys("newid:" + strings.TrimSpace(r.stdout) + "," + w.env["K2K_PAYLOAD_KEYS"])
			return err
		}},
	{name: "roll: build", doc: "docs/operations.md", match: exact("go build -o .dev/bin/worker ./worker"),
		// go build writes the binary unless it is up to date already: either way it is the
		// worker command of this checkout.
		check: func(w *docWorld, _ docCommand, _ docResult, _ int) error {
			info, err := buildinfo.ReadFile(filepath.Join(w.root, ".dev", "bin", "worker"))
			if err != nil {
				return err
			}
			if want := "github.com/k2kinvoice/autoinvoice/worker"; info.Path != want {
				return fmt.Errorf(".dev/bin/worker is %s, want %s", info.Path, want)
			}
			return nil
		}},
	{name: "roll: stop", doc: "docs/operations.md", match: exact(`kill -TERM "$(cat .dev/run/worker-1.pid)"`),
		check: func(w *docWorld, _ docCommand, _ docResult, _ int) error {
			select {
			case <-w.procs["worker-1"].done:
			case <-time.After(40 * time.Second):
				return fmt.Errorf("worker-1 still runs 40 s after SIGTERM")
			}
			log, _ := os.ReadFile(filepath.Join(w.root, ".dev", "log", "worker-1.log"))
			return holds(string(log), `"worker stopped"`)
		}},
	{name: "roll: start", doc: "docs/operations.md",
		match: exact("K2K_WORKER_HTTP_LISTEN=127.0.0.1:9464 .dev/bin/worker >>.dev/log/worker-1.log 2>&1 & echo $! >.dev/run/worker-1.pid"),
		check: func(w *docWorld, _ docCommand, _ docResult, _ int) error {
			pid := w.pidOf("worker-1")
			if pid == w.procs["worker-1"].cmd.Process.Pid || syscall.Kill(pid, 0) != nil {
				return fmt.Errorf(".dev/run/worker-1.pid holds %d, not a new running worker", pid)
			}
			w.waitLog("worker-1", `"worker started"`, 2, 60*time.Second)
			return w.awaitHealthy("http://"+w.workerHTTP+"/healthz", 30*time.Second)
		}},
}

// gatewayStatus is the status the world's gateway answers GET /v1/invoices with key.
func (w *docWorld) gatewayStatus(key string) int {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.env["K2K_GATEWAY_URL"]+"/v1/invoices", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := gwHTTP.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// runChecked runs the command as written (its addresses the test's), in the document's shell or,
// quoted in the prose, on its own; then checks its exit code and output.
func (w *docWorld) runChecked(c docCommand, r *docRunner, n int) {
	t := w.t
	t.Helper()
	text := w.substitute(c)
	var env map[string]string
	if r.env != nil {
		env = r.env(w)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var res docResult
		if c.inline {
			res = w.runAlone(text, env, 5*time.Minute)
		} else {
			var err error
			if res, err = w.shell(c.doc).run(text, 5*time.Minute); err != nil {
				t.Fatalf("%s: %s\n%v", c.where(), c.oneLine, err)
			}
		}
		var err error
		if res.code != c.wantExit() {
			err = fmt.Errorf("exit %d, the docs say %d", res.code, c.wantExit())
		} else if r.check != nil {
			err = r.check(w, c, res, n)
		}
		if err == nil {
			return
		}
		if !r.retry || time.Now().After(deadline) {
			t.Fatalf("%s: the command does not work as written:\n    %s\n%v\n%s", c.where(), text, err, res)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func TestDocCommands(t *testing.T) {
	began := time.Now()
	repo, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var all []docCommand
	for _, doc := range docFiles {
		cmds, err := docCommands(repo, doc)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, cmds...)
	}
	// Every command has one runner, and every runner a command.
	runners := make([]*docRunner, len(all))
	used := map[*docRunner]bool{}
	var problems []string
	for i, c := range all {
		var found []string
		for _, r := range docRunners {
			if (r.doc == "" || r.doc == c.doc) && r.match(c.oneLine) {
				runners[i], used[r] = r, true
				found = append(found, r.name)
			}
		}
		switch len(found) {
		case 0:
			problems = append(problems, fmt.Sprintf("%s: %s\n    has no runner: add one to docRunners (integration/doc_commands_test.go) "+
				"that checks its output, or that skips it with the reason", c.where(), c.oneLine))
		case 1:
		default:
			problems = append(problems, fmt.Sprintf("%s: %s\n    is matched by several runners: %s", c.where(), c.oneLine, strings.Join(found, ", ")))
		}
	}
	for _, r := range docRunners {
		if !used[r] {
			problems = append(problems, fmt.Sprintf("docRunners' %q matches no command of %v any more: remove or update it", r.name, docFiles))
		}
	}
	if len(problems) > 0 {
		t.Fatalf("the documents' commands and docRunners disagree:\n%s", strings.Join(problems, "\n"))
	}
	checkShownOrder(t, repo)

	w := newDocWorld(t)
	t.Logf("the world is up after %s", time.Since(began).Round(time.Millisecond))
	occurrences := map[*docRunner]int{}
	ran := 0
	for i, c := range all {
		r := runners[i]
		if r.skip != "" {
			t.Logf("not run: %s %s%s: %s", c.where(), c.oneLine, quotedAgain(c), r.skip)
			continue
		}
		n := occurrences[r]
		occurrences[r]++
		if r.before != nil {
			r.before(w, c)
		}
		if r.run != nil {
			r.run(w, c)
		} else {
			w.runChecked(c, r, n)
		}
		ran++
		if testing.Verbose() {
			t.Logf("ok %s %s%s", c.where(), c.oneLine, quotedAgain(c))
		}
	}
	t.Logf("%d commands of %v run as written in %s", ran, docFiles, time.Since(began).Round(time.Millisecond))
}

// quotedAgain names the other places an inline command is quoted.
func quotedAgain(c docCommand) string {
	if len(c.also) == 0 {
		return ""
	}
	return " (quoted again at " + strings.Join(c.also, ", ") + ")"
}

// checkShownOrder: the order the README shows is examples/order.json, the file its commands use.
func checkShownOrder(t *testing.T, repo string) {
	t.Helper()
	readme, _ := os.ReadFile(filepath.Join(repo, "README.md"))
	file, err := os.ReadFile(filepath.Join(repo, "examples", "order.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "An order (`examples/order.json`")
	_, after, ok2 := strings.Cut(after, "```json\n")
	shown, _, ok3 := strings.Cut(after, "```\n")
	if !ok || !ok2 || !ok3 {
		t.Fatal("the README no longer shows examples/order.json after \"An order (`examples/order.json`\": update checkShownOrder")
	}
	if shown != string(file) {
		t.Errorf("the order the README shows is not examples/order.json:\n%s\nthe file:\n%s", shown, file)
	}
}
