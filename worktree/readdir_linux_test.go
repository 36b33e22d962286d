package worktree

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadDirWatching_AgreesWithOS lists directories as os.ReadDir and
// os.Lstat see them: every name once, "." and ".." left out, each type
// and stat; a listing larger than the buffer getdents64 first fills is
// read whole; the regular files needStat refuses are listed without a
// stat, and only those.
func TestReadDirWatching_AgreesWithOS(t *testing.T) {
	tests := []struct {
		name  string
		files int // regular files, with long names
	}{
		{"empty", 0},
		{"small", 3},
		{"larger than one buffer", 1500}, // ~200 bytes a record: 300 KB of listing
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for i := range tt.files {
				name := fmt.Sprintf("%04d-%s", i, strings.Repeat("x", 180))
				if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Repeat("y", i)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tt.files > 0 {
				if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("sub", filepath.Join(dir, "link")); err != nil {
					t.Fatal(err)
				}
				if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			watched := map[string]bool{}
			deferred := func(name string) bool { return strings.HasPrefix(name, "0001-") }
			got, h, err := readDirWatching(dir, func(name string) { watched[name] = true }, func(name string) bool { return !deferred(name) })
			if err != nil {
				t.Fatal(err)
			}
			defer h.release()
			if len(got) != len(want) {
				t.Fatalf("listed %d entries, os.ReadDir %d", len(got), len(want))
			}
			byName := map[string]bool{}
			for _, de := range got {
				byName[de.Name()] = true
			}
			for _, w := range want {
				name := w.Name()
				if !byName[name] {
					t.Fatalf("%s not listed", name)
				}
				if watched[name] != w.Type().IsRegular() {
					t.Errorf("%s: watched %v, a regular file %v", name, watched[name], w.Type().IsRegular())
				}
			}
			for _, de := range got {
				name := de.Name()
				fi, err := os.Lstat(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if statDeferred(de) != (fi.Mode().IsRegular() && deferred(name)) {
					t.Errorf("%s: deferred %v", name, statDeferred(de))
				}
				if de.Type() != fi.Mode().Type() {
					t.Errorf("%s: type %v, Lstat %v", name, de.Type(), fi.Mode().Type())
				}
				if statDeferred(de) {
					continue
				}
				info, err := de.Info()
				if err != nil {
					t.Fatal(err)
				}
				if info.Mode() != fi.Mode() || info.Size() != fi.Size() || !info.ModTime().Equal(fi.ModTime()) {
					t.Errorf("%s: %v %d %v, Lstat %v %d %v", name, info.Mode(), info.Size(), info.ModTime(), fi.Mode(), fi.Size(), fi.ModTime())
				}
			}
		})
	}
}
