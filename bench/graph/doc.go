// Package graph benchmarks the Graph client on its own, against the
// emulator in the same process or against a running emulator or tenant:
// the full groups delta of a benchmark-sized tenant, an incremental delta
// after one change, and the full users delta. It holds benchmarks only
// (go test -bench); the whole-program benchmarks are in bench/cmd/wbbench.
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/graph                       # S-sized tenant
//	go test -run '^$' -bench . -benchtime 1x ./bench/graph -args -size L         # 20,000 groups, 500,000 memberships
//	go test -run '^$' -bench External -benchtime 1x ./bench/graph -args -config DIR/entra.yaml
package graph
