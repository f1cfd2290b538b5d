package monitoringcheck

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/k2kinvoice/autoinvoice/workflows"
)

// repoRoot is the repository's top folder: this package is deploy/monitoring-check.
var repoRoot = filepath.Join("..", "..")

// promParser parses PromQL as the Prometheus server of compose does by default: no experimental
// functions, no unquoted UTF-8 names.
var promParser = parser.NewParser(parser.Options{})

// prometheusConfig is the part of deploy/prometheus/prometheus.yml the checks read.
type prometheusConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName string `yaml:"job_name"`
	} `yaml:"scrape_configs"`
}

func loadPrometheusConfig(t *testing.T) (prometheusConfig, string) {
	t.Helper()
	path := filepath.Join(repoRoot, "deploy", "prometheus", "prometheus.yml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c prometheusConfig
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(c.RuleFiles) == 0 || len(c.ScrapeConfigs) == 0 {
		t.Fatalf("%s loads no rule file or scrapes no job", path)
	}
	return c, filepath.Dir(path)
}

// rule is one rule of the files prometheus.yml loads, its expression parsed.
type rule struct {
	file, group, name string // name: the alert, or the recorded series
	alert             bool
	expr              parser.Expr
	labels            map[string]string
	annotations       map[string]string
}

// loadRules parses every rule file prometheus.yml names (relative to it, as Prometheus resolves
// them) with Prometheus' rule parser, which also parses each expression.
func loadRules(t *testing.T) []rule {
	t.Helper()
	cfg, dir := loadPrometheusConfig(t)
	var out []rule
	for _, pattern := range cfg.RuleFiles {
		files, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil || len(files) == 0 {
			t.Fatalf("prometheus.yml loads rule_files %q: no such file in %s", pattern, dir)
		}
		for _, file := range files {
			// What the parser would only log (a second YAML document, ignored) fails the check too.
			var warnings strings.Builder
			groups, errs := rulefmt.ParseFile(file, false, model.UTF8Validation, promParser, slog.New(slog.NewTextHandler(&warnings, nil)))
			for _, err := range errs {
				t.Errorf("%s: %v", file, err)
			}
			if warnings.Len() > 0 {
				t.Errorf("%s: %s", file, warnings.String())
			}
			if groups == nil {
				continue
			}
			for _, g := range groups.Groups {
				for _, r := range g.Rules {
					expr, err := promParser.ParseExpr(r.Expr)
					if err != nil {
						t.Errorf("%s, group %s: %v", file, g.Name, err)
						continue
					}
					out = append(out, rule{file: filepath.Base(file), group: g.Name, name: r.Alert + r.Record,
						alert: r.Alert != "", expr: expr, labels: r.Labels, annotations: r.Annotations})
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("the rule files hold no rule")
	}
	return out
}

// selector is a vector selector of an expression: the metric's name and every matcher.
type selector struct {
	name     string
	matchers []*labels.Matcher
}

// selectors lists the vector selectors an expression reads (inside functions, aggregations,
// range and offset selectors and subqueries alike).
func selectors(expr parser.Expr) []selector {
	var out []selector
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		s := selector{name: vs.Name, matchers: vs.LabelMatchers}
		if s.name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
					s.name = m.Value
				}
			}
		}
		out = append(out, s)
		return nil
	})
	return out
}

