package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/k2kinvoice/autoinvoice/workflows"
)

// Temporal is a running Temporal server for the tests: the CLI's dev server, or the real server.
type Temporal interface {
	FrontendHostPort() string
	Stop() error
}

// TemporalKind says which Temporal server the tests run on: K2K_TEST_TEMPORAL=server for the real
// server on PostgreSQL (the cluster profile's configuration), else the CLI's dev server.
func TemporalKind() (string, error) {
	switch kind := os.Getenv("K2K_TEST_TEMPORAL"); kind {
	case "", "dev":
		return "dev", nil
	case "server":
		return "server", nil
	default:
		return "", fmt.Errorf("K2K_TEST_TEMPORAL must be dev or server, not %q", kind)
	}
}

// StartTemporal starts the Temporal server TemporalKind selects, with the workflow's namespace and
// search attributes registered.
func StartTemporal(ctx context.Context) (Temporal, error) {
	kind, err := TemporalKind()
	if err != nil {
		return nil, err
	}
	if kind == "server" {
		return StartTemporalServer(ctx)
	}
	return StartDevServer(ctx)
}

// TemporalServer is the real Temporal server v1.29.1 (frontend, history, matching and worker in one
// process) on databases of its own on the test PostgreSQL, configured by
// deploy/temporal/config/k2k.yaml, the file the cluster profile and compose run.
type TemporalServer struct {
	frontend string
	bin, cli string
	args     []string
	env      []string
	cmd      *exec.Cmd
	log      *os.File
	dbs      []string
}

// FrontendHostPort is the frontend's address.
func (s *TemporalServer) FrontendHostPort() string { return s.frontend }

