// Package opsserver is writeback's HTTP listener for operations: Prometheus
// metrics (/metrics), liveness (/healthz), readiness (/readyz) and a status
// page a person reads (/), server-rendered and without external resources,
// with the same data as JSON under the same paths (Accept: application/json).
//
// It knows nothing of the engine or the state file: the daemon hands it a
// Source to ask for the page and for readiness, and reports each round to
// Metrics. That keeps the engine free of Prometheus and this package free of
// LDAP.
package opsserver
