package cas

import (
	"testing"

	"github.com/processfork/pf/manifest"
)

// The filter never loses a digest it was given, and lets few others
// through.
func TestMarks(t *testing.T) {
	const n = 100000
	m := newMarks(n)
	for i := 0; i < n; i++ {
		m.add(manifest.Sum([]byte{byte(i), byte(i >> 8), byte(i >> 16), 'a'}))
	}
	for i := 0; i < n; i++ {
		if !m.has(manifest.Sum([]byte{byte(i), byte(i >> 8), byte(i >> 16), 'a'})) {
			t.Fatalf("digest %d added but not found", i)
		}
	}
	falsePositives := 0
	for i := 0; i < n; i++ {
		if m.has(manifest.Sum([]byte{byte(i), byte(i >> 8), byte(i >> 16), 'b'})) {
			falsePositives++
		}
	}
	if rate := float64(falsePositives) / n; rate > 0.02 {
		t.Fatalf("false positive rate %.3f, want about 0.01", rate)
	}
}