// metricNames is the sorted, deduplicated names of an expression's selectors ("" for a selector
// with no metric name, which the checks refuse).
func metricNames(expr parser.Expr) []string {
	var out []string
	for _, s := range selectors(expr) {
		out = append(out, s.name)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestAlertRulesParse: every rule file prometheus.yml loads parses with Prometheus' rule parser,
// and every alert says how bad it is and what it means.
func TestAlertRulesParse(t *testing.T) {
	rules := loadRules(t)
	severities := []string{"critical", "warning", "info"}
	for _, r := range rules {
		if !r.alert {
			continue
		}
		if !slices.Contains(severities, r.labels["severity"]) {
			t.Errorf("%s: label severity is %q, want one of %v", r.name, r.labels["severity"], severities)
		}
		if r.annotations["summary"] == "" || r.annotations["description"] == "" {
			t.Errorf("%s: needs a summary and a description annotation", r.name)
		}
		t.Logf("%-26s %-8s %s", r.name, r.labels["severity"], strings.Join(metricNames(r.expr), ", "))
	}
}

// prometheusSeries are the series Prometheus writes itself for each target it scrapes; the rules
// may read these too.
var prometheusSeries = []string{"up"}

// TestRuleMetricsAreExported: every metric a rule reads is one a real worker or gateway exports,
// with the labels the rule matches on and groups by, and the rules about scrape targets name the
// jobs prometheus.yml defines.
func TestRuleMetricsAreExported(t *testing.T) {
	rules := loadRules(t)
	exported := exportedSeries(t)
	cfg, _ := loadPrometheusConfig(t)
	for _, r := range rules {
		for _, s := range selectors(r.expr) {
			switch {
			case s.name == "":
				t.Errorf("%s: a selector names no metric: %v", r.name, s.matchers)
			case slices.Contains(prometheusSeries, s.name):
				checkJobMatchers(t, r.name, s, cfg)
			case exported[s.name] == nil:
				t.Errorf("%s reads %s, which neither the worker nor the gateway exports", r.name, s.name)
			}
		}
		checkLabels(t, r.name, r.expr, exported)
	}
}

// checkLabels checks that every label an expression's selectors match on, and every label its
// aggregations group by, is one that the series read carry: a misspelt label matches nothing
// (or everything), silently.
func checkLabels(t *testing.T, where string, expr parser.Expr, exported series) {
	t.Helper()
	carried := func(name string) map[string]bool {
		if slices.Contains(prometheusSeries, name) {
			return map[string]bool{"job": true, "instance": true}
		}
		return exported[name] // nil when not exported: reported on its own
	}
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			have := carried(n.Name)
			for _, m := range n.LabelMatchers {
				if have != nil && m.Name != model.MetricNameLabel && !have[m.Name] {
					t.Errorf("%s: %s matches on label %q, which it does not carry", where, n.Name, m.Name)
				}
			}
		case *parser.AggregateExpr:
			if n.Without {
				return nil
			}
			have, known := map[string]bool{}, false
			for _, s := range selectors(n.Expr) {
				for l := range carried(s.name) {
					have[l], known = true, true
				}
			}
			for _, g := range n.Grouping {
				if known && !have[g] {
					t.Errorf("%s: %s groups by label %q, which none of %v carries", where, n.Op, g, metricNames(n.Expr))
				}
			}
		}
		return nil
	})
}

// checkJobMatchers checks that a selector of a series Prometheus writes matches every job of
// prometheus.yml by its job matcher: no target goes unwatched, and no rule waits for a job that
// does not exist.
func checkJobMatchers(t *testing.T, ruleName string, s selector, cfg prometheusConfig) {
	t.Helper()
	found := false
	for _, m := range s.matchers {
		if m.Name != "job" {
			continue
		}
		found = true
		for _, sc := range cfg.ScrapeConfigs {
			if !m.Matches(sc.JobName) {
				t.Errorf("%s: %s does not match job %q of prometheus.yml", ruleName, m, sc.JobName)
			}
		}
	}
	if !found {
		t.Errorf("%s: %s needs a job matcher (the jobs of prometheus.yml)", ruleName, s.name)
	}
}

// alertToken is how docs/operations.md names an alert, and search attributes and the workflow
// type happen to look the same.
var alertToken = regexp.MustCompile(`\bK2K[A-Z][A-Za-z0-9]*\b`)

// TestEveryDocumentedAlertHasARule: every alert docs/operations.md names has a rule, and every
// alert rule has a row in the doc's table of alerts (what it means, what to do).
func TestEveryDocumentedAlertHasARule(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	notAlerts := map[string]bool{workflows.InvoiceWorkflowType: true, workflows.CreditNoteWorkflowType: true}
	for _, sa := range workflows.SearchAttributes() {
		notAlerts[sa.Name] = true
	}
	named := map[string]bool{}
	for _, tok := range alertToken.FindAllString(doc, -1) {
		if !notAlerts[tok] {
			named[tok] = true
		}
	}
	tabled := alertTable(t, doc)
	rules := map[string]bool{}
	for _, r := range loadRules(t) {
		if r.alert {
			rules[r.name] = true
		}
	}
	for name := range named {
		if !rules[name] {
			t.Errorf("docs/operations.md names alert %s, but no rule defines it", name)
		}
	}
	for name := range rules {
		if !tabled[name] {
			t.Errorf("alert %s has no row in the table of docs/operations.md, %q", name, alertsSection)
		}
	}
	t.Logf("docs/operations.md names %d alerts, its table describes %d, the rules define %d", len(named), len(tabled), len(rules))
}

