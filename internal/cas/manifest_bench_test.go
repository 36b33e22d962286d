package cas

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/processfork/pf/manifest"
)

// BenchmarkEncodeManifest_AfterHashing encodes a manifest of a fixture's
// shape, as a warm snapshot's commit does: after hashing 1.4 MB of blobs
// (untimed), which pushes the encoder's tables out of the core's caches.
func BenchmarkEncodeManifest_AfterHashing(b *testing.B) {
	m := manifest.New(manifest.Agent{Kind: "claude-code", Version: "2.1.0", Fingerprint: "build-7"},
		time.Date(2026, 12, 3, 10, 4, 5, 123456789, time.UTC), manifest.Sum([]byte("parent")))
	for i, d := range []*manifest.Digest{&m.Model.Base, &m.Model.Diff, &m.Cache.Manifest, &m.World.FS, &m.World.Env,
		&m.World.Procs, &m.Effects.Ledger, &m.Trace.Messages} {
		*d = manifest.Sum([]byte{byte(i)})
	}
	raw, err := m.Encode()
	if err != nil {
		b.Fatal(err)
	}
	blobs := make([]byte, 1400<<10)
	EncodeManifest(raw)
	for b.Loop() {
		b.StopTimer()
		sha256.Sum256(blobs)
		b.StartTimer()
		EncodeManifest(raw)
	}
}
