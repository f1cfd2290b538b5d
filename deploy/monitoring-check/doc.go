// Package monitoringcheck holds the test of the monitoring files the repository ships:
// deploy/prometheus (scrape configuration and alerting rules) and deploy/grafana (provisioning and
// the dashboard). It
//
//   - parses every rule file prometheus.yml loads with Prometheus' own rule parser (rulefmt, which
//     also parses each expression as PromQL), at the version of the Prometheus image compose runs;
//   - starts a real worker and gateway (the binaries built from the main module, over PostgreSQL,
//     versitygw and a Temporal server), drives orders and actions through the gateway, including
//     the failures the alerts watch for, and scrapes both /metrics pages;
//   - checks that every metric a rule or a dashboard query names is one of those scraped (histograms
//     as _bucket, _sum and _count), `up` aside, which Prometheus itself writes for each target, and
//     that every label they match on or group by is one those series carry;
//   - checks that every alert docs/operations.md names has a rule, and every rule is described there.
//
// The scrape is what makes the check worth having: the SDK's counter
// temporal_sticky_cache_total_forced_eviction, for one, is exported as
// temporal_sticky_cache_forced_eviction_total, not as its name in the SDK plus _total.
//
// Why a module of its own: github.com/prometheus/prometheus v0.316.0 (Prometheus 3.16.0) added to
// the main go.mod raised its `go mod graph` from 761 to 1067 edges and go.sum from 258 to 387
// lines, moved the go directive from 1.26.0 to 1.26.7, and upgraded modules the shipped binaries
// link (grpc-gateway v2.22.0 to v2.32.0, golang.org/x/time v0.3.0 to v0.16.0, prometheus/common
// v0.72.0 to v0.72.1, mapstructure, BurntSushi/toml): a test's parser would have chosen the
// worker's dependencies. Here the main module stays as it was; this module (1111 edges, 355 go.sum
// lines, the main module's requirements included through its replace directive) is the only one
// linking Prometheus, and the worker and gateway under test are still built by the main module
// (`go build` at its root, exactly what ships). Prometheus' packages (about 300) add roughly a
// minute to a cold build on the project's 2-core machines; with the build cache the whole check
// takes 30 to 50 seconds, most of it building the two binaries and starting the servers.
package monitoringcheck
