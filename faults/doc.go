// Package faults runs the real system (worker and gateway processes, the Temporal dev server,
// versitygw, PostgreSQL) and injects real faults: processes killed with SIGKILL inside an
// activity or a request, the Temporal server restarted, S3 and PostgreSQL made unreachable
// through TCP proxies. After each scenario one checker (Checker) compares what the scenario did
// (Ledger) with what Temporal, PostgreSQL and S3 hold.
//
// `go test ./faults` runs a smoke subset; K2K_FAULTS=full (make faults) runs every scenario. See
// docs/reliability.md.
package faults
