package cas

import (
	"crypto/sha256"
	"testing"
)

// BenchmarkEncodeManifest_AfterHashing encodes a manifest of a fixture's
// shape, as a warm snapshot's commit does: after hashing 1.4 MB of blobs
// (untimed), which pushes the encoder's tables out of the core's caches.
func BenchmarkEncodeManifest_AfterHashing(b *testing.B) {
	raw := sampleManifest(b)
	blobs := make([]byte, 1400<<10)
	EncodeManifest(raw)
	for b.Loop() {
		b.StopTimer()
		sha256.Sum256(blobs)
		b.StartTimer()
		EncodeManifest(raw)
	}
}
