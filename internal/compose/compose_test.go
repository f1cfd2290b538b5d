package compose

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/k2kinvoice/autoinvoice/internal/codecauth"
	"github.com/k2kinvoice/autoinvoice/internal/config"
	"github.com/k2kinvoice/autoinvoice/internal/payloadcrypt"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// Service names the checks refer to.
const (
	svcPostgres         = "postgres"
	svcTemporal         = "temporal"
	svcTemporalSchema   = "temporal-schema"
	svcNamespace        = "temporal-namespace"
	svcSearchAttributes = "temporal-search-attributes"
	svcTemporalUI       = "temporal-ui"
	svcS3               = "s3"
	svcS3Bucket         = "s3-bucket"
	svcWorker           = "worker"
	svcGateway          = "gateway"
)

// workerEnv lists every variable the worker's code reads from its environment.
var workerEnv = []string{
	"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "DATABASE_URL",
	"AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3",
	"K2K_S3_BUCKET", "K2K_S3_PATH_STYLE", "K2K_LOG_LEVEL",
}

// gatewayListen is the gateway's listen address in its container: every interface, so that the
// published port reaches it.
const gatewayListen = "0.0.0.0:8088"

// loadProject loads the repository's docker-compose.yml the way `docker compose` would, with a
// fixed, empty environment so that the developer's shell cannot change the result, and the given
// profiles enabled (none: what a plain `docker compose up` starts).
func loadProject(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	details := types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}},
		Environment: types.Mapping{},
	}
	project, err := loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName("k2k-autoinvoice", true)
		o.Profiles = profiles
	})
	if err != nil {
		t.Fatalf("docker-compose.yml does not load with the compose loader: %v", err)
	}
	return project
}

// service returns the named service, failing the test now if it is missing: every later check
// on it would be meaningless.
func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml has no service %q", name)
	}
	return s
}

func TestServicesExist(t *testing.T) {
	p := loadProject(t)
	for _, name := range []string{svcPostgres, svcTemporal, svcSearchAttributes, svcTemporalUI, svcS3, svcS3Bucket, svcWorker, svcGateway} {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("docker-compose.yml has no service %q", name)
		}
	}
}

// imageTag returns the tag of an image reference ("" if it has none) and whether it is pinned
// by digest. A ':' before the last '/' belongs to a registry host's port, not to a tag.
func imageTag(ref string) (tag string, digest bool) {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref, digest = ref[:i], true
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		tag = ref[i+1:]
	}
	return tag, digest
}

func TestImagesArePinned(t *testing.T) {
	p := loadProject(t)
	for name, s := range p.Services {
		if name == svcWorker {
			// The worker is built from this repository; its image name is only a local label.
			switch {
			case s.Build == nil:
				t.Errorf("service %q must build from the repository root (build: .), but has no build section", name)
			case filepath.Clean(s.Build.Context) != filepath.Clean(p.WorkingDir):
				t.Errorf("service %q must build from the repository root %s (build: .), got context %s", name, p.WorkingDir, s.Build.Context)
			}
			if s.Image != "k2k-autoinvoice:dev" {
				t.Errorf("service %q: image is %q, want k2k-autoinvoice:dev", name, s.Image)
			}
			continue
		}
		if s.Build != nil {
			t.Errorf("service %q builds an image; only %q should", name, svcWorker)
		}
		if name == svcGateway {
			// It runs the worker's image, built from this repository: checked in TestGateway.
			continue
		}
		tag, digest := imageTag(s.Image)
		switch {
		case s.Image == "":
			t.Errorf("service %q has no image", name)
		case digest:
			// Pinned by content: fine whatever the tag says.
		case tag == "":
			t.Errorf("service %q: image %q has no tag; pin a version", name, s.Image)
		case tag == "latest":
			t.Errorf("service %q: image %q uses the tag latest; pin a version", name, s.Image)
		}
	}
}

// envValue returns a service's environment variable, and whether it is set to a value.
func envValue(s types.ServiceConfig, name string) (string, bool) {
	v, ok := s.Environment[name]
	if !ok || v == nil {
		return "", false
	}
	return *v, true
}

