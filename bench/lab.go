package main

// The lab: the servers and processes a bench run starts, as the fault suite starts them.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/k2kinvoice/autoinvoice/internal/app"
	"github.com/k2kinvoice/autoinvoice/internal/config"
	"github.com/k2kinvoice/autoinvoice/internal/payloadcrypt"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
)

const bucket = "k2k-bench"

// lab is what every phase shares: one database, one S3, the built worker and, while a profile
// runs, its Temporal server and an in-process client (the one the gateway and starter use).
type lab struct {
	cfg      settings
	log      io.Writer // progress lines
	dir      string    // processes' logs and the built worker
	worker   string    // the worker binary
	self     string    // this program, started again as a floor worker
	tag      string    // makes company IDs, and so workflow IDs, unique to this bench run
	dbURL    string
	s3       *testenv.S3
	codec    *payloadcrypt.Codec
	keepLogs bool

	profile string
	address string
	deps    *app.Deps

	mu      sync.Mutex
	seq     int
	cleanup []func()
}

// newLab builds the worker and starts PostgreSQL's database and versitygw.
func newLab(ctx context.Context, cfg settings, progress io.Writer) (_ *lab, err error) {
	if cfg.Quiet {
		progress = io.Discard
	}
	l := &lab{cfg: cfg, log: progress, tag: strconv.FormatInt(time.Now().Unix()%1e6, 36)}
	defer func() {
		if err != nil {
			l.keepLogs = true
			l.close()
		}
	}()
	if l.dir, err = os.MkdirTemp("", "k2k-bench-"); err != nil {
		return nil, err
	}
	if l.self, err = os.Executable(); err != nil {
		return nil, err
	}
	if l.codec, err = payloadcrypt.ParseKeys(payloadcrypt.TestKeys); err != nil {
		return nil, err
	}
	st, dbURL, drop, err := newDatabase(ctx)
	if err != nil {
		return nil, err
	}
	st.Close()
	l.dbURL = dbURL
	l.atClose(drop)
	if cfg.has(phaseThroughput) || cfg.has(phaseMemory) {
		if err := l.startS3AndBuild(ctx); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// startS3AndBuild builds the worker and starts versitygw with the bucket, for the phases that run
// workers.
func (l *lab) startS3AndBuild(ctx context.Context) (err error) {
	began := time.Now()
	if err := testenv.BuildCommands(filepath.Join(l.dir, "bin"), "./worker"); err != nil {
		return err
	}
	l.worker = filepath.Join(l.dir, "bin", "worker")
	l.logf("built the worker in %s", time.Since(began).Round(100*time.Millisecond))
	if l.s3, err = testenv.StartS3(ctx); err != nil {
		return err
	}
	l.atClose(l.s3.Stop)
	if err := testenv.Setenv(l.processEnv()); err != nil {
		return err
	}
	_, err = l.s3.Bucket(ctx, bucket)
	return err
}

// newDatabase creates a fresh database with the schema applied, and returns a store on it, its URL
// and the function that drops it.
func newDatabase(ctx context.Context) (*store.Store, string, func(), error) {
	dbURL, drop, err := testenv.NewDatabase(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	st, err := store.Open(ctx, dbURL)
	if err == nil {
		if err = st.Migrate(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
			st.Close()
		}
	}
	if err != nil {
		drop()
		return nil, "", nil, err
	}
	return st, dbURL, drop, nil
}

// atClose adds f to what close runs, last added first.
func (l *lab) atClose(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cleanup = append(l.cleanup, f)
}

// close stops everything the lab started.
func (l *lab) close() {
	l.mu.Lock()
	fs := l.cleanup
	l.cleanup = nil
	l.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	if l.keepLogs {
		fmt.Fprintf(l.log, "bench: the processes' logs are kept in %s\n", l.dir)
	} else if l.dir != "" {
		os.RemoveAll(l.dir)
	}
}

func (l *lab) logf(format string, args ...any) {
	fmt.Fprintf(l.log, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// processEnv is the environment of this process and of the workers, as the fault suite's.
func (l *lab) processEnv() map[string]string {
	e := l.s3.Env(bucket)
	e["DATABASE_URL"] = l.dbURL
	e["K2K_PAYLOAD_KEYS"] = payloadcrypt.TestKeys
	e["K2K_LOG_LEVEL"] = "warn"
	e["K2K_SHUTDOWN_TIMEOUT"] = "5s"
	e["TEMPORAL_NAMESPACE"] = "default"
	if l.address != "" {
		e["TEMPORAL_ADDRESS"] = l.address
	}
	return e
}

// onProfile starts the profile's Temporal server, connects to it, runs f and stops the server.
func (l *lab) onProfile(ctx context.Context, profile string, f func() error) error {
	began := time.Now()
	var srv testenv.Temporal
	var err error
	if profile == profileCluster {
		srv, err = testenv.StartTemporalServer(ctx)
	} else {
		srv, err = testenv.StartDevServer(ctx)
	}
	if err != nil {
		return err
	}
	defer func() { _ = srv.Stop() }()
	l.profile, l.address = profile, srv.FrontendHostPort()
	defer func() { l.profile, l.address = "", "" }()
	l.logf("profile %s: Temporal at %s, up in %s", profile, l.address, time.Since(began).Round(100*time.Millisecond))
	if err := testenv.Setenv(l.processEnv()); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if l.deps, err = app.Connect(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))); err != nil {
		return err
	}
	defer func() { l.deps.Close(); l.deps = nil }()
	return f()
}

// workerKind is which worker a variant runs.
type workerKind string

const (
	realWorker  workerKind = "worker"
	floorWorker workerKind = "floor-worker"
)

// workerProc is a worker process and the address of its /metrics.
type workerProc struct {
	*testenv.Proc
	metrics string
}

// startWorkers starts n worker processes of a kind, with env added to the lab's, and waits until
// each is ready.
func (l *lab) startWorkers(kind workerKind, n int, env map[string]string) ([]workerProc, error) {
	var procs []workerProc
	for range n {
		port, err := testenv.FreePort()
		if err != nil {
			stopWorkers(procs)
			return nil, err
		}
		e := l.processEnv()
		e["K2K_WORKER_HTTP_LISTEN"] = "127.0.0.1:" + strconv.Itoa(port)
		for k, v := range env {
			e[k] = v
		}
		bin := l.worker
		if kind == floorWorker {
			bin, e[roleEnv] = l.self, floorWorkerRole
		}
		l.mu.Lock()
		l.seq++
		name := fmt.Sprintf("%s-%d", kind, l.seq)
		l.mu.Unlock()
		p, err := testenv.StartProc(name, bin, nil, e, filepath.Join(l.dir, name+".log"))
		if err != nil {
			stopWorkers(procs)
			return nil, err
		}
		w := workerProc{Proc: p, metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", port)}
		procs = append(procs, w)
		if err := testenv.AwaitHTTP(p, fmt.Sprintf("http://127.0.0.1:%d/readyz", port), 90*time.Second); err != nil {
			stopWorkers(procs)
			return nil, err
		}
	}
	return procs, nil
}

// stopWorkers stops worker processes with SIGTERM, as a deploy would.
func stopWorkers(procs []workerProc) {
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.Stop(15 * time.Second) })
	}
	wg.Wait()
}

// nextTag is a fresh suffix for the companies of one run.
func (l *lab) nextTag() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	return fmt.Sprintf("%s-%d", l.tag, l.seq)
}

// postgresVersion is the PostgreSQL server's version, for the record.
func (l *lab) postgresVersion(ctx context.Context) string {
	conn, err := pgx.Connect(ctx, l.dbURL)
	if err != nil {
		return ""
	}
	defer conn.Close(ctx)
	var v string
	_ = conn.QueryRow(ctx, "SHOW server_version").Scan(&v)
	return v
}
