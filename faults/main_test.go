package faults

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/k2kinvoice/autoinvoice/internal/app"
	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/config"
	"github.com/k2kinvoice/autoinvoice/internal/payloadcrypt"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
)

// The suite's settings, from the environment:
//
//	K2K_FAULTS                   smoke (default: the subset `go test ./...` runs) or full (make faults)
//	K2K_TEST_TEMPORAL            dev (default: the Temporal CLI dev server) or server (the real
//	                             server on PostgreSQL, the cluster profile's configuration); the
//	                             suite starts it, and restarts it in the temporal-restart scenario
//	K2K_TEST_TEMPORAL_ADDRESS    use this Temporal server instead of starting one
//	K2K_TEST_TEMPORAL_NAMESPACE  its namespace (default "default"); no other worker may poll the
//	                             k2k-invoice task queue there, and the search attributes of
//	                             `worker search-attributes` must be registered
//	K2K_FAULTS_LOGS              keep the processes' logs in this folder (default: a temporary
//	                             folder, deleted when the suite passes)
const (
	modeSmoke = "smoke"
	modeFull  = "full"
	bucket    = "k2k-faults"
)

// suite is what every scenario shares: the servers, the built binaries and an in-process client
// that talks to PostgreSQL, S3 and Temporal directly (never through the proxies).
type suite struct {
	mode      string
	runID     string // makes company IDs, and so workflow IDs, unique to this run
	bins      string // the built worker and starter
	logDir    string
	dbURL     string
	s3        *testenv.S3
	temporal  temporalServer // nil when the suite uses a server it did not start
	address   string
	namespace string
	deps      *app.Deps
	db        *pgxpool.Pool
}

var env *suite

func TestMain(m *testing.M) {
	code, err := setUp(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// setUp builds the binaries, starts the servers, runs the tests and stops what it started.
func setUp(m *testing.M) (code int, err error) {
	ctx := context.Background()
	mode := cmp.Or(os.Getenv("K2K_FAULTS"), modeSmoke)
	if mode != modeSmoke && mode != modeFull {
		return 0, fmt.Errorf("K2K_FAULTS=%q: want %q or %q", mode, modeSmoke, modeFull)
	}
	s := &suite{mode: mode, runID: randomHex(3)}
	s.logDir = os.Getenv("K2K_FAULTS_LOGS")
	keepLogs := s.logDir != ""
	if keepLogs {
		err = os.MkdirAll(s.logDir, 0o755)
	} else {
		s.logDir, err = os.MkdirTemp("", "k2k-faults-")
	}
	if err != nil {
		return 0, err
	}
	defer func() {
		if code != 0 || err != nil {
			fmt.Fprintf(os.Stderr, "faults: the processes' logs are kept in %s\n", s.logDir)
		} else if !keepLogs {
			os.RemoveAll(s.logDir)
		}
	}()

	if s.bins, err = buildBinaries(filepath.Join(s.logDir, "bin")); err != nil {
		return 0, err
	}
	dbURL, drop, err := testenv.NewDatabase(ctx)
	if err != nil {
		return 0, err
	}
	defer drop()
	s.dbURL = dbURL
	if s.s3, err = testenv.StartS3(ctx); err != nil {
		return 0, err
	}
	defer s.s3.Stop()

	s.address, s.namespace = os.Getenv("K2K_TEST_TEMPORAL_ADDRESS"), cmp.Or(os.Getenv("K2K_TEST_TEMPORAL_NAMESPACE"), "default")
	kind, err := testenv.TemporalKind()
	if err != nil {
		return 0, err
	}
	switch {
	case s.address != "":
	case kind == "server":
		srv, err := testenv.StartTemporalServer(ctx)
		if err != nil {
			return 0, err
		}
		defer func() { _ = srv.Stop() }()
		s.temporal = realServer{srv}
		s.address, s.namespace = srv.FrontendHostPort(), "default"
	default:
		bin, err := testenv.TemporalCLI()
		if err != nil {
			return 0, err
		}
		port, err := testenv.FreePort()
		if err != nil {
			return 0, err
		}
		s.temporal = &devServer{bin: bin, dbFile: filepath.Join(s.logDir, "temporal.db"), port: port, logDir: s.logDir}
		if err := s.temporal.run(ctx); err != nil {
			return 0, err
		}
		defer func() { _, _ = s.temporal.terminate() }()
		s.address, s.namespace = s.temporal.address(), "default"
	}

	if s.deps, err = s.connect(ctx); err != nil {
		return 0, err
	}
	defer s.deps.Close()
	if s.db, err = pgxpool.New(ctx, dbURL); err != nil {
		return 0, err
	}
	defer s.db.Close()
	env = s
	return m.Run(), nil
}

// connect points this process at the servers (directly), creates the bucket, connects the way
// the commands do and applies the migrations.
func (s *suite) connect(ctx context.Context) (*app.Deps, error) {
	if err := testenv.Setenv(s.processEnv()); err != nil {
		return nil, err
	}
	cfg, err := config.Load()
	if err != nil {
		return nil, err
	}
	if awsCfg, err := config.AWS(ctx); err != nil {
		return nil, err
	} else if err := blob.New(awsCfg, cfg.S3Bucket, cfg.S3PathStyle).CreateBucket(ctx); err != nil {
		return nil, err
	}
	deps, err := app.Connect(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		return nil, err
	}
	if err := deps.Store.Migrate(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		deps.Close()
		return nil, err
	}
	return deps, nil
}

// processEnv is the environment of this process and of the processes it starts, with direct
// connections; a worker's PostgreSQL and S3 addresses are then pointed at its run's proxies.
func (s *suite) processEnv() map[string]string {
	e := s.s3.Env(bucket)
	e["DATABASE_URL"] = s.dbURL
	e["TEMPORAL_ADDRESS"] = s.address
	e["TEMPORAL_NAMESPACE"] = s.namespace
	e["K2K_PAYLOAD_KEYS"] = payloadcrypt.TestKeys
	e["K2K_LOG_LEVEL"] = "info"
	return e
}

// buildBinaries builds the worker and the gateway once for the whole run.
func buildBinaries(dir string) (string, error) {
	began := time.Now()
	if err := testenv.BuildCommands(dir, "./worker", "./gateway"); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "faults: built worker and gateway in %s\n", time.Since(began).Round(100*time.Millisecond))
	return dir, nil
}

// withHost is a URL with its host and port replaced (a proxy's address).
func withHost(raw, hostPort string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	u.Host = hostPort
	return u.String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
