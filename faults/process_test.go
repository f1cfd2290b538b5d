package faults

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/k2kinvoice/autoinvoice/internal/testenv"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// proc is one OS process the suite started (testenv.StartProc).
type proc = testenv.Proc

// startProc starts bin with args and env, its output appended to logPath.
func startProc(name, bin string, args []string, env map[string]string, logPath string) (*proc, error) {
	return testenv.StartProc(name, bin, args, env, logPath)
}

// awaitHTTP polls url until it answers 200, the process exits, or limit passes.
func awaitHTTP(p *proc, url string, limit time.Duration) error {
	return testenv.AwaitHTTP(p, url, limit)
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
		if p.Exited() {
			return fmt.Errorf("the Temporal dev server exited (%v); log:\n%s", p.Err(), p.Tail(30))
		}
		if err := d.ready(ctx); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			p.Kill()
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
	clean := d.proc.Stop(30 * time.Second)
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
