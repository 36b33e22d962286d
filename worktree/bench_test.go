package worktree

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// The benchmark workspace: 20,000 files, 500 MB. Most are source-like
// text of 1 to 24 KB in 200 directories; 50 are 5 MB binaries (random
// bytes, as model weights or build outputs are), which the store chunks.
// It is built once per process and removed by TestMain.
const (
	benchSmallFiles = 19_950
	benchLargeFiles = 50
	benchLargeBytes = 5 << 20
	benchDirs       = 200
)

var (
	benchTreeOnce sync.Once
	benchTreeDir  string
	benchTreeErr  error
	benchTreeSize int64
	benchFiles    []string // paths relative to the tree, small files first
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchTreeDir != "" {
		os.RemoveAll(benchTreeDir)
	}
	os.Exit(code)
}

// benchTree returns the benchmark workspace, building it on first use
// with mtimes an hour back (a workspace the stat cache can trust).
func benchTree(b *testing.B) string {
	b.Helper()
	benchTreeOnce.Do(func() {
		benchTreeDir, benchTreeErr = os.MkdirTemp("", "pf-worktree-bench-")
		if benchTreeErr == nil {
			benchTreeErr = buildBenchTree(benchTreeDir)
		}
	})
	if benchTreeErr != nil {
		b.Fatal(benchTreeErr)
	}
	return benchTreeDir
}

var words = []string{"func", "return", "if", "err", "nil", "for", "range", "struct", "type", "package", "import",
	"const", "var", "string", "int64", "context", "ctx", "manifest", "Digest", "append", "len", "make", "map",
	"(", ")", "{", "}", ":=", "=", "!=", "//", "the", "a", "of", "to", "is", "in", "store", "blob", "tree"}

func buildBenchTree(root string) error {
	r := rand.New(rand.NewChaCha8([32]byte{1}))
	old := time.Now().Add(-time.Hour)
	var text []byte
	write := func(rel string, b []byte) error {
		p := filepath.Join(root, rel)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		benchFiles = append(benchFiles, rel)
		benchTreeSize += int64(len(b))
		return os.Chtimes(p, old, old)
	}
	for d := range benchDirs {
		if err := os.MkdirAll(filepath.Join(root, fmt.Sprintf("pkg%03d", d)), 0o755); err != nil {
			return err
		}
	}
	for i := range benchSmallFiles {
		size := 1<<10 + r.IntN(23<<10)
		text = text[:0]
		for len(text) < size {
			text = append(text, words[r.IntN(len(words))]...)
			if r.IntN(8) == 0 {
				text = append(text, '\n')
			} else {
				text = append(text, ' ')
			}
		}
		if err := write(fmt.Sprintf("pkg%03d/file%05d.go", i%benchDirs, i), text[:size]); err != nil {
			return err
		}
	}
	bin := make([]byte, benchLargeBytes)
	for i := range benchLargeFiles {
		for j := 0; j+8 <= len(bin); j += 8 {
			v := r.Uint64()
			for k := range 8 {
				bin[j+k] = byte(v >> (8 * k))
			}
		}
		if err := write(fmt.Sprintf("pkg%03d/blob%02d.bin", i, i), bin); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkSnapshot_First snapshots the workspace into an empty store, and
// in the same iteration times `git add -A && git commit -q` of it into an
// empty repository. ns/op is pf's; git-ns/op is git's, and vs-git is
// git's time over pf's: the goal is at least 0.8.
func BenchmarkSnapshot_First(b *testing.B) {
	root := benchTree(b)
	git, gitErr := exec.LookPath("git")
	if gitErr != nil {
		b.Log("git is not installed: timing pf alone")
	}
	var pfTime, gitTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		scratch := b.TempDir()
		s, err := pf.Open(filepath.Join(scratch, "store.pf"), nil)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.StartTimer()
		start := time.Now()
		c := &Capture{Root: root, Store: s}
		if _, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: c}); err != nil {
			b.Fatal(err)
		}
		pfTime += time.Since(start)
		b.StopTimer()
		if c.Stats().Hashed != benchSmallFiles+benchLargeFiles {
			b.Fatalf("hashed %d files", c.Stats().Hashed)
		}
		s.Close()
		os.Remove(s.Path())

		if git != "" {
			gitTime += timeGitCommit(b, git, root, filepath.Join(scratch, "git"))
		}
		os.RemoveAll(scratch)
		b.StartTimer()
	}
	b.SetBytes(benchTreeSize)
	if git != "" {
		b.ReportMetric(float64(gitTime.Nanoseconds())/float64(b.N), "git-ns/op")
		b.ReportMetric(gitTime.Seconds()/pfTime.Seconds(), "vs-git")
	}
}

// timeGitCommit times `git add -A && git commit -q` of root into a new
// repository at gitDir (outside root, so that neither walk sees it).
func timeGitCommit(b *testing.B, git, root, gitDir string) time.Duration {
	env := append(os.Environ(), "GIT_DIR="+gitDir, "GIT_WORK_TREE="+root,
		"GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.com",
		"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.com",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	run := func(args ...string) {
		cmd := exec.Command(git, args...)
		cmd.Dir, cmd.Env = root, env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run("init", "-q")
	start := time.Now()
	run("add", "-A")
	run("commit", "-q", "-m", "snapshot")
	return time.Since(start)
}

// BenchmarkSnapshot_TenChanged snapshots the workspace again after 10 of
// its files changed (one of them a 5 MB binary): the stat cache spares
// reading the other 19,990. The goal is under 1 s.
func BenchmarkSnapshot_TenChanged(b *testing.B) {
	root := benchTree(b)
	s, err := pf.Open(filepath.Join(b.TempDir(), "store.pf"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	parent, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: &Capture{Root: root, Store: s}})
	if err != nil {
		b.Fatal(err)
	}
	var changed []string
	for i := range 9 {
		changed = append(changed, benchFiles[i*benchSmallFiles/9])
	}
	changed = append(changed, benchFiles[len(benchFiles)-1])
	originals := map[string][]byte{}
	for _, rel := range changed {
		originals[rel], _ = os.ReadFile(filepath.Join(root, rel))
	}
	b.Cleanup(func() {
		// Leave the shared tree as other benchmarks expect it.
		old := time.Now().Add(-time.Hour)
		for rel, content := range originals {
			p := filepath.Join(root, rel)
			os.WriteFile(p, content, 0o644)
			os.Chtimes(p, old, old)
		}
	})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for _, rel := range changed {
			content := append([]byte(nil), originals[rel]...)
			content[0] ^= byte(i + 1)
			if err := os.WriteFile(filepath.Join(root, rel), content, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		c := &Capture{Root: root, Store: s}
		id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, Parents: []manifest.Digest{parent}, World: c})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if st := c.Stats(); st.Hashed != len(changed) || st.CacheHits != benchSmallFiles+benchLargeFiles-len(changed) {
			b.Fatalf("%+v: want %d files read", st, len(changed))
		}
		parent = id
		b.StartTimer()
	}
}