func TestWorkerEnvironment(t *testing.T) {
	p := loadProject(t)
	worker := service(t, p, svcWorker)
	for _, name := range workerEnv {
		if v, ok := envValue(worker, name); !ok || v == "" {
			t.Errorf("worker environment: %s is missing or empty", name)
		}
	}

	if v, _ := envValue(worker, "TEMPORAL_ADDRESS"); v != svcTemporal+":7233" {
		t.Errorf("worker environment: TEMPORAL_ADDRESS is %q, want the temporal service, %s:7233", v, svcTemporal)
	}

	if v, _ := envValue(worker, "DATABASE_URL"); v != "" {
		u, err := url.Parse(v)
		switch {
		case err != nil:
			t.Errorf("worker environment: DATABASE_URL %q does not parse: %v", v, err)
		case u.Hostname() != svcPostgres:
			t.Errorf("worker environment: DATABASE_URL points at host %q, want the postgres service %q", u.Hostname(), svcPostgres)
		case u.Path != "/k2k":
			t.Errorf("worker environment: DATABASE_URL uses database %q, want /k2k", u.Path)
		}
	}

	if v, _ := envValue(worker, "AWS_ENDPOINT_URL_S3"); v != "http://"+svcS3+":7070" {
		t.Errorf("worker environment: AWS_ENDPOINT_URL_S3 is %q, want the s3 service, http://%s:7070", v, svcS3)
	}
	if v, _ := envValue(worker, "K2K_S3_PATH_STYLE"); v != "true" {
		t.Errorf("worker environment: K2K_S3_PATH_STYLE is %q, want true (versitygw is addressed by path)", v)
	}

	// The worker signs requests with the keys the S3 server accepts.
	s3 := service(t, p, svcS3)
	for workerVar, serverVar := range map[string]string{
		"AWS_ACCESS_KEY_ID":     "ROOT_ACCESS_KEY_ID",
		"AWS_SECRET_ACCESS_KEY": "ROOT_SECRET_ACCESS_KEY",
	} {
		w, _ := envValue(worker, workerVar)
		s, ok := envValue(s3, serverVar)
		if !ok || s == "" {
			t.Errorf("s3 environment: %s is missing or empty", serverVar)
		} else if w != s {
			t.Errorf("worker %s is %q but the s3 service's %s is %q: they must match", workerVar, w, serverVar, s)
		}
	}

	// The bucket the worker uses is the one the s3-bucket job creates.
	if bucket, _ := envValue(worker, "K2K_S3_BUCKET"); bucket != "" {
		job := service(t, p, svcS3Bucket)
		if text := commandText(job); !strings.Contains(text, "--bucket "+bucket) {
			t.Errorf("service %q does not create the worker's bucket %q; its command is:\n%s", svcS3Bucket, bucket, text)
		}
	}
}

// wantDependency checks that service from depends on service to with the given condition.
func wantDependency(t *testing.T, p *types.Project, from, to, condition string) {
	t.Helper()
	s := service(t, p, from)
	dep, ok := s.DependsOn[to]
	if !ok {
		t.Errorf("service %q does not depend on %q", from, to)
		return
	}
	if dep.Condition != condition {
		t.Errorf("service %q depends on %q with condition %q, want %q", from, to, dep.Condition, condition)
	}
}

func TestStartOrder(t *testing.T) {
	p := loadProject(t)
	wantDependency(t, p, svcWorker, svcPostgres, types.ServiceConditionHealthy)
	wantDependency(t, p, svcWorker, svcSearchAttributes, types.ServiceConditionCompletedSuccessfully)
	wantDependency(t, p, svcWorker, svcS3Bucket, types.ServiceConditionCompletedSuccessfully)
	wantDependency(t, p, svcTemporalSchema, svcPostgres, types.ServiceConditionHealthy)
	wantDependency(t, p, svcTemporal, svcTemporalSchema, types.ServiceConditionCompletedSuccessfully)
	wantDependency(t, p, svcNamespace, svcTemporal, types.ServiceConditionStarted)
	wantDependency(t, p, svcSearchAttributes, svcNamespace, types.ServiceConditionCompletedSuccessfully)
	wantDependency(t, p, svcTemporalUI, svcTemporal, types.ServiceConditionStarted)
	wantDependency(t, p, svcS3Bucket, svcS3, types.ServiceConditionStarted)
	// The worker applies the migrations when it starts; the gateway comes after it.
	wantDependency(t, p, svcGateway, svcWorker, types.ServiceConditionStarted)
	wantDependency(t, p, svcGateway, svcSearchAttributes, types.ServiceConditionCompletedSuccessfully)
	wantDependency(t, p, svcGateway, svcS3Bucket, types.ServiceConditionCompletedSuccessfully)
}

