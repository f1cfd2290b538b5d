package faults

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/k2kinvoice/autoinvoice/internal/testenv"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// proc is one OS process the suite started, in its own process group, its output in a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // how it exited, once done is closed
}

// startProc starts bin with args and env (added to this process's environment, later entries
// winning), its stdout and stderr appended to logPath.
func startProc(name, bin string, args []string, env map[string]string, logPath string) (*proc, error) {
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own group, so a kill reaches every child; and never outliving the suite.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL to the process group and waits for the process to be gone.
func (p *proc) kill() {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits up to grace for the process to exit, then kills it. It reports
// whether the process exited by itself.
func (p *proc) stop(grace time.Duration) bool {
	if p.exited() {
		return true
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		p.kill()
		return false
	}
}

// tail is the end of the process's log, for failure messages.
func (p *proc) tail(lines int) string {
	data, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// awaitHTTP polls url until it answers 200, the process exits, or limit passes.
func awaitHTTP(p *proc, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	hc := &http.Client{Timeout: 2 * time.Second}
	var last string
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited (%v) before %s answered; log:\n%s", p.name, p.err, url, p.tail(30))
		}
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s: %s did not answer 200 within %s (last: %s); log:\n%s", p.name, url, limit, last, p.tail(30))
}

// temporalServer is a Temporal server this suite started and can stop and start again.
type temporalServer interface {
	address() string
	run(ctx context.Context) error
	terminate() (time.Duration, error)
}

// realServer is the real Temporal server (K2K_TEST_TEMPORAL=server), on databases of its own that
// outlive a restart.
type realServer struct{ *testenv.TemporalServer }

func (r realServer) address() string                   { return r.FrontendHostPort() }
func (r realServer) run(ctx context.Context) error     { return r.Start(ctx) }
func (r realServer) terminate() (time.Duration, error) { return r.Terminate() }

// devServer is a Temporal CLI dev server this suite started, with its state in a SQLite file so
// that it can be stopped and started again on the same port with the same workflows.
type devServer struct {
	bin    string
	dbFile string
	port   int
	logDir string

	mu    sync.Mutex
	proc  *proc
	start int // how many times it was started
}

func (d *devServer) address() string { return "127.0.0.1:" + strconv.Itoa(d.port) }

// run starts the server and waits until the default namespace answers.
func (d *devServer) run(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.start++
	args := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(d.port), "--headless",
		"--http-port", "0", "--metrics-port", "0", "--db-filename", d.dbFile, "--log-level", "warn"}
	for _, sa := range workflows.SearchAttributes() {
		args = append(args, "--search-attribute", sa.Name+"="+sa.Type)
	}
	p, err := startProc("temporal", d.bin, args, nil, filepath.Join(d.logDir, "temporal.log"))
	if err != nil {
		return err
	}
	d.proc = p
	deadline := time.Now().Add(90 * time.Second)
	for {
		if p.exited() {
			return fmt.Errorf("the Temporal dev server exited (%v); log:\n%s", p.err, p.tail(30))
		}
		if err := d.ready(ctx); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("the Temporal dev server on %s is not ready after 90 s: %w", d.address(), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ready dials the server and describes the default namespace.
func (d *devServer) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: d.address(), Namespace: "default", Logger: quietLogger{}})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
	return err
}

// terminate stops the server with SIGTERM (a clean shutdown), or SIGKILL after 30 s.
func (d *devServer) terminate() (time.Duration, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc == nil {
		return 0, errors.New("the Temporal dev server is not running")
	}
	began := time.Now()
	clean := d.proc.stop(30 * time.Second)
	took := time.Since(began)
	d.proc = nil
	if !clean {
		return took, errors.New("the Temporal dev server did not stop within 30 s of SIGTERM; it was killed")
	}
	return took, nil
}

// quietLogger drops the SDK's logs of the readiness probe.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
