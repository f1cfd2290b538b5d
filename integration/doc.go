// Package integration tests the whole system on real servers: the Temporal CLI dev server, a
// worker wired exactly as the worker command wires it, PostgreSQL and versitygw, plus the starter CLI as
// a built binary. TestMain starts them on free ports and stops them at the end.
package integration