// StartTemporalServer creates two fresh databases with temporal-sql-tool and the schema files of
// the pinned server module, starts the server on free ports, and registers the namespace
// "default" and the search attributes with the pinned CLI.
func StartTemporalServer(ctx context.Context) (*TemporalServer, error) {
	server, err := toolBinary("K2K_TEMPORAL_SERVER_BIN", "temporal-server")
	if err != nil {
		return nil, err
	}
	sqlTool, err := toolBinary("K2K_TEMPORAL_SQL_TOOL_BIN", "temporal-sql-tool")
	if err != nil {
		return nil, err
	}
	cli, err := TemporalCLI()
	if err != nil {
		return nil, err
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	pg, err := pgx.ParseConfig(AdminPostgresURL())
	if err != nil {
		return nil, err
	}
	suffix := randomHex(5)
	s := &TemporalServer{dbs: []string{"k2k_temporal_" + suffix, "k2k_temporal_vis_" + suffix}}
	if err := s.createSchemas(ctx, sqlTool, root, pg); err != nil {
		s.dropDatabases()
		return nil, err
	}
	// The server stores membership ports as PostgreSQL smallint: they must be below 32768, under
	// the kernel's ephemeral range, so all ports come from there.
	ports := make([]int, 10)
	for i := range ports {
		if ports[i], err = freeLowPort(); err != nil {
			s.dropDatabases()
			return nil, err
		}
	}
	s.frontend = "127.0.0.1:" + strconv.Itoa(ports[0])
	env := map[string]string{
		"TEMPORAL_DB_HOST": pg.Host, "TEMPORAL_DB_PORT": strconv.Itoa(int(pg.Port)), "TEMPORAL_DB_USER": pg.User,
		"TEMPORAL_DB_PASSWORD": pg.Password, "TEMPORAL_DB_NAME": s.dbs[0], "TEMPORAL_VISIBILITY_DB_NAME": s.dbs[1],
		"TEMPORAL_FRONTEND_PORT": strconv.Itoa(ports[0]), "TEMPORAL_HTTP_PORT": strconv.Itoa(ports[1]),
		"TEMPORAL_FRONTEND_MEMBERSHIP_PORT": strconv.Itoa(ports[2]), "TEMPORAL_MATCHING_PORT": strconv.Itoa(ports[3]),
		"TEMPORAL_MATCHING_MEMBERSHIP_PORT": strconv.Itoa(ports[4]), "TEMPORAL_HISTORY_PORT": strconv.Itoa(ports[5]),
		"TEMPORAL_HISTORY_MEMBERSHIP_PORT": strconv.Itoa(ports[6]), "TEMPORAL_WORKER_PORT": strconv.Itoa(ports[7]),
		"TEMPORAL_WORKER_MEMBERSHIP_PORT": strconv.Itoa(ports[8]), "TEMPORAL_METRICS_PORT": strconv.Itoa(ports[9]),
		"TEMPORAL_DYNAMIC_CONFIG": filepath.Join(root, "deploy", "temporal", "dynamicconfig", "k2k.yaml"),
	}
	if s.log, err = os.CreateTemp("", "k2k-temporal-server-*.log"); err != nil {
		s.dropDatabases()
		return nil, err
	}
	s.bin, s.cli = server, cli
	s.args = []string{"--root", filepath.Join(root, "deploy", "temporal"), "--config", "config", "--env", "k2k", "--allow-no-auth", "start"}
	s.env = os.Environ()
	for k, v := range env {
		s.env = append(s.env, k+"="+v)
	}
	if err := s.Start(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// Start starts the server process, on the same ports and databases as before when it ran
// already, and waits until the namespace and the search attributes are registered.
func (s *TemporalServer) Start(ctx context.Context) error {
	s.cmd = exec.Command(s.bin, s.args...)
	s.cmd.Env = s.env
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the tests
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	if err := s.register(ctx, s.cli); err != nil {
		return fmt.Errorf("the Temporal server (log %s): %w", s.log.Name(), err)
	}
	return nil
}

// Terminate stops the server process with SIGTERM (SIGKILL after 30 s) and keeps its databases,
// so Start brings the same workflows back. It returns how long the server took to stop.
func (s *TemporalServer) Terminate() (time.Duration, error) {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0, errors.New("the Temporal server is not running")
	}
	began := time.Now()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		s.cmd = nil
		return time.Since(began), errors.New("the Temporal server did not stop within 30 s of SIGTERM; it was killed")
	}
	s.cmd = nil
	return time.Since(began), nil
}

// freeLowPort returns a port between 20000 and 32767 that nothing listens on right now.
func freeLowPort() (int, error) {
	for range 200 {
		port := 20000 + int(randomUint16()%12768)
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			_ = l.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port between 20000 and 32767")
}

// createSchemas runs the cluster profile's three temporal-sql-tool steps on each database.
func (s *TemporalServer) createSchemas(ctx context.Context, sqlTool, root string, pg *pgx.ConnConfig) error {
	modDir, err := exec.CommandContext(ctx, "go", "-C", filepath.Join(root, "tools", "temporal-server"),
		"list", "-m", "-f", "{{.Dir}}", "go.temporal.io/server").Output()
	if err != nil {
		return fmt.Errorf("find the server module's schema files: %w", err)
	}
	schema := filepath.Join(strings.TrimSpace(string(modDir)), "schema", "postgresql", "v12")
	for i, dir := range []string{"temporal", "visibility"} {
		base := []string{"--plugin", "postgres12", "--ep", pg.Host, "-p", strconv.Itoa(int(pg.Port)), "-u", pg.User, "--db", s.dbs[i]}
		if pg.Password != "" {
			base = append(base, "--pw", pg.Password)
		}
		for _, step := range [][]string{{"create-database"}, {"setup-schema", "-v", "0.0"},
			{"update-schema", "-d", filepath.Join(schema, dir, "versioned")}} {
			out, err := exec.CommandContext(ctx, sqlTool, append(base, step...)...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("temporal-sql-tool %s on %s: %w\n%s", step[0], s.dbs[i], err, out)
			}
		}
	}
	return nil
}

// register waits for the frontend, then creates the namespace "default" and the search
// attributes; both are left as they are when registered already.
func (s *TemporalServer) register(ctx context.Context, cli string) error {
	return registerNamespace(ctx, cli, s.frontend, "default", func() error {
		if s.cmd.ProcessState != nil {
			return errors.New("the server exited")
		}
		return nil
	})
}

// RegisterNamespace creates a namespace on a running Temporal server (the dev server or the real
// one) with the workflow's search attributes, as the dev stack registers them on its own, and
// waits until visibility queries naming them are accepted. Tests that need a world of their own
// (their own database and worker) use one so the suite's worker never takes their tasks.
func RegisterNamespace(ctx context.Context, hostPort, namespace string) error {
	cli, err := TemporalCLI()
	if err != nil {
		return err
	}
	return registerNamespace(ctx, cli, hostPort, namespace, func() error { return nil })
}

// registerNamespace creates namespace and the search attributes with the pinned CLI, retrying
// for a minute while the frontend comes up (alive says whether waiting is still worth it).
func registerNamespace(ctx context.Context, cli, hostPort, namespace string, alive func() error) error {
	run := func(args ...string) error {
		out, err := exec.CommandContext(ctx, cli, append(append([]string{"operator"}, args...),
			"--address", hostPort, "--namespace", namespace)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("temporal operator %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	saArgs := []string{"search-attribute", "create"}
	for _, sa := range workflows.SearchAttributes() {
		saArgs = append(saArgs, "--name", sa.Name, "--type", sa.Type)
	}
	deadline := time.Now().Add(60 * time.Second)
	var err error
	registered := func(step []string) error {
		if step[0] == "namespace" && run("namespace", "describe") == nil {
			return nil
		}
		return run(step...)
	}
	// The frontend caches the namespace's search attributes: they are usable once a visibility
	// query naming one is accepted.
	usable := func() error {
		out, err := exec.CommandContext(ctx, cli, "workflow", "list", "--address", hostPort, "--namespace", namespace,
			"--limit", "1", "--query", workflows.AttrVendor.GetName()+" = 'probe'").CombinedOutput()
		if err != nil {
			return fmt.Errorf("temporal workflow list by %s: %w: %s", workflows.AttrVendor.GetName(), err, bytes.TrimSpace(out))
		}
		return nil
	}
	for _, step := range []func() error{
		func() error { return registered([]string{"namespace", "create", "--retention", "72h"}) },
		func() error { return registered(saArgs) },
		usable,
	} {
		for err = step(); err != nil && time.Now().Before(deadline); err = step() {
			if dead := alive(); dead != nil {
				return dead
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Stop stops the server and drops its databases.
func (s *TemporalServer) Stop() error {
	if s.cmd != nil && s.cmd.Process != nil {
		_, _ = s.Terminate()
	}
	if s.log != nil {
		_ = s.log.Close()
		_ = os.Remove(s.log.Name())
	}
	s.dropDatabases()
	return nil
}

func (s *TemporalServer) dropDatabases() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, AdminPostgresURL())
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	for _, db := range s.dbs {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
	}
}
