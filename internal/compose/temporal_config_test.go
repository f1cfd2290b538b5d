package compose

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/template"

	"go.yaml.in/yaml/v3"
)

// serverConfig is the part of the Temporal server's configuration the two deployments must agree on.
type serverConfig struct {
	Persistence struct {
		NumHistoryShards int    `yaml:"numHistoryShards"`
		DefaultStore     string `yaml:"defaultStore"`
		VisibilityStore  string `yaml:"visibilityStore"`
		Datastores       map[string]struct {
			SQL struct {
				PluginName   string `yaml:"pluginName"`
				DatabaseName string `yaml:"databaseName"`
				ConnectAddr  string `yaml:"connectAddr"`
				User         string `yaml:"user"`
			} `yaml:"sql"`
		} `yaml:"datastores"`
	} `yaml:"persistence"`
	Services map[string]struct {
		RPC struct {
			GRPCPort int    `yaml:"grpcPort"`
			BindOnIP string `yaml:"bindOnIP"`
		} `yaml:"rpc"`
	} `yaml:"services"`
	DynamicConfigClient struct {
		Filepath string `yaml:"filepath"`
	} `yaml:"dynamicConfigClient"`
}

// renderServerConfig renders deploy/temporal/config/k2k.yaml as the server does (a Go template
// with sprig's env, default and quote) in the environment env, and parses it.
func renderServerConfig(t *testing.T, env map[string]string) serverConfig {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "temporal", "config", "k2k.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "# enable-template") {
		t.Fatal("deploy/temporal/config/k2k.yaml must start with `# enable-template`, or the server reads the template text as YAML")
	}
	tpl, err := template.New("k2k.yaml").Option("missingkey=error").Funcs(template.FuncMap{
		"env": func(name string) string { return env[name] },
		"default": func(def string, given ...string) string {
			if len(given) == 0 || given[0] == "" {
				return def
			}
			return given[0]
		},
		"quote": func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` },
	}).Parse(string(data))
	if err != nil {
		t.Fatalf("the server config is not a valid template: %v", err)
	}
	var out bytes.Buffer
	if err := tpl.Execute(&out, nil); err != nil {
		t.Fatal(err)
	}
	var cfg serverConfig
	if err := yaml.Unmarshal(out.Bytes(), &cfg); err != nil {
		t.Fatalf("the rendered server config is not YAML: %v\n%s", err, out.String())
	}
	return cfg
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestTemporalConfigSharedWithTheClusterProfile: compose's Temporal server and `make up
// PROFILE=cluster` run the same configuration file, with the same shard count, persistence and
// visibility stores and dynamic config; only where PostgreSQL is and which ports differ.
func TestTemporalConfigSharedWithTheClusterProfile(t *testing.T) {
	p := loadProject(t)
	temporal := service(t, p, svcTemporal)
	mounted := ""
	for _, v := range temporal.Volumes {
		if filepath.Clean(v.Source) == filepath.Join(p.WorkingDir, "deploy", "temporal") {
			mounted = v.Target
		}
	}
	if mounted == "" {
		t.Fatalf("service %q does not mount ./deploy/temporal; volumes %+v", svcTemporal, temporal.Volumes)
	}
	command := strings.Join(temporal.Command, " ")
	if want := "--root " + mounted + " --config config --env k2k"; !strings.Contains(command, want) {
		t.Errorf("service %q runs %q, want it to start with %q", svcTemporal, command, want)
	}

	script, err := os.ReadFile(filepath.Join(repoRoot(t), "scripts", "devstack.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `--root "$root/deploy/temporal" --config config --env k2k`; !strings.Contains(string(script), want) {
		t.Errorf("scripts/devstack.sh does not start the server with %s", want)
	}

	composeEnv := map[string]string{}
	for name, v := range temporal.Environment {
		if v != nil {
			composeEnv[name] = *v
		}
	}
	profileEnv := map[string]string{"TEMPORAL_DB_HOST": "127.0.0.1", "TEMPORAL_DB_PORT": "5432", "TEMPORAL_DB_USER": "postgres",
		"TEMPORAL_FRONTEND_PORT": "7233", "TEMPORAL_DYNAMIC_CONFIG": "/repo/deploy/temporal/dynamicconfig/k2k.yaml"}
	inCompose, inProfile := renderServerConfig(t, composeEnv), renderServerConfig(t, profileEnv)

	for name, cfg := range map[string]serverConfig{"compose": inCompose, "cluster profile": inProfile} {
		pst := cfg.Persistence
		if pst.NumHistoryShards < 8 {
			t.Errorf("%s: numHistoryShards = %d, want at least 8", name, pst.NumHistoryShards)
		}
		for _, store := range []string{pst.DefaultStore, pst.VisibilityStore} {
			if ds, ok := pst.Datastores[store]; !ok || ds.SQL.PluginName != "postgres12" {
				t.Errorf("%s: store %q is not on PostgreSQL (postgres12): %+v", name, store, ds)
			}
		}
		if pst.DefaultStore == pst.VisibilityStore {
			t.Errorf("%s: persistence and visibility share the store %q; advanced visibility needs its own", name, pst.DefaultStore)
		}
	}
	if inCompose.Persistence.NumHistoryShards != inProfile.Persistence.NumHistoryShards {
		t.Errorf("shards: compose %d, cluster profile %d", inCompose.Persistence.NumHistoryShards, inProfile.Persistence.NumHistoryShards)
	}
	if want := mounted + "/dynamicconfig/k2k.yaml"; inCompose.DynamicConfigClient.Filepath != want {
		t.Errorf("compose's dynamic config is %q, want the mounted %q", inCompose.DynamicConfigClient.Filepath, want)
	}
	if got := inCompose.Persistence.Datastores[inCompose.Persistence.DefaultStore].SQL; got.ConnectAddr != "postgres:5432" || got.User != "k2k" {
		t.Errorf("compose's server reaches PostgreSQL at %s as %s, want postgres:5432 as k2k", got.ConnectAddr, got.User)
	}
	if got := inProfile.Persistence.Datastores[inProfile.Persistence.DefaultStore].SQL; got.ConnectAddr != "127.0.0.1:5432" {
		t.Errorf("the cluster profile's server reaches PostgreSQL at %s, want 127.0.0.1:5432", got.ConnectAddr)
	}
	if fe := inCompose.Services["frontend"].RPC; fe.BindOnIP != "0.0.0.0" || fe.GRPCPort != 7233 {
		t.Errorf("compose's frontend listens on %s:%d, want 0.0.0.0:7233 (other containers reach it)", fe.BindOnIP, fe.GRPCPort)
	}
	if fe := inProfile.Services["frontend"].RPC; fe.BindOnIP != "127.0.0.1" {
		t.Errorf("the cluster profile's frontend listens on %s, want 127.0.0.1 only", fe.BindOnIP)
	}
}

// TestTemporalSchemaStepsShared: compose's schema job and the cluster profile create and upgrade
// Temporal's two databases with the same temporal-sql-tool steps.
func TestTemporalSchemaStepsShared(t *testing.T) {
	job := commandText(service(t, loadProject(t), svcTemporalSchema))
	script, err := os.ReadFile(filepath.Join(repoRoot(t), "scripts", "devstack.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"create-database", "setup-schema -v 0.0", "update-schema -d"} {
		if !strings.Contains(job, step) {
			t.Errorf("compose's %s does not run %q", svcTemporalSchema, step)
		}
		if !regexp.MustCompile(`"\$\{sql\[@\]\}" ` + regexp.QuoteMeta(step)).Match(script) {
			t.Errorf("scripts/devstack.sh does not run %q", step)
		}
	}
	for _, dir := range []string{"temporal", "visibility"} {
		if !strings.Contains(job, "temporal_visibility:visibility") || !strings.Contains(job, dir) {
			t.Errorf("compose's %s does not set up the %s schema", svcTemporalSchema, dir)
		}
	}
}
