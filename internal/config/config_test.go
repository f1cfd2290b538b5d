package config

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// configVars are every variable Load reads.
var configVars = []string{
	"DATABASE_URL", "K2K_S3_BUCKET", "K2K_S3_PATH_STYLE", "K2K_PDF_MAX_BYTES", "K2K_LOG_LEVEL", "K2K_MIGRATE_ON_START",
	"K2K_NOTIFY_URL", "K2K_REMIND_AP", "K2K_REMIND_AA", "K2K_REMIND_A", "K2K_REMIND_D", "K2K_REMINDERS_MAX",
}

// temporalVars are the variables the Temporal SDK's envconfig reads that could change the outcome.
var temporalVars = []string{
	"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE",
	"TEMPORAL_CLIENT_AUTHORITY", "TEMPORAL_TLS", "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_CERT_DATA",
	"TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_CLIENT_KEY_DATA", "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
	"TEMPORAL_TLS_SERVER_CA_CERT_DATA", "TEMPORAL_TLS_SERVER_NAME", "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
	"TEMPORAL_GRPC_META_X",
}

// unset removes key from the environment for the rest of the test (t.Setenv restores it after).
func unset(t *testing.T, keys ...string) {
	t.Helper()
	for _, k := range keys {
		t.Setenv(k, "")
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoad(t *testing.T) {
	const dbURL = "postgres://postgres@127.0.0.1:5432/k2k?sslmode=disable"
	const bucket = "k2k-invoices"
	defaults := Config{
		DatabaseURL:    dbURL,
		S3Bucket:       bucket,
		S3PathStyle:    false,
		PDFMaxBytes:    10485760,
		LogLevel:       slog.LevelInfo,
		MigrateOnStart: true,
		RemindAP:       72 * time.Hour,
		RemindAA:       48 * time.Hour,
		RemindA:        168 * time.Hour,
		RemindD:        120 * time.Hour,
		RemindersMax:   3,
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string // "" values are set-but-empty; other config variables are unset
		want    Config
		errVars []string // variables the error must name; nil when Load succeeds
		notVars []string // variables the error must not name
	}{
		{name: "required variables only: defaults",
			env:  map[string]string{"DATABASE_URL": dbURL, "K2K_S3_BUCKET": bucket},
			want: defaults},
		{name: "empty optional variables take the defaults",
			env: map[string]string{"DATABASE_URL": dbURL, "K2K_S3_BUCKET": bucket, "K2K_PDF_MAX_BYTES": "",
				"K2K_S3_PATH_STYLE": "", "K2K_MIGRATE_ON_START": "", "K2K_LOG_LEVEL": ""},
			want: defaults},
		{name: "every variable set",
			env: map[string]string{"DATABASE_URL": dbURL, "K2K_S3_BUCKET": bucket, "K2K_S3_PATH_STYLE": "true",
				"K2K_PDF_MAX_BYTES": "1024", "K2K_LOG_LEVEL": "debug", "K2K_MIGRATE_ON_START": "false",
				"K2K_REMIND_AP": "1h", "K2K_REMIND_AA": "2h",
				"K2K_REMIND_A": "0s", "K2K_REMIND_D": "3h", "K2K_REMINDERS_MAX": "5"},
			want: Config{DatabaseURL: dbURL, S3Bucket: bucket, S3PathStyle: true, PDFMaxBytes: 1024,
				LogLevel: slog.LevelDebug, MigrateOnStart: false,
				RemindAP: time.Hour, RemindAA: 2 * time.Hour, RemindD: 3 * time.Hour, RemindersMax: 5}},
		{name: "the retired reminder hook is refused, not ignored",
			env:     map[string]string{"DATABASE_URL": dbURL, "K2K_S3_BUCKET": bucket, "K2K_NOTIFY_URL": "http://hooks.example/k2k"},
			errVars: []string{"K2K_NOTIFY_URL", "invoice.reminder", "webhook add"}, notVars: []string{"DATABASE_URL", "K2K_S3_BUCKET"}},
		{name: "negative reminder wait",
			env:     map[string]string{"DATABASE_URL": dbURL, "K2K_S3_BUCKET": bucket, "K2K_REMIND_AA": "-1h"},
			errVars: []string{"K2K_REMIND_AA"}},
		{name: "negative reminder wait in D",
			env:     map[string]string{"DATABASE_URL": dbURL, "K2K_S3_BUCKET": bucket, "K2K_REMIND_D": "-1h"},
			errVars: []string{"K2K_REMIND_D"}},
		{name: "both required variables missing",
			env:     map[string]string{},
			errVars: []string{"DATABASE_URL", "K2K_S3_BUCKET"}},
		{name: "DATABASE_URL missing",
			env:     map[string]string{"K2K_S3_BUCKET": bucket},
			errVars: []string{"DATABASE_URL"}, notVars: []string{"K2K_S3_BUCKET"}},
		{name: "K2K_S3_BUCKET missing",
			env:     map[string]string{"DATABASE_URL": dbURL},
			errVars: []string{"K2K_S3_BUCKET"}, notVars: []string{"DATABASE_URL"}},
		{name: "both required variables empty",
			env:     map[string]string{"DATABASE_URL": "", "K2K_S3_BUCKET": ""},
			errVars: []string{"DATABASE_URL", "K2K_S3_BUCKET"}},
		{name: "K2K_PDF_MAX_BYTES zero",
			env:     map[string]string{"DATABASE_URL": dbURL, "K2K_S3_BUCKET": bucket, "K2K_PDF_MAX_BYTES": "0"},
			errVars: []string{"K2K_PDF_MAX_BYTES"}},
		{name: "K2K_PDF_MAX_BYTES negative",
			env:     map[string]string{"DATABASE_URL": dbURL, "K2K_S3_BUCKET": bucket, "K2K_PDF_MAX_BYTES": "-1"},
			errVars: []string{"K2K_PDF_MAX_BYTES"}},
		// Load promises that "the error names every missing or malformed variable".
		{name: "K2K_PDF_MAX_BYTES malformed",
			env:     map[string]string{"DATABASE_URL": dbURL, "K2K_S3_BUCKET": bucket, "K2K_PDF_MAX_BYTES": "abc"},
			errVars: []string{"K2K_PDF_MAX_BYTES"}},
		{name: "K2K_S3_PATH_STYLE malformed",
			env:     map[string]string{"DATABASE_URL": dbURL, "K2K_S3_BUCKET": bucket, "K2K_S3_PATH_STYLE": "maybe"},
			errVars: []string{"K2K_S3_PATH_STYLE"}},
		{name: "K2K_LOG_LEVEL malformed",
			env:     map[string]string{"DATABASE_URL": dbURL, "K2K_S3_BUCKET": bucket, "K2K_LOG_LEVEL": "loud"},
			errVars: []string{"K2K_LOG_LEVEL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			unset(t, configVars...)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			got, err := Load()
			if tc.errVars == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if got != tc.want {
					t.Errorf("Load = %+v, want %+v", got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load = %+v, nil; want an error naming %v", got, tc.errVars)
			}
			if got != (Config{}) {
				t.Errorf("Load returned %+v with its error, want the zero Config", got)
			}
			for _, v := range tc.errVars {
				if !strings.Contains(err.Error(), v) {
					t.Errorf("error %q does not name %s", err, v)
				}
			}
			for _, v := range tc.notVars {
				if strings.Contains(err.Error(), v) {
					t.Errorf("error %q names %s, which is set", err, v)
				}
			}
		})
	}
}

func TestTemporalClientOptions(t *testing.T) {
	profile := filepath.Join(t.TempDir(), "temporal.toml")
	if err := os.WriteFile(profile, []byte(`
[profile.default]
address = "file-host:7233"
namespace = "file-ns"

[profile.staging]
address = "staging-host:7233"
namespace = "staging-ns"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "no-such-temporal.toml")

	for _, tc := range []struct {
		name          string
		env           map[string]string // other Temporal variables are unset
		wantErr       string            // phrase of the error; "" when it succeeds
		wantHost      string
		wantNamespace string
	}{
		{name: "no address anywhere",
			env:     map[string]string{"TEMPORAL_CONFIG_FILE": missing},
			wantErr: "TEMPORAL_ADDRESS"},
		{name: "address set but empty",
			env:     map[string]string{"TEMPORAL_CONFIG_FILE": missing, "TEMPORAL_ADDRESS": ""},
			wantErr: "TEMPORAL_ADDRESS"},
		{name: "address and namespace from the environment",
			env: map[string]string{"TEMPORAL_CONFIG_FILE": missing, "TEMPORAL_ADDRESS": "temporal.example:7233",
				"TEMPORAL_NAMESPACE": "k2k"},
			wantHost: "temporal.example:7233", wantNamespace: "k2k"},
		{name: "address only",
			env:      map[string]string{"TEMPORAL_CONFIG_FILE": missing, "TEMPORAL_ADDRESS": "127.0.0.1:7233"},
			wantHost: "127.0.0.1:7233"},
		{name: "address from the default profile",
			env:      map[string]string{"TEMPORAL_CONFIG_FILE": profile},
			wantHost: "file-host:7233", wantNamespace: "file-ns"},
		{name: "address from a named profile",
			env:      map[string]string{"TEMPORAL_CONFIG_FILE": profile, "TEMPORAL_PROFILE": "staging"},
			wantHost: "staging-host:7233", wantNamespace: "staging-ns"},
		{name: "environment overrides the profile",
			env: map[string]string{"TEMPORAL_CONFIG_FILE": profile, "TEMPORAL_ADDRESS": "env-host:7233",
				"TEMPORAL_NAMESPACE": "env-ns"},
			wantHost: "env-host:7233", wantNamespace: "env-ns"},
		{name: "unknown profile",
			env:     map[string]string{"TEMPORAL_CONFIG_FILE": profile, "TEMPORAL_PROFILE": "nope"},
			wantErr: "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			unset(t, temporalVars...)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			opts, err := TemporalClientOptions()
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("TemporalClientOptions = HostPort %q, nil; want an error naming %s", opts.HostPort, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q does not contain %q", err, tc.wantErr)
				}
				if opts.HostPort != "" {
					t.Errorf("HostPort = %q with the error, want empty options", opts.HostPort)
				}
				return
			}
			if err != nil {
				t.Fatalf("TemporalClientOptions: %v", err)
			}
			if opts.HostPort != tc.wantHost {
				t.Errorf("HostPort = %q, want %q", opts.HostPort, tc.wantHost)
			}
			if opts.Namespace != tc.wantNamespace {
				t.Errorf("Namespace = %q, want %q", opts.Namespace, tc.wantNamespace)
			}
		})
	}
}
