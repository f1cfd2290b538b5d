package integration

// The world the documented commands run in (TestDocCommands): what `make up` gives an operator,
// made by the test on its own ports over the suite's servers. A folder stands in for the
// checkout: every top-level entry of the repository is linked into it except .dev, which is the
// test's own (.dev/bin with the commands built there, .dev/env, .dev/run, .dev/log), so commands
// such as `source .dev/env`, `.dev/bin/starter …`, `go build -o .dev/bin/worker ./worker` and
// `kill -TERM "$(cat .dev/run/worker-1.pid)"` run as written without touching the checkout's
// .dev, where a demo may be running. The world has its own database, bucket and Temporal
// namespace, so its worker never shares tasks with the suite's.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/config"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
)

// docWorld is the test's stand-in for the dev stack.
type docWorld struct {
	t    *testing.T
	repo string // the checkout
	root string // where the commands run: the checkout's entries linked, .dev the test's own
	// env is what the test's .dev/env exports: the names scripts/devstack.sh writes, the values
	// of the servers the test started.
	env  map[string]string
	base []string // the caller's environment without the suite's settings
	// addr maps a documented port (README, docs/operations.md) to the test's address for it.
	addr                       map[string]string
	gateway, codec, workerHTTP string
	shells                     map[string]*docShell
	procs                      map[string]*docProc
	arranged                   map[string]bool
	note                       map[string]string // values one command's check leaves for another's
}

// docProc is a process the world started, as devstack's start does: log in .dev/log/NAME.log,
// pid in .dev/run/NAME.pid.
type docProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

const (
	docNamespace = "k2k-doc-commands"
	docBucket    = "k2k-doc-commands"
)