// alertsSection is the heading of docs/operations.md whose table describes each alert.
const alertsSection = "## Dashboards and alerts"

// alertTable returns the alerts of the first column of the tables of the alerts section.
func alertTable(t *testing.T, doc string) map[string]bool {
	t.Helper()
	_, section, ok := strings.Cut(doc, "\n"+alertsSection+"\n")
	if !ok {
		t.Fatalf("docs/operations.md has no section %q", alertsSection)
	}
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	out := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || strings.TrimSpace(cells[0]) != "" {
			continue
		}
		if name := strings.Trim(strings.TrimSpace(cells[1]), "`"); alertToken.MatchString(name) {
			out[name] = true
		}
	}
	if len(out) == 0 {
		t.Fatalf("the section %q of docs/operations.md has no table of alerts", alertsSection)
	}
	return out
}

// grafanaIntervals are the interval variables Grafana puts into queries before sending them; the
// check gives them a value so that Prometheus' parser can read the query.
var grafanaIntervals = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// dashboardPanel is the part of a Grafana panel the checks read; rows hold panels of their own.
type dashboardPanel struct {
	Title      string            `json:"title"`
	Type       string            `json:"type"`
	Datasource *dashboardSource  `json:"datasource"`
	Targets    []dashboardTarget `json:"targets"`
	Panels     []dashboardPanel  `json:"panels"`
}

type dashboardSource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboardTarget struct {
	Expr       string           `json:"expr"`
	RefID      string           `json:"refId"`
	Datasource *dashboardSource `json:"datasource"`
}

// provisionedDatasource is the Prometheus data source Grafana's provisioning creates.
func provisionedDatasource(t *testing.T) dashboardSource {
	t.Helper()
	path := filepath.Join(repoRoot, "deploy", "grafana", "provisioning", "datasources", "prometheus.yml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Datasources []dashboardSource `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(data, &p); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(p.Datasources) != 1 || p.Datasources[0].Type != "prometheus" || p.Datasources[0].UID == "" {
		t.Fatalf("%s: want one prometheus data source with a uid, got %+v", path, p.Datasources)
	}
	return p.Datasources[0]
}

// TestDashboardQueries: every query of every dashboard parses as PromQL, reads only metrics a real
// worker or gateway exports, and goes to the provisioned data source.
func TestDashboardQueries(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "deploy", "grafana", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboard in deploy/grafana/dashboards (%v)", err)
	}
	ds := provisionedDatasource(t)
	exported := exportedSeries(t)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID        string           `json:"uid"`
			Title      string           `json:"title"`
			Panels     []dashboardPanel `json:"panels"`
			Templating struct {
				List []json.RawMessage `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: a dashboard needs a uid and a title", file)
		}
		if len(d.Templating.List) != 0 {
			t.Errorf("%s: has template variables; this check substitutes only Grafana's interval variables", file)
		}
		queries := 0
		var walk func(panels []dashboardPanel)
		walk = func(panels []dashboardPanel) {
			for _, p := range panels {
				walk(p.Panels)
				if p.Type == "row" || p.Type == "text" {
					continue
				}
				if len(p.Targets) == 0 {
					t.Errorf("%s: panel %q has no query", file, p.Title)
				}
				if p.Datasource == nil || *p.Datasource != ds {
					t.Errorf("%s: panel %q reads data source %+v, want the provisioned %+v", file, p.Title, p.Datasource, ds)
				}
				for _, target := range p.Targets {
					queries++
					if target.Datasource != nil && *target.Datasource != ds {
						t.Errorf("%s: a query of %q reads data source %+v", file, p.Title, target.Datasource)
					}
					expr, err := promParser.ParseExpr(grafanaIntervals.Replace(target.Expr))
					if err != nil {
						t.Errorf("%s: panel %q, query %s: %v\n%s", file, p.Title, target.RefID, err, target.Expr)
						continue
					}
					for _, name := range metricNames(expr) {
						if exported[name] == nil {
							t.Errorf("%s: panel %q reads %q, which neither the worker nor the gateway exports", file, p.Title, name)
						}
					}
					checkLabels(t, fmt.Sprintf("%s: panel %q", filepath.Base(file), p.Title), expr, exported)
				}
			}
		}
		walk(d.Panels)
		t.Logf("%s: %d queries checked", filepath.Base(file), queries)
	}
}
