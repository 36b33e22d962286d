package worktree

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/processfork/pf"
)

// TestSizeCheck_RefusesOtherSizes: a blob of another size than the
// tree's fails, whether it is copied through Read or handed over whole
// (WriteTo); handed over whole, no byte past the tree's size is written.
func TestSizeCheck_RefusesOtherSizes(t *testing.T) {
	blob := []byte("twelve bytes")
	for _, tc := range []struct {
		name    string
		want    int64
		whole   bool
		corrupt bool
	}{
		{"exact, whole", 12, true, false},
		{"exact, read", 12, false, false},
		{"blob longer, whole", 5, true, true},
		{"blob longer, read", 5, false, true},
		{"blob shorter, whole", 20, true, true},
		{"blob shorter, read", 20, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r io.Reader = bytes.NewReader(blob)
			if !tc.whole {
				r = readerOnly{r}
			}
			var out bytes.Buffer
			_, err := io.Copy(&out, &sizeCheck{r: r, want: tc.want})
			if got := errors.Is(err, pf.ErrCorrupt); got != tc.corrupt {
				t.Fatalf("copy: %v, want corrupt: %v", err, tc.corrupt)
			}
			if tc.whole && int64(out.Len()) > tc.want {
				t.Errorf("%d bytes written, the tree says %d", out.Len(), tc.want)
			}
			if !tc.corrupt && !bytes.Equal(out.Bytes(), blob) {
				t.Errorf("wrote %q, want %q", out.Bytes(), blob)
			}
		})
	}
}
