package indextest_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/index/indextest"
)

// What Build writes is what Commit would have written: verify finds the
// records, indexes and counters whole.
func TestBuild_VerifiesClean(t *testing.T) {
	const n = 2000
	path := filepath.Join(t.TempDir(), "store.pf")
	if err := indextest.Build(path, n); err != nil {
		t.Fatal(err)
	}
	s, err := pf.Open(path, &pf.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep, err := s.Verify(context.Background(), pf.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) > 0 || rep.Images != n {
		t.Fatalf("verify: %d images, problems %v", rep.Images, rep.Problems)
	}
}