// TestHealthchecks: services others wait on as service_healthy have a real healthcheck. Temporal's
// readiness is the temporal-namespace job's success (it retries until the frontend answers), so
// nothing waits on the server's health.
func TestHealthchecks(t *testing.T) {
	p := loadProject(t)
	for _, name := range []string{svcPostgres} {
		s := service(t, p, name)
		switch hc := s.HealthCheck; {
		case hc == nil:
			t.Errorf("service %q has no healthcheck; others wait for it to be service_healthy", name)
		case hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE":
			t.Errorf("service %q has its healthcheck disabled or empty (test %q); others wait for it to be service_healthy", name, hc.Test)
		}
	}
	if hc := service(t, p, svcPostgres).HealthCheck; hc != nil && !strings.Contains(strings.Join(hc.Test, " "), "pg_isready") {
		t.Errorf("postgres healthcheck should use pg_isready, got %q", hc.Test)
	}
}

func TestPublishedPorts(t *testing.T) {
	p := loadProject(t)
	for name, port := range map[string]uint32{svcTemporal: 7233, svcTemporalUI: 8080, svcS3: 7070, svcGateway: 8088} {
		s := service(t, p, name)
		found := slices.ContainsFunc(s.Ports, func(pc types.ServicePortConfig) bool {
			return pc.Target == port && pc.Published == fmt.Sprint(port)
		})
		if !found {
			t.Errorf("service %q does not publish port %d as %d:%d, got %+v", name, port, port, port, s.Ports)
		}
	}
}

// commandText is a service's entrypoint and command as one text, as the shell would see it.
func commandText(s types.ServiceConfig) string {
	return strings.Join(append(slices.Clone(s.Entrypoint), s.Command...), " ")
}

// nameTypeRE matches one "--name X --type Y" pair of the Temporal CLI's
// `operator search-attribute create` (with a space or '=' after each flag).
var nameTypeRE = regexp.MustCompile(`--name(?:\s+|=)(\S+)\s+--type(?:\s+|=)(\S+)`)

