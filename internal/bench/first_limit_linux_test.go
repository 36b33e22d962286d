package bench

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
)

// TestReadTree_ReadsEveryFile: the first checkpoint's limit reads and
// hashes every regular file of the tree, small and mapped alike, on any
// number of workers, leaves out the ignored directories, and reads a
// symbolic link without following it out of the tree; with compress,
// it compresses what a put would.
func TestReadTree_ReadsEveryFile(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), (mapFrom+12345)/16) // read through a map
	files := map[string][]byte{
		"a.txt":              []byte("hello\n"),
		"empty":              nil,
		"sub/b.bin":          big,
		"sub/deep/er/c.go":   []byte("package c\n"),
		"sub/deep/er/d.json": bytes.Repeat([]byte(`{"k":1}`), 20_000),
	}
	ignored := map[string][]byte{
		"node_modules/pkg/index.js": []byte("module.exports = 1\n"),
		".git/HEAD":                 []byte("ref: refs/heads/main\n"),
	}
	for _, set := range []map[string][]byte{files, ignored, {filepath.Join(outside, "secret"): []byte("not in the tree")}} {
		for name, data := range set {
			p := name
			if !filepath.IsAbs(p) {
				p = filepath.Join(root, name)
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Links out of the tree, to a directory and to a file, and one in it.
	for name, target := range map[string]string{
		"out-dir":    outside,
		"sub/out":    filepath.Join(outside, "secret"),
		"sub/a-link": "../a.txt",
	} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	var want treeRead
	for _, data := range files {
		sum := sha256.Sum256(data)
		want.add(treeRead{Files: 1, Bytes: int64(len(data)), Sum: sum})
	}
	want.Dirs, want.Links = 4, 3 // the root, sub, sub/deep, sub/deep/er

	for _, workers := range []int{1, 2, treeWorkers()} {
		got, err := readTree(root, ignoredDir, workers, false)
		if err != nil {
			t.Fatalf("%d workers: %v", workers, err)
		}
		if got != want {
			t.Errorf("%d workers: read %+v, want %+v", workers, got, want)
		}
	}

	// Compressing too, it reads the same and hands zstd what a put would
	// try to compress: the two files of 2 KiB or more, whole.
	wantZ := want
	wantZ.Compressed = int64(len(files["sub/b.bin"]) + len(files["sub/deep/er/d.json"]))
	got, err := readTree(root, ignoredDir, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	packed := got.Packed
	got.Packed = 0
	if got != wantZ {
		t.Errorf("compressing: read %+v, want %+v", got, wantZ)
	}
	if packed <= 0 || packed >= wantZ.Compressed/10 {
		t.Errorf("compressing: zstd made %d bytes of %d repetitive ones", packed, wantZ.Compressed)
	}
}
