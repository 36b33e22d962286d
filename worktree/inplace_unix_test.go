//go:build unix

package worktree

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestInPlaceRoot_Parent: a restore reaches the parent of a path through
// real directories only, whatever stands there since the walk: a link in
// any component, to outside or inside the tree, or a file, is refused as
// errNotDir, and nothing is opened outside the root.
func TestInPlaceRoot_Parent(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	for _, d := range []string{"a/b/c", "real"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"out": outside, "a/in": "b", "a/b/up": "../../real", "a/b/c/abs": root} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		path    string
		wantDir string // "" for errNotDir
	}{
		{"top", "."},
		{"a/x", "a"},
		{"a/b/c/x", "a/b/c"},
		{"out/x", ""},
		{"a/in/x", ""},
		{"a/in/c/x", ""},
		{"a/b/up/x", ""},
		{"a/b/c/abs/x", ""},
		{"file/x", ""},
		{"a/missing/x", "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r, err := openInPlaceRoot(root)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			p, name, err := r.parent(tt.path)
			switch {
			case tt.wantDir == "missing":
				if !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("parent: %v, want not found", err)
				}
				return
			case tt.wantDir == "":
				if !errors.Is(err, errNotDir) {
					t.Fatalf("parent: %v, want errNotDir", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			defer p.Close()
			if want := filepath.Base(tt.path); name != want {
				t.Errorf("name %q, want %q", name, want)
			}
			var got, want unix.Stat_t
			if err := unix.Fstat(p.fd, &got); err != nil {
				t.Fatal(err)
			}
			if err := unix.Stat(filepath.Join(root, tt.wantDir), &want); err != nil {
				t.Fatal(err)
			}
			if got.Ino != want.Ino || got.Dev != want.Dev {
				t.Errorf("opened another directory than %s", tt.wantDir)
			}
		})
	}
}

// TestOpenDirStepwise_AsOpenDirBeneath: the component-by-component walk,
// the fallback where openat2 is missing, refuses and opens as it does.
func TestOpenDirStepwise_AsOpenDirBeneath(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "a/out")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "a/file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rfd)
	for _, rel := range []string{"a", "a/b", "a/out", "a/out/x", "a/file", "a/file/x", "a/none", "a/none/x"} {
		fd1, err1 := openDirBeneath(rfd, rel)
		fd2, err2 := openDirStepwise(rfd, rel)
		if fd1 >= 0 {
			unix.Close(fd1)
		}
		if fd2 >= 0 {
			unix.Close(fd2)
		}
		// parent takes ELOOP and ENOTDIR alike for errNotDir.
		class := func(err error) string {
			switch {
			case err == nil:
				return "opened"
			case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
				return "not a directory"
			case errors.Is(err, unix.ENOENT):
				return "not found"
			}
			return err.Error()
		}
		if class(err1) != class(err2) {
			t.Errorf("%s: in one call %v, stepwise %v", rel, err1, err2)
		}
	}
}
