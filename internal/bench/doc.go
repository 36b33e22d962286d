// Package bench measures the pf store against the workload and the figures
// it must be compared with.
//
// It exists for three reasons:
//
//   - The reference implementation (pf-core 1.0.x) publishes its speed and
//     size figures on one synthetic fixture (its pf-core/src/fixture.rs;
//     docs/format.md). fixture.Fixture is that workload byte for byte,
//     its bytes from fixture.rs's SplitMix64 stream so that they do not
//     compress, with fork variants of pf's own that differ from the
//     base in a known share of their cache pages and files. Numbers
//     measured on anything else could not be set beside the reference's.
//   - The store's gates are tests here (store_test.go): a second identical
//     snapshot must cost under 1 KiB, and forks must cost little more than
//     the bytes that actually differ. They fail when the store is wrong, not
//     only slow. The benchmarks (bench_test.go) time snapshots, puts, gets
//     and a bulk ingest, each beside the limit of the pipeline under it
//     (SHA-256 and zstd on the same bytes), so that a ratio can be quoted
//     from one run on the noisy shared machines the project runs on.
//   - Users choose a store by what it costs them: Run (pf-bench) puts the
//     same workloads through pf and through what they would use instead —
//     the reference's directory design written faithfully, git's object
//     store, SQLite as a checkpointer uses it, and the machine's own limits
//     — each in a process of its own, and reports medians, ratios and peak
//     memory as a table, Markdown, JSON and an SVG plot (BENCHMARKS.md).
//
// Run the gates with go test ./internal/bench, the benchmarks with
//
//	go test ./internal/bench -run '^$' -bench . -benchtime 3x
//
// and the comparison with go run ./cmd/pf-bench [--quick].
package bench
