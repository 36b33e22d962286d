package worktree

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

var ctx = context.Background()

var agent = manifest.Agent{Kind: "test", Version: "0.1.0", Fingerprint: "f"}

func openStore(t testing.TB) *pf.Store {
	t.Helper()
	s, err := pf.Open(filepath.Join(t.TempDir(), "store.pf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// node is one entry of a directory a test builds: a file (content), a
// directory (path ending in "/") or a symbolic link (link set).
type node struct {
	path    string
	content string
	link    string
	mode    os.FileMode // 0 means 0644 for files, 0755 for directories
}

// build makes the nodes under dir, parents as needed.
func build(t testing.TB, dir string, nodes ...node) {
	t.Helper()
	for _, n := range nodes {
		p := filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(n.path, "/")))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasSuffix(n.path, "/"):
			mode := n.mode
			if mode == 0 {
				mode = 0o755
			}
			if err = os.MkdirAll(p, 0o755); err == nil {
				err = os.Chmod(p, mode)
			}
		case n.link != "":
			err = os.Symlink(n.link, p)
		default:
			mode := n.mode
			if mode == 0 {
				mode = 0o644
			}
			if err = os.WriteFile(p, []byte(n.content), 0o644); err == nil {
				err = os.Chmod(p, mode)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// age sets the mtime of everything under dir an hour back, as in a
// workspace whose files were not written just now: the stat cache does
// not trust files modified in the second it looked at them.
func age(t testing.TB, dir string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.Type()&os.ModeSymlink != 0 {
			return err
		}
		return os.Chtimes(path, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// warnings collects what a capture or checkout warns about.
type warnings struct {
	mu   sync.Mutex
	seen map[string]error
}

func (w *warnings) add(path string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen == nil {
		w.seen = map[string]error{}
	}
	w.seen[path] = err
}

func (w *warnings) get(path string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen[path]
}

// snapshot captures c into s and returns the image id.
func snapshot(t testing.TB, s *pf.Store, c *Capture, parents ...manifest.Digest) manifest.Digest {
	t.Helper()
	id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, Parents: parents, World: c})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// treeOf returns image id's tree by path.
func treeOf(t testing.TB, s *pf.Store, id manifest.Digest) map[string]manifest.Entry {
	t.Helper()
	tree, err := LoadTree(ctx, s, id)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]manifest.Entry{}
	for _, e := range tree.Entries {
		m[e.Path] = e
	}
	return m
}

func worldFS(t testing.TB, s *pf.Store, id manifest.Digest) manifest.Digest {
	t.Helper()
	img, err := s.Image(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return img.Manifest.World.FS
}

func blob(t testing.TB, s *pf.Store, d manifest.Digest) string {
	t.Helper()
	b, err := s.Blobs().Get(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func images(t testing.TB, s *pf.Store) int64 {
	t.Helper()
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st.Images
}

func isRoot() bool { return os.Geteuid() == 0 }
