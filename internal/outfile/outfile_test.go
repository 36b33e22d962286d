package outfile_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/processfork/pf/internal/outfile"
)

func write(t *testing.T, path, content string) error {
	t.Helper()
	return outfile.WriteFile(path, []byte(content), nil)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// names lists dir's entries.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestCreate_Stdout(t *testing.T) {
	var buf bytes.Buffer
	if err := outfile.WriteFile("-", []byte("hi"), &buf); err != nil {
		t.Fatal(err)
	}
	if err := outfile.WriteFile("/dev/stdout", []byte(" there"), &buf); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "hi there" {
		t.Fatalf("stdout got %q", buf.String())
	}
	if err := outfile.WriteFile("-", []byte("hi"), nil); err == nil {
		t.Fatal("- with no standard output succeeded")
	}
}

func TestCreate_RegularFileReplacedWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out")
	if err := write(t, path, "new file"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "new file" {
		t.Fatalf("got %q", got)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	f, err := outfile.Create(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("replacement"))
	if got := readFile(t, path); got != "new file" {
		t.Fatalf("before Commit the file reads %q", got)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "replacement" {
		t.Fatalf("got %q", got)
	}
	if fi, _ := os.Stat(path); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want the old file's 0640", fi.Mode())
	}
	if n := names(t, dir); len(n) != 1 {
		t.Fatalf("left in the directory: %v", n)
	}
}

func TestCreate_AbandonedLeavesPathAsItWas(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out")
	os.WriteFile(path, []byte("old"), 0o644)
	f, err := outfile.Create(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("half"))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "old" {
		t.Fatalf("got %q", got)
	}
	if n := names(t, dir); len(n) != 1 {
		t.Fatalf("left in the directory: %v", n)
	}
	if err := f.Commit(); err == nil {
		t.Fatal("Commit after Close succeeded")
	}
	// A new path abandoned is not created.
	f, err = outfile.Create(filepath.Join(dir, "new"), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if n := names(t, dir); len(n) != 1 {
		t.Fatalf("left in the directory: %v", n)
	}
}

func TestCreate_SymlinkFollowedTargetReplacedBesideIt(t *testing.T) {
	linkDir, targetDir := t.TempDir(), t.TempDir()
	target := filepath.Join(targetDir, "target")
	link := filepath.Join(linkDir, "link")
	os.WriteFile(target, []byte("old"), 0o644)
	if err := os.Symlink(target, link); err != nil {
		t.Skip(err)
	}
	f, err := outfile.Create(link, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("through the link"))
	// Staged beside the target, not in the link's directory.
	if n := names(t, linkDir); len(n) != 1 {
		t.Fatalf("staged in the link's directory: %v", n)
	}
	if n := names(t, targetDir); len(n) != 2 {
		t.Fatalf("not staged beside the target: %v", n)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link is no longer a link: %v %v", fi.Mode(), err)
	}
	if got := readFile(t, target); got != "through the link" {
		t.Fatalf("target reads %q", got)
	}

	// A relative link, through a second link, and a dangling one whose
	// target is created.
	os.Symlink("link", filepath.Join(linkDir, "link2"))
	if err := write(t, filepath.Join(linkDir, "link2"), "twice"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, target); got != "twice" {
		t.Fatalf("target reads %q", got)
	}
	os.Symlink("../"+filepath.Base(targetDir)+"/made", filepath.Join(linkDir, "dangling"))
	if err := write(t, filepath.Join(linkDir, "dangling"), "made"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(targetDir, "made")); got != "made" {
		t.Fatalf("dangling link's target reads %q", got)
	}
}

func TestCreate_LinkLoop(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.Symlink(b, a); err != nil {
		t.Skip(err)
	}
	os.Symlink(a, b)
	if err := write(t, a, "x"); err == nil {
		t.Fatal("a link loop was written")
	}
}

func TestCreate_Directory(t *testing.T) {
	dir := t.TempDir()
	err := write(t, dir, "x")
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("got %v", err)
	}
}

func TestCreate_MissingDirectory(t *testing.T) {
	err := write(t, filepath.Join(t.TempDir(), "no", "such"), "x")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v", err)
	}
}