func TestSearchAttributesRegistered(t *testing.T) {
	p := loadProject(t)
	text := commandText(service(t, p, svcSearchAttributes))
	if !strings.Contains(text, "temporal operator search-attribute create") {
		t.Fatalf("service %q does not run `temporal operator search-attribute create`; its command is:\n%s", svcSearchAttributes, text)
	}
	if !strings.Contains(text, "--address "+svcTemporal+":7233") {
		t.Errorf("service %q does not address the temporal service (--address %s:7233)", svcSearchAttributes, svcTemporal)
	}
	if ns, _ := envValue(service(t, p, svcWorker), "TEMPORAL_NAMESPACE"); !strings.Contains(text, "--namespace "+ns) {
		t.Errorf("service %q does not register on the worker's namespace %q (--namespace %s)", svcSearchAttributes, ns, ns)
	}

	// Registered: name -> type, as written in the compose file.
	registered := map[string]string{}
	for _, m := range nameTypeRE.FindAllStringSubmatch(text, -1) {
		name, typ := m[1], strings.TrimSuffix(m[2], `\`)
		if prev, dup := registered[name]; dup {
			t.Errorf("search attribute %s is registered twice (types %s and %s)", name, prev, typ)
		}
		registered[name] = typ
	}

	want := workflows.SearchAttributes()
	if len(want) == 0 {
		t.Fatal("workflows.SearchAttributes() is empty")
	}
	for _, sa := range want {
		got, ok := registered[sa.Name]
		switch {
		case !ok:
			t.Errorf("search attribute %s (%s) is not registered by service %q", sa.Name, sa.Type, svcSearchAttributes)
		case got != sa.Type:
			t.Errorf("search attribute %s is registered with type %s, want %s", sa.Name, got, sa.Type)
		}
		delete(registered, sa.Name)
	}
	for name, typ := range registered {
		t.Errorf("search attribute %s (%s) is registered but not in workflows.SearchAttributes()", name, typ)
	}
}

// TestGateway checks the HTTP gateway: the worker's image running `gateway`, with exactly
// the worker's environment (the same values: the same database, S3 and Temporal) plus its listen
// address on every interface of its container.
func TestGateway(t *testing.T) {
	p := loadProject(t)
	worker := service(t, p, svcWorker)
	gw := service(t, p, svcGateway)

	if gw.Image == "" || gw.Image != worker.Image {
		t.Errorf("service %q: image is %q, want the worker's image %q", svcGateway, gw.Image, worker.Image)
	}
	if gw.Build != nil {
		t.Errorf("service %q builds an image; it should run the one the worker builds (%q)", svcGateway, worker.Image)
	}
	if cmd := []string(gw.Command); !slices.Equal(cmd, []string{"gateway"}) || len(gw.Entrypoint) > 0 {
		t.Errorf("service %q: entrypoint %q command %q, want the command [gateway] and no entrypoint", svcGateway, gw.Entrypoint, cmd)
	}

	// The same variable names as the worker, plus the listen address.
	var gotNames, wantNames []string
	for name := range gw.Environment {
		gotNames = append(gotNames, name)
	}
	for name := range worker.Environment {
		wantNames = append(wantNames, name)
	}
	wantNames = append(wantNames, "K2K_GATEWAY_LISTEN")
	slices.Sort(gotNames)
	slices.Sort(wantNames)
	if !slices.Equal(gotNames, wantNames) {
		t.Errorf("service %q environment has %q, want the worker's variables plus K2K_GATEWAY_LISTEN: %q", svcGateway, gotNames, wantNames)
	}
	for _, name := range append(slices.Clone(workerEnv), "K2K_GATEWAY_LISTEN") {
		if v, ok := envValue(gw, name); !ok || v == "" {
			t.Errorf("service %q environment: %s is missing or empty", svcGateway, name)
		}
	}
	// With the same values: the same database, S3 and Temporal.
	for name := range worker.Environment {
		w, _ := envValue(worker, name)
		if g, _ := envValue(gw, name); g != w {
			t.Errorf("service %q environment: %s is %q, the worker's is %q: they must match", svcGateway, name, g, w)
		}
	}
	if v, _ := envValue(gw, "K2K_GATEWAY_LISTEN"); v != gatewayListen {
		t.Errorf("service %q environment: K2K_GATEWAY_LISTEN is %q, want %s (every interface, or the published port reaches nothing)", svcGateway, v, gatewayListen)
	}
}

// The UI is wired to the codec server, and everything that reads or writes payloads shares a key
// ring that parses.
func TestCodecServerAndPayloadKeys(t *testing.T) {
	p := loadProject(t)
	codec, ok := p.Services["codec"]
	if !ok {
		t.Fatal("no codec service")
	}
	if got := strings.Join(codec.Command, " "); got != "codec-server" {
		t.Errorf("codec command = %q, want codec-server", got)
	}
	ui := p.Services["temporal-ui"]
	if v := ui.Environment["TEMPORAL_CODEC_ENDPOINT"]; v == nil || !strings.HasSuffix(*v, ":8089") {
		t.Errorf("temporal-ui TEMPORAL_CODEC_ENDPOINT = %v, want the codec server's published port 8089", v)
	}
	// The UI forwards its user's token only to an https codec endpoint, and the codec server
	// accepts it only with a JWKS to verify it against.
	if v := ui.Environment["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"]; v != nil && strings.EqualFold(*v, "true") {
		if e := ui.Environment["TEMPORAL_CODEC_ENDPOINT"]; e == nil || !strings.HasPrefix(*e, "https://") {
			t.Errorf("temporal-ui passes its access token to %v: the UI does so only to an https endpoint", e)
		}
		if codec.Environment["K2K_CODEC_JWKS_URL"] == nil {
			t.Error("temporal-ui passes its access token but codec has no K2K_CODEC_JWKS_URL to verify it with")
		}
	}
	origins := codec.Environment["K2K_CODEC_CORS_ORIGINS"]
	if origins == nil || !strings.Contains(*origins, "http://localhost:8080") {
		t.Errorf("codec K2K_CODEC_CORS_ORIGINS = %v, want the UI's origin http://localhost:8080", origins)
	}
	var ring string
	for _, name := range []string{"worker", "gateway", "codec"} {
		v := p.Services[name].Environment["K2K_PAYLOAD_KEYS"]
		if v == nil {
			t.Errorf("%s has no K2K_PAYLOAD_KEYS", name)
			continue
		}
		if ring == "" {
			ring = *v
		} else if *v != ring {
			t.Errorf("%s has another K2K_PAYLOAD_KEYS than the worker", name)
		}
	}
	if _, err := payloadcrypt.ParseKeys(ring); err != nil {
		t.Errorf("K2K_PAYLOAD_KEYS does not parse: %v", err)
	}
}

// The worker and the gateway probe themselves (their images have no shell): the healthcheck runs
// the binary's own healthcheck command against the address the service listens on.
func TestAppHealthchecks(t *testing.T) {
	p := loadProject(t)
	for name, want := range map[string]string{svcWorker: "worker healthcheck", svcGateway: "gateway healthcheck", "codec": "codec-server healthcheck"} {
		s := p.Services[name]
		if s.HealthCheck == nil || s.HealthCheck.Disable {
			t.Errorf("%s has no healthcheck", name)
			continue
		}
		if got := strings.Join(s.HealthCheck.Test, " "); got != "CMD "+want {
			t.Errorf("%s healthcheck = %q, want CMD %s", name, got, want)
		}
	}
	if v := p.Services[svcWorker].Environment["K2K_WORKER_HTTP_LISTEN"]; v == nil || !strings.HasPrefix(*v, "0.0.0.0:") {
		t.Errorf("worker K2K_WORKER_HTTP_LISTEN = %v, want it listening on all interfaces for the metrics scrape", v)
	}
}

// The worker's and the gateway's environment speaks the code's configuration: every variable
// config.Config requires is set, and every K2K_* or DATABASE_URL variable set is one the code
// reads (a misspelt name would be silently ignored).
func TestEnvironmentMatchesTheCodesConfiguration(t *testing.T) {
	known := map[string]bool{"K2K_GATEWAY_LISTEN": true, "K2K_WORKER_HTTP_LISTEN": true, "K2K_SHUTDOWN_TIMEOUT": true,
		"K2K_CODEC_LISTEN": true, "K2K_CODEC_CORS_ORIGINS": true, "K2K_TEMPORAL_UI_URL": true,
		"K2K_GATEWAY_PDF_LINK_TTL": true}
	// The codec server's authentication (static token, JWKS, issuer, audience).
	auth := reflect.TypeFor[codecauth.Config]()
	for i := range auth.NumField() {
		known[auth.Field(i).Tag.Get("env")] = true
	}
	var required []string
	cfg := reflect.TypeFor[config.Config]()
	for i := range cfg.NumField() {
		tag := cfg.Field(i).Tag.Get("env")
		name, opts, _ := strings.Cut(tag, ",")
		known[name] = true
		if strings.Contains(opts, "required") {
			required = append(required, name)
		}
	}
	p := loadProject(t)
	for _, svc := range []string{svcWorker, svcGateway, "codec"} {
		env := p.Services[svc].Environment
		if svc != "codec" {
			for _, name := range required {
				if env[name] == nil {
					t.Errorf("%s lacks %s, which the configuration requires", svc, name)
				}
			}
		}
		for name := range env {
			if (strings.HasPrefix(name, "K2K_") || name == "DATABASE_URL") && !known[name] {
				t.Errorf("%s sets %s, which the code does not read", svc, name)
			}
		}
	}
}