// newDocWorld builds the commands, starts a worker, a gateway and a codec server as the dev stack
// does, and writes .dev/env.
func newDocWorld(t *testing.T) *docWorld {
	t.Helper()
	ctx := context.Background()
	repo, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	w := &docWorld{t: t, repo: repo, shells: map[string]*docShell{}, procs: map[string]*docProc{},
		arranged: map[string]bool{}, note: map[string]string{}}
	w.root = docRoot(t, repo)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "DATABASE_URL" || strings.HasPrefix(name, "TEMPORAL_") || strings.HasPrefix(name, "AWS_") ||
			strings.HasPrefix(name, "K2K_") {
			continue // the suite's world, not the one the docs speak of
		}
		w.base = append(w.base, kv)
	}

	// Build the commands as devstack's up does; the pinned Temporal CLI is linked beside them.
	began := time.Now()
	build := exec.Command("go", "build", "-o", ".dev/bin/", "./worker", "./gateway", "./codec-server", "./starter")
	build.Dir, build.Env = w.root, w.base
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build in %s: %v\n%s", w.root, err, out)
	}
	cli, err := testenv.TemporalCLI()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(cli, filepath.Join(w.root, ".dev", "bin", "temporal")); err != nil {
		t.Fatal(err)
	}
	t.Logf("built the commands in %s", time.Since(began).Round(time.Millisecond))

	db, drop, err := testenv.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	awsCfg, err := config.AWS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := blob.New(awsCfg, docBucket, true).CreateBucket(ctx); err != nil {
		t.Fatal(err)
	}
	if err := testenv.RegisterNamespace(ctx, os.Getenv("TEMPORAL_ADDRESS"), docNamespace); err != nil {
		t.Fatal(err)
	}

	ports := map[string]int{}
	for _, name := range []string{"gateway", "codec", "worker", "ui"} {
		if ports[name], err = testenv.FreePort(); err != nil {
			t.Fatal(err)
		}
	}
	local := func(name string) string { return "127.0.0.1:" + strconv.Itoa(ports[name]) }
	w.gateway, w.codec, w.workerHTTP = local("gateway"), local("codec"), local("worker")
	w.addr = map[string]string{
		"7233": os.Getenv("TEMPORAL_ADDRESS"), "8233": local("ui"), "7070": strings.TrimPrefix(os.Getenv("AWS_ENDPOINT_URL_S3"), "http://"),
		"8088": w.gateway, "8089": w.codec, "9464": w.workerHTTP,
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	w.env = map[string]string{
		"TEMPORAL_ADDRESS":        os.Getenv("TEMPORAL_ADDRESS"),
		"TEMPORAL_NAMESPACE":      docNamespace,
		"K2K_TEMPORAL_UI_URL":     "http://" + local("ui"), // nothing serves it: the starter prints links to it
		"DATABASE_URL":            db,
		"AWS_REGION":              os.Getenv("AWS_REGION"),
		"AWS_ACCESS_KEY_ID":       os.Getenv("AWS_ACCESS_KEY_ID"),
		"AWS_SECRET_ACCESS_KEY":   os.Getenv("AWS_SECRET_ACCESS_KEY"),
		"AWS_ENDPOINT_URL_S3":     os.Getenv("AWS_ENDPOINT_URL_S3"),
		"K2K_S3_BUCKET":           docBucket,
		"K2K_S3_PATH_STYLE":       "true",
		"K2K_GATEWAY_URL":         "http://" + w.gateway,
		"K2K_PROFILE":             "dev",
		"K2K_PAYLOAD_KEYS":        "docs-" + time.Now().UTC().Format("20060102") + ":" + base64.StdEncoding.EncodeToString(key),
		"K2K_CODEC_URL":           "http://" + w.codec,
		"TEMPORAL_CODEC_ENDPOINT": "http://" + w.codec,
		"PATH":                    filepath.Join(w.root, ".dev", "bin") + ":" + os.Getenv("PATH"),
	}
	w.writeEnvFile()

	// The processes of the dev profile, started the way devstack starts them: the worker first
	// (it migrates the database), then the gateway and the codec server.
	w.start("worker-1", map[string]string{"K2K_WORKER_HTTP_LISTEN": w.workerHTTP}, ".dev/bin/worker")
	w.waitLog("worker-1", `"worker started"`, 1, 60*time.Second)
	w.start("gateway", nil, ".dev/bin/gateway", "--listen", w.gateway)
	w.start("codec", nil, ".dev/bin/codec-server", "--listen", w.codec,
		"--origins", "http://"+local("ui")+",http://localhost:"+strconv.Itoa(ports["ui"]))
	for _, url := range []string{"http://" + w.gateway + "/healthz", "http://" + w.codec + "/healthz"} {
		if err := w.awaitHealthy(url, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(w.stop)
	return w
}

// docRoot makes the stand-in checkout: a folder at a path fixed for this checkout (so the Go
// build cache serves the builds made in it from one run to the next, and its binaries are
// relinked only when their code changed), locked while a run uses it, emptied of what an earlier
// run left but its binaries, the checkout's entries linked into it.
func docRoot(t *testing.T, repo string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(repo))
	root := filepath.Join(os.TempDir(), "k2k-doc-commands-"+hex.EncodeToString(sum[:6]))
	lock, err := os.OpenFile(root+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		_ = lock.Close()
	})
	// A run that was killed may have left processes started from this folder's .dev/bin.
	for _, pid := range startedHere(root) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	// Start afresh, but keep .dev/bin: go build leaves a binary that is up to date as it is.
	for _, dir := range []string{root, filepath.Join(root, ".dev")} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if (dir == root && e.Name() == ".dev") || (dir != root && e.Name() == "bin") {
				continue
			}
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil { // removes links, never what they point to
				t.Fatal(err)
			}
		}
	}
	_ = os.Remove(filepath.Join(root, ".dev", "bin", "temporal"))
	for _, dir := range []string{"bin", "run", "log"} {
		if err := os.MkdirAll(filepath.Join(root, ".dev", dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == ".dev" {
			continue
		}
		if err := os.Symlink(filepath.Join(repo, e.Name()), filepath.Join(root, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// startedHere are the processes of root's .dev/run/*.pid that run a program of root's .dev/bin.
func startedHere(root string) []int {
	bin := filepath.Join(root, ".dev", "bin")
	if real, err := filepath.EvalSymlinks(bin); err == nil {
		bin = real
	}
	var out []int
	files, _ := filepath.Glob(filepath.Join(root, ".dev", "run", "*.pid"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 1 {
			continue
		}
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && strings.HasPrefix(exe, bin+"/") {
			out = append(out, pid)
		}
	}
	return out
}

// devstackEnvNames are the variables scripts/devstack.sh writes into .dev/env, in its order.
func devstackEnvNames(t *testing.T, repo string) []string {
	t.Helper()
	script, err := os.ReadFile(filepath.Join(repo, "scripts", "devstack.sh"))
	if err != nil {
		t.Fatal(err)
	}
	_, heredoc, ok := strings.Cut(string(script), `cat >"$dev/env" <<ENV`+"\n")
	heredoc, _, ok2 := strings.Cut(heredoc, "\nENV\n")
	if !ok || !ok2 {
		t.Fatal("scripts/devstack.sh no longer writes .dev/env with a heredoc: update devstackEnvNames")
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^export ([A-Z0-9_]+)=`).FindAllStringSubmatch(heredoc, -1) {
		names = append(names, m[1])
	}
	return names
}

// writeEnvFile writes .dev/env with the names devstack writes (checked: the same set) and the
// test's values.
func (w *docWorld) writeEnvFile() {
	t := w.t
	names := devstackEnvNames(t, w.repo)
	var mine []string
	for name := range w.env {
		mine = append(mine, name)
	}
	slices.Sort(mine)
	if sorted := slices.Sorted(slices.Values(names)); !slices.Equal(sorted, mine) {
		t.Fatalf("scripts/devstack.sh writes %v into .dev/env; the test writes %v: keep them the same", sorted, mine)
	}
	var b strings.Builder
	b.WriteString("# Written by TestDocCommands: the names scripts/devstack.sh writes, the test's servers.\n")
	for _, name := range names {
		if name == "PATH" {
			fmt.Fprintf(&b, "export PATH=%q\n", filepath.Join(w.root, ".dev", "bin")+":$PATH")
			continue
		}
		fmt.Fprintf(&b, "export %s=%s\n", name, shellQuote(w.env[name]))
	}
	if err := os.WriteFile(filepath.Join(w.root, ".dev", "env"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// shellQuote is s in single quotes.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// environ is the environment of a process in the world: the caller's, .dev/env, then extra.
func (w *docWorld) environ(extra map[string]string) []string {
	env := slices.Clone(w.base)
	for _, m := range []map[string]string{w.env, extra} {
		for k, v := range m {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// start starts a process of the stack, as devstack's start does.
func (w *docWorld) start(name string, env map[string]string, program string, args ...string) {
	t := w.t
	t.Helper()
	log, err := os.Create(filepath.Join(w.root, ".dev", "log", name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(program, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = w.root, w.environ(env), log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the tests
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &docProc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	w.procs[name] = p
	pidFile := filepath.Join(w.root, ".dev", "run", name+".pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits until the process's log holds text at least n times.
func (w *docWorld) waitLog(name, text string, n int, limit time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		log, _ := os.ReadFile(filepath.Join(w.root, ".dev", "log", name+".log"))
		if strings.Count(string(log), text) >= n {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s: %q not in .dev/log/%s.log %d times after %s:\n%s", name, text, name, n, limit, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// awaitHealthy waits until url answers 200.
func (w *docWorld) awaitHealthy(url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		resp, err := gwHTTP.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %w after %s", url, err, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pidOf reads a pid file of .dev/run.
func (w *docWorld) pidOf(name string) int {
	data, _ := os.ReadFile(filepath.Join(w.root, ".dev", "run", name+".pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// stop stops what runs from .dev/bin (the worker a documented command restarted, the processes
// the world started), then the shells.
func (w *docWorld) stop() {
	pids := startedHere(w.root)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	for _, pid := range pids {
		for i := 0; i < 200 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(50 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, p := range w.procs {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	for _, s := range w.shells {
		s.close()
	}
}

// docResult is what a command did.
type docResult struct {
	code           int
	stdout, stderr string
}

func (r docResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, indent(r.stdout), indent(r.stderr))
}

func indent(s string) string {
	if s == "" {
		return "    (nothing)"
	}
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// runAlone runs a command on its own (an inline command of the prose) with bash in the world's
// folder and environment, extra added (the address a command would default to).
func (w *docWorld) runAlone(text string, extra map[string]string, limit time.Duration) docResult {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-c", text)
	cmd.Dir, cmd.Env = w.root, w.environ(extra)
	code, stdout, stderr := runExec(w.t, cmd)
	return docResult{code, stdout, stderr}
}

// shell is the document's shell: one bash for all of a document's blocks, in order, so what a
// command sets (VENDOR_KEY=…, key() { … }) is there for the next, as in an operator's terminal.
// It starts in the documented environment: .dev/env sourced.
func (w *docWorld) shell(doc string) *docShell {
	w.t.Helper()
	if s := w.shells[doc]; s != nil {
		return s
	}
	s, err := startDocShell(w.root, w.base)
	if err != nil {
		w.t.Fatal(err)
	}
	w.shells[doc] = s
	if r, err := s.run("source .dev/env", 10*time.Second); err != nil || r.code != 0 {
		w.t.Fatalf("source .dev/env: %v %v", err, r)
	}
	return s
}

// eval runs an expression in the document's shell (to read what a command left there) and
// returns its stdout.
func (w *docWorld) eval(doc, expr string) string {
	w.t.Helper()
	r, err := w.shell(doc).run(expr, 10*time.Second)
	if err != nil || r.code != 0 {
		w.t.Fatalf("%s in the shell of %s: %v %v", expr, doc, err, r)
	}
	return r.stdout
}

// docShell is a bash reading commands from a pipe; each command's end is marked on stdout (with
// its exit code) and on stderr.
type docShell struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	mu       sync.Mutex
	out, err bytes.Buffer
	seq      int
	done     chan struct{}
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func startDocShell(dir string, env []string) (*docShell, error) {
	s := &docShell{done: make(chan struct{})}
	s.cmd = exec.Command("bash", "--noprofile", "--norc")
	s.cmd.Dir, s.cmd.Env = dir, env
	s.cmd.Stdout, s.cmd.Stderr = lockedWriter{&s.mu, &s.out}, lockedWriter{&s.mu, &s.err}
	// Its own process group, so what a command leaves running goes with it; never outliving the tests.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	return s, nil
}

// run runs text (one command, as written) and waits for it to end, for at most limit.
func (s *docShell) run(text string, limit time.Duration) (docResult, error) {
	s.seq++
	mark := fmt.Sprintf("__k2k_doc_command_%d_ended__", s.seq)
	s.mu.Lock()
	outFrom, errFrom := s.out.Len(), s.err.Len()
	s.mu.Unlock()
	// The command's stdin is /dev/null: it must not read the commands that follow it.
	script := fmt.Sprintf("{\n%s\n} </dev/null\nprintf '\\n%s %%d\\n' \"$?\"\nprintf '\\n%s\\n' >&2\n", text, mark, mark)
	if _, err := io.WriteString(s.stdin, script); err != nil {
		return docResult{}, fmt.Errorf("the shell does not read: %w", err)
	}
	deadline := time.Now().Add(limit)
	for {
		s.mu.Lock()
		out, errOut := s.out.String()[outFrom:], s.err.String()[errFrom:]
		s.mu.Unlock()
		i, j := strings.Index(out, "\n"+mark+" "), strings.Index(errOut, "\n"+mark+"\n")
		if i >= 0 && j >= 0 {
			code, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(out[i+len(mark)+2:], "\n", 2)[0]))
			return docResult{code, out[:i], errOut[:j]}, err
		}
		select {
		case <-s.done:
			return docResult{}, fmt.Errorf("the shell exited\nstdout: %s\nstderr: %s", out, errOut)
		default:
		}
		if time.Now().After(deadline) {
			return docResult{}, fmt.Errorf("no end after %s\nstdout so far: %s\nstderr so far: %s", limit, out, errOut)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *docShell) close() {
	_ = s.stdin.Close()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
}

// starter runs the world's starter for an arrangement (not a documented command) and returns its
// stdout; it must succeed.
func (w *docWorld) starter(args ...string) string {
	w.t.Helper()
	cmd := exec.Command(filepath.Join(w.root, ".dev", "bin", "starter"), args...)
	cmd.Dir, cmd.Env = w.root, w.environ(nil)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		w.t.Fatalf("arranging with starter %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// orderFile writes examples/order.json with another vendor, buyer, PO and invoice number into the
// test's folder, for an arrangement.
func (w *docWorld) orderFile(vendor, buyer, po, number string) string {
	w.t.Helper()
	f, err := os.Open(filepath.Join(w.repo, "examples", "order.json"))
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	o, err := invoice.DecodeOrder(f)
	if err != nil {
		w.t.Fatal(err)
	}
	o.VendorID, o.BuyerID, o.PONumber, o.InvoiceNumber = vendor, buyer, po, number
	data, _ := json.Marshal(o)
	return writeFile(w.t, po+".json", data)
}

// updateFile writes examples/update.json with another invoice number, for an arrangement.
func (w *docWorld) updateFile(number string) string {
	w.t.Helper()
	data, err := os.ReadFile(filepath.Join(w.repo, "examples", "update.json"))
	if err != nil {
		w.t.Fatal(err)
	}
	var u invoice.InvoiceUpdate
	if err := invoice.DecodeStrict(bytes.NewReader(data), &u); err != nil {
		w.t.Fatal(err)
	}
	u.InvoiceNumber = number
	data, _ = json.Marshal(u)
	return writeFile(w.t, number+".json", data)
}

// once runs an arrangement the first time a command needs it.
func (w *docWorld) once(name string, arrange func()) {
	if !w.arranged[name] {
		w.arranged[name] = true
		arrange()
	}
}

// sql runs a query on the world's database and returns its first row's first column, which
// the query gives as text (or "" when there is no row).
func (w *docWorld) sql(query string, args ...any) string {
	w.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, w.env["DATABASE_URL"])
	if err != nil {
		w.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var out *string
	if err := conn.QueryRow(ctx, query, args...).Scan(&out); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		w.t.Fatalf("%s: %v", query, err)
	}
	if out == nil {
		return ""
	}
	return *out
}
