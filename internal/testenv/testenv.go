// Package testenv starts the real servers the tests talk to: a fresh PostgreSQL database on the
// machine's server, versitygw (S3) and Temporal (the CLI dev server, or with
// K2K_TEST_TEMPORAL=server the real server on PostgreSQL), each on free ports and stopped when the
// tests end. The server binaries are the pinned ones `make tools` builds into .dev/bin (or
// K2K_TEMPORAL_BIN, K2K_TEMPORAL_SERVER_BIN, K2K_TEMPORAL_SQL_TOOL_BIN, K2K_VERSITYGW_BIN). A
// missing server is an error, never a skip.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/config"
)

// AdminPostgresURL is the server tests create their databases on: K2K_TEST_POSTGRES_URL, or the
// local server every development and CI machine of this project runs.
func AdminPostgresURL() string {
	if u := os.Getenv("K2K_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// NewDatabase creates an empty database with a random name and returns its URL and a function
// that drops it.
func NewDatabase(ctx context.Context) (string, func(), error) {
	admin := AdminPostgresURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, fmt.Errorf("no PostgreSQL at %s (set K2K_TEST_POSTGRES_URL, or start the local server): %w", admin, err)
	}
	defer conn.Close(ctx)
	name := "k2k_test_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		return "", nil, err
	}
	url := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
	if cfg.Password != "" {
		url = fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Password, cfg.Host, cfg.Port, name)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, admin); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(ctx)
		}
	}
	return url, drop, nil
}

func randomUint16() uint16 {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return uint16(b[0])<<8 | uint16(b[1])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// FreePort returns a TCP port nothing listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// mainModule is the module line of the repository's own go.mod. Nested modules (the tools, the
// monitoring check) have go.mod files of their own, which RepoRoot passes over.
const mainModule = "module github.com/k2kinvoice/autoinvoice\n"

// RepoRoot is the repository's top folder (where the main module's go.mod is), found from the
// working directory: the tests of a nested module find the same folder and tools.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(data), mainModule) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("the go.mod of github.com/k2kinvoice/autoinvoice is not found above the working directory")
		}
		dir = parent
	}
}

// TemporalCLI finds the pinned Temporal CLI: K2K_TEMPORAL_BIN, else .dev/bin/temporal.
func TemporalCLI() (string, error) { return toolBinary("K2K_TEMPORAL_BIN", "temporal") }

// toolBinary finds a pinned server binary: the environment variable, else .dev/bin/NAME.
func toolBinary(envVar, name string) (string, error) {
	if p := os.Getenv(envVar); p != "" {
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, ".dev", "bin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is not built: run `make tools` (or set %s): %w", p, envVar, err)
	}
	return p, nil
}

// S3 is a running versitygw with one bucket.
type S3 struct {
	Endpoint  string
	AccessKey string
	SecretKey string
	Region    string
	cmd       *exec.Cmd
	dir       string
}

// StartS3 starts versitygw on a free port over a temporary folder.
func StartS3(ctx context.Context) (*S3, error) {
	bin, err := toolBinary("K2K_VERSITYGW_BIN", "versitygw")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "k2k-s3-")
	if err != nil {
		return nil, err
	}
	s := &S3{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), AccessKey: "k2ktest", SecretKey: "k2ktest-secret-" + randomHex(8),
		Region: "us-east-1", dir: dir}
	s.cmd = exec.Command(bin, "--port", "127.0.0.1:"+strconv.Itoa(port), "--access", s.AccessKey,
		"--secret", s.SecretKey, "--region", s.Region, "posix", dir)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the tests
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start versitygw: %w", err)
	}
	if err := waitListening(ctx, port, 10*time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("versitygw: %w", err)
	}
	return s, nil
}

// Stop stops the server and deletes its data.
func (s *S3) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
		}
	}
	os.RemoveAll(s.dir)
}

func waitListening(ctx context.Context, port int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("nothing listens on port %d after %s", port, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Env is the environment the processes read to reach this server, with bucket as K2K_S3_BUCKET.
func (s *S3) Env(bucket string) map[string]string {
	return map[string]string{
		"AWS_REGION":                  s.Region,
		"AWS_ACCESS_KEY_ID":           s.AccessKey,
		"AWS_SECRET_ACCESS_KEY":       s.SecretKey,
		"AWS_ENDPOINT_URL_S3":         s.Endpoint,
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"K2K_S3_BUCKET":               bucket,
		"K2K_S3_PATH_STYLE":           "true",
	}
}

// Setenv sets every variable of env in this process.
func Setenv(env map[string]string) error {
	for k, v := range env {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}

// Bucket creates bucket on the server and returns its store, configured the way the processes
// are: from the AWS settings in this process's environment (Setenv of Env first).
func (s *S3) Bucket(ctx context.Context, bucket string) (*blob.Store, error) {
	awsCfg, err := config.AWS(ctx)
	if err != nil {
		return nil, err
	}
	b := blob.New(awsCfg, bucket, true)
	if err := b.CreateBucket(ctx); err != nil {
		return nil, err
	}
	return b, nil
}
