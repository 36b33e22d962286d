package cas

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/processfork/pf/manifest"
)

// BenchmarkBolt_Get_4MiB reads random 4 MiB blobs in random order, as
// pf-bench's ingest-4m-random job reads them back: one op is one Get.
func BenchmarkBolt_Get_4MiB(b *testing.B) {
	_, s := openStore(b, "", Options{})
	const blobs = 32
	ds := make([]manifest.Digest, blobs)
	for i := range ds {
		d, err := s.PutBytes(ctx, payload(uint64(i+1), 4<<20))
		if err != nil {
			b.Fatal(err)
		}
		ds[i] = d
	}
	order := rand.New(rand.NewPCG(1, 2)).Perm(blobs)
	b.SetBytes(4 << 20)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Get(ctx, ds[order[i%blobs]]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBolt_Get_16KiBJSON reads blobs of 16 KiB of JSON lines in
// random order from a store of 10,000 of them, put as pf-bench's
// ingest-16k-jsonl job puts them (one lease, a batch of 4 MiB at a time)
// and read back as it reads them: one op is one Get.
func BenchmarkBolt_Get_16KiBJSON(b *testing.B) {
	_, s := openStore(b, "", Options{})
	const (
		blobs = 10000
		size  = 16 << 10
		batch = (4 << 20) / size
	)
	l := s.NewLease()
	ds := make([]manifest.Digest, 0, blobs)
	for start := 0; start < blobs; start += batch {
		values := make([][]byte, 0, batch)
		for i := start; i < min(start+batch, blobs); i++ {
			values = append(values, agentLog(uint64(i), size))
		}
		got, err := l.PutBatch(ctx, values)
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, got...)
	}
	if err := l.Commit(ctx, nil); err != nil {
		b.Fatal(err)
	}
	order := rand.New(rand.NewPCG(blobs, 7)).Perm(blobs)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Get(ctx, ds[order[i%blobs]]); err != nil {
			b.Fatal(err)
		}
	}
}

// agentLog returns n bytes of JSON lines in the manner of an agent's
// tool-call log, as pf-bench's corpus writes them (calls, results with
// output text, messages; ids, paths and numbers): zstd's fastest level
// shrinks it about three times, as it does that corpus.
func agentLog(seed uint64, n int) []byte {
	words := strings.Fields("the test fails because func return err nil package import cargo build warning " +
		"unused variable error[E0308]: mismatched types expected found struct impl fn let mut self Ok(()) " +
		"src/lib.rs src/main.rs Cargo.toml README.md --release running 1 passed; 0 failed; finished in 0.42s " +
		"diff --git a/src/store.rs b/src/store.rs @@ -12,7 +12,9 + - I will read file and then fix it now")
	tools := []string{"bash", "read_file", "write_file", "grep", "edit", "http_get", "cargo_test"}
	r := rand.New(rand.NewPCG(seed, 4))
	text := func(most int) []byte {
		var b []byte
		for k := r.IntN(most) + 4; k > 0; k-- {
			b = append(b, words[r.IntN(len(words))]...)
			if r.IntN(12) == 0 {
				b = append(b, `\n`...)
			} else {
				b = append(b, ' ')
			}
		}
		return b
	}
	b := make([]byte, 0, n+4096)
	for seq := 0; len(b) < n; seq++ {
		b = fmt.Appendf(b, `{"seq":"%016x","ts":"2026-05-05T14:%02d:%02d.%03dZ","session":"%08x",`,
			seed<<20|uint64(seq), seq/60000%60, seq/1000%60, seq%1000, seed)
		tool := tools[r.IntN(len(tools))]
		switch seq % 3 {
		case 0:
			b = fmt.Appendf(b, `"type":"tool_call","tool":%q,"call_id":"call_%012x","args":{"path":"src/file_%04d.rs","command":"%s"},"tokens":{"in":%d,"out":%d}}`,
				tool, r.Uint64()>>16, r.IntN(64), text(12), r.IntN(200000), r.IntN(4000))
		case 1:
			b = fmt.Appendf(b, `"type":"tool_result","tool":%q,"ok":%t,"duration_ms":%d,"output":"%s"}`,
				tool, r.IntN(5) > 0, r.IntN(30000), text(120))
		default:
			b = fmt.Appendf(b, `"type":"message","role":"assistant","content":"%s"}`, text(60))
		}
		b = append(b, '\n')
	}
	return b[:n]
}
