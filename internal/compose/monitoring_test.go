package compose

import (
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"
)

// The monitoring profile: Prometheus and Grafana, provisioned from deploy/prometheus and
// deploy/grafana (checked themselves, against a real worker's and gateway's metrics, by
// deploy/monitoring-check).
const (
	profileMonitoring = "monitoring"
	svcPrometheus     = "prometheus"
	svcGrafana        = "grafana"
)

// TestMonitoringProfileIsOptional: a plain `docker compose up` starts neither Prometheus nor
// Grafana; the profile adds both.
func TestMonitoringProfileIsOptional(t *testing.T) {
	plain := loadProject(t)
	for _, name := range []string{svcPrometheus, svcGrafana} {
		if _, ok := plain.Services[name]; ok {
			t.Errorf("service %q starts without the profile %q", name, profileMonitoring)
		}
	}
	p := loadProject(t, profileMonitoring)
	for _, name := range []string{svcPrometheus, svcGrafana} {
		s := service(t, p, name)
		if !slices.Equal(s.Profiles, []string{profileMonitoring}) {
			t.Errorf("service %q: profiles %v, want [%s]", name, s.Profiles, profileMonitoring)
		}
	}
}

// hostPath is the file on the host that a path inside a service's container is, through the
// service's bind mounts (the deepest mount wins); ok is false when no bind mount covers it.
func hostPath(s types.ServiceConfig, inContainer string) (string, bool) {
	best, found := "", ""
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if rel, ok := strings.CutPrefix(inContainer, v.Target); ok && (rel == "" || strings.HasPrefix(rel, "/")) && len(v.Target) > len(best) {
			best, found = v.Target, filepath.Join(v.Source, filepath.FromSlash(rel))
		}
	}
	return found, best != ""
}

// mustRead reads what a service sees at a path inside its container, failing the test when no
// mount provides it.
func mustRead(t *testing.T, s types.ServiceConfig, inContainer string) []byte {
	t.Helper()
	src, ok := hostPath(s, inContainer)
	if !ok {
		t.Fatalf("service %q: nothing is mounted at %s", s.Name, inContainer)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("service %q: %s is mounted from %s: %v", s.Name, inContainer, src, err)
	}
	return data
}

// TestMonitoringMountsExist: every file and folder the monitoring services mount is in the
// repository, read-only, and a file mount is a file.
func TestMonitoringMountsExist(t *testing.T) {
	p := loadProject(t, profileMonitoring)
	for _, name := range []string{svcPrometheus, svcGrafana} {
		s := service(t, p, name)
		binds := 0
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			binds++
			fi, err := os.Stat(v.Source)
			if err != nil {
				t.Errorf("service %q mounts %s, which does not exist: %v", name, v.Source, err)
				continue
			}
			if !strings.HasPrefix(v.Source, filepath.Join(p.WorkingDir, "deploy")+string(filepath.Separator)) {
				t.Errorf("service %q mounts %s, outside deploy/", name, v.Source)
			}
			if !v.ReadOnly {
				t.Errorf("service %q mounts %s writable; mount it :ro", name, v.Source)
			}
			if fi.IsDir() == (path.Ext(v.Target) != "") {
				t.Errorf("service %q mounts %s (a folder: %v) at %s", name, v.Source, fi.IsDir(), v.Target)
			}
		}
		if binds == 0 {
			t.Errorf("service %q mounts nothing from deploy/", name)
		}
	}
}

// promVersionLine is how deploy/monitoring-check/go.mod pins Prometheus' module: v0.3MM.P is
// Prometheus 3.MM.P.
var promVersionLine = regexp.MustCompile(`(?m)^\s*github\.com/prometheus/prometheus v0\.3(\d\d)\.(\d+)\s*$`)

