package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// note is a trace capture of one small message: a snapshot whose cost is
// its commit, so that what the benchmark measures is how commits share
// fsyncs.
type note string

func (n note) CaptureTrace(ctx context.Context, w pf.BlobWriter) (manifest.Trace, error) {
	d, err := w.PutBytes(ctx, []byte(n))
	return manifest.Trace{Messages: d}, err
}

// BenchmarkSnapshot_Agents runs small snapshots from 1, 4 and 16 agents
// at once in one store: with group commit, snapshots per second grow with
// the number of agents instead of queueing one fsync pair each.
// BenchmarkCommit_Baseline_Bolt is one commit per bbolt Update, in turn.
func BenchmarkSnapshot_Agents(b *testing.B) {
	for _, agents := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("agents=%d", agents), func(b *testing.B) {
			s := openStoreAt(b, filepath.Join(b.TempDir(), "agents.pf"))
			defer closeAndRemove(b, s)
			agent := manifest.Agent{Kind: "bench", Version: "1", Fingerprint: "f"}
			b.ResetTimer()
			var wg sync.WaitGroup
			for a := range agents {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := a; i < b.N; i += agents {
						if _, err := s.Snapshot(b.Context(), pf.Snapshot{Agent: agent, Trace: note(fmt.Sprint("step ", i))}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "snapshots/s")
		})
	}
}

func BenchmarkCommit_Baseline_Bolt(b *testing.B) { benchBoltCommits(b, 0) }

// BenchmarkCommit_Baseline_BoltAfterPause is one bbolt commit after the
// process has been idle for 20 ms: the baseline under
// BenchmarkSnapshot_WarmAfterPause, whose commit pays the same.
func BenchmarkCommit_Baseline_BoltAfterPause(b *testing.B) {
	benchBoltCommits(b, 20*time.Millisecond)
}

func benchBoltCommits(b *testing.B, pause time.Duration) {
	db := openBolt(b, filepath.Join(b.TempDir(), "commits.db"))
	defer db.Close()
	b.ResetTimer()
	timeEach(b, pause, func(i int) {
		err := db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("blobs")).Put(fmt.Appendf(nil, "key %d", i), make([]byte, 128))
		})
		if err != nil {
			b.Fatal(err)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}