// TestPrometheusService: the image is the Prometheus version the rules are checked with; the
// configuration it starts with and every rule file that configuration loads are mounted; each
// scrape target is a service of this file on the port that service listens on.
func TestPrometheusService(t *testing.T) {
	p := loadProject(t, profileMonitoring)
	s := service(t, p, svcPrometheus)
	mod, err := os.ReadFile(filepath.Join(p.WorkingDir, "deploy", "monitoring-check", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := promVersionLine.FindStringSubmatch(string(mod))
	if m == nil {
		t.Fatal("deploy/monitoring-check/go.mod does not require github.com/prometheus/prometheus v0.3MM.P")
	}
	want := "prom/prometheus:v3." + strings.TrimLeft(m[1], "0") + "." + m[2]
	if strings.TrimLeft(m[1], "0") == "" {
		want = "prom/prometheus:v3.0." + m[2]
	}
	if s.Image != want {
		t.Errorf("service %q runs %s, but deploy/monitoring-check checks the rules with %s", svcPrometheus, s.Image, want)
	}

	configFile := ""
	for _, arg := range s.Command {
		if v, ok := strings.CutPrefix(arg, "--config.file="); ok {
			configFile = v
		}
	}
	if configFile == "" {
		t.Fatalf("service %q: the command %v names no --config.file", svcPrometheus, s.Command)
	}
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(mustRead(t, s, configFile), &cfg); err != nil {
		t.Fatalf("%s: %v", configFile, err)
	}
	if len(cfg.RuleFiles) == 0 {
		t.Errorf("%s loads no rule file", configFile)
	}
	for _, rf := range cfg.RuleFiles {
		if !path.IsAbs(rf) {
			rf = path.Join(path.Dir(configFile), rf) // Prometheus resolves them from its config file
		}
		mustRead(t, s, rf)
	}

	listens := map[string]string{}
	for svc, variable := range map[string]string{svcWorker: "K2K_WORKER_HTTP_LISTEN", svcGateway: "K2K_GATEWAY_LISTEN"} {
		v, ok := envValue(service(t, p, svc), variable)
		if !ok {
			t.Fatalf("service %q does not set %s", svc, variable)
		}
		_, port, err := net.SplitHostPort(v)
		if err != nil {
			t.Fatalf("service %q: %s=%q: %v", svc, variable, v, err)
		}
		listens[svc] = port
	}
	scraped := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, err := net.SplitHostPort(target)
				if err != nil {
					t.Errorf("job %s: target %q: %v", sc.JobName, target, err)
					continue
				}
				if listens[host] != port {
					t.Errorf("job %s scrapes %s, but service %q listens on port %q", sc.JobName, target, host, listens[host])
				}
				scraped[host] = true
			}
		}
	}
	for svc := range listens {
		if !scraped[svc] {
			t.Errorf("%s scrapes no %s", configFile, svc)
		}
	}
}

// Where Grafana reads its provisioning (the image's default paths).
const (
	grafanaDatasources = "/etc/grafana/provisioning/datasources"
	grafanaDashboards  = "/etc/grafana/provisioning/dashboards"
)

// TestGrafanaService: the data source provisioned is this file's Prometheus; the dashboard
// provider reads a mounted folder that holds the repository's dashboards; the home dashboard is
// one of them.
func TestGrafanaService(t *testing.T) {
	p := loadProject(t, profileMonitoring)
	s := service(t, p, svcGrafana)
	if tag, digest := imageTag(s.Image); !digest && (tag == "" || tag == "latest") {
		t.Errorf("service %q: image %q is not pinned", svcGrafana, s.Image)
	}

	var ds struct {
		Datasources []struct {
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(mustRead(t, s, grafanaDatasources+"/prometheus.yml"), &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" {
		t.Fatalf("want one prometheus data source, got %+v", ds.Datasources)
	}
	u, err := url.Parse(ds.Datasources[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Hostname() != svcPrometheus || u.Port() != "9090" {
		t.Errorf("the data source reads %s, want the service %q on 9090", ds.Datasources[0].URL, svcPrometheus)
	}
	if !slices.Contains(s.GetDependencies(), svcPrometheus) {
		t.Errorf("service %q does not depend on %q", svcGrafana, svcPrometheus)
	}

	var prov struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(mustRead(t, s, grafanaDashboards+"/k2k.yml"), &prov); err != nil {
		t.Fatal(err)
	}
	if len(prov.Providers) != 1 || prov.Providers[0].Type != "file" {
		t.Fatalf("want one file provider of dashboards, got %+v", prov.Providers)
	}
	dir, ok := hostPath(s, prov.Providers[0].Options.Path)
	if !ok {
		t.Fatalf("the dashboard provider reads %s, where nothing is mounted", prov.Providers[0].Options.Path)
	}
	want, _ := filepath.Glob(filepath.Join(p.WorkingDir, "deploy", "grafana", "dashboards", "*.json"))
	got, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(got) == 0 || !slices.Equal(got, want) {
		t.Errorf("the dashboard provider reads %v, want the dashboards of deploy/grafana/dashboards %v", got, want)
	}
	home, ok := envValue(s, "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
	if !ok {
		t.Fatalf("service %q sets no home dashboard", svcGrafana)
	}
	mustRead(t, s, home)
}
