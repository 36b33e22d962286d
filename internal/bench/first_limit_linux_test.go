package bench

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/processfork/pf/internal/cas"
	bolt "go.etcd.io/bbolt"
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
		read := treeRead{Files: 1, Bytes: int64(len(data)), Sum: sha256.Sum256(data)}
		if len(data) > cas.InlineMax {
			read.Cut = read.Bytes
		}
		want.add(read)
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

// TestReadTreePacked_StoresEveryFile: the first checkpoint's read +
// SHA-256 + bbolt limit reads what readTree reads, and its one commit
// leaves every distinct file's bytes findable by its digest, in packs of
// about cas.PackTarget or, larger than cas.PackMax, as values of their
// own; a file's bytes stored twice get one index entry.
func TestReadTreePacked_StoresEveryFile(t *testing.T) {
	root := t.TempDir()
	files := map[string][]byte{"empty": nil, "same-1": []byte("twice\n"), "d/same-2": []byte("twice\n")}
	// Small files enough for a full pack and partial ones, and two large.
	for i := range 3000 {
		files[filepath.Join(fmt.Sprintf("d%d", i%37), fmt.Sprintf("f%d", i))] = bytes.Repeat([]byte{byte(i), byte(i >> 8), 'x'}, 1+i%1500)
	}
	files["big/mapped"] = bytes.Repeat([]byte("0123456789abcdef"), (mapFrom+12345)/16)
	files["big/unpacked"] = bytes.Repeat([]byte("fedcba9876543210"), (cas.PackMax+100)/16)
	writeFiles(t, root, files)
	var want treeRead
	for _, data := range files {
		read := treeRead{Files: 1, Bytes: int64(len(data)), Sum: sha256.Sum256(data)}
		if len(data) > cas.InlineMax {
			read.Cut = read.Bytes
		}
		want.add(read)
	}
	want.Dirs = 1 + 37 + 1 + 1 // the root, d0 to d36, big, d
	distinct := len(files) - 1 // same-1 and d/same-2

	for _, workers := range []int{1, 2, treeWorkers()} {
		got, tp, err := readTreePacked(root, ignoredDir, workers)
		if err != nil {
			t.Fatalf("%d workers: %v", workers, err)
		}
		if got != want {
			t.Errorf("%d workers: read %+v, want %+v", workers, got, want)
		}
		bdb, path, err := openPackFloor(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		indexed, err := storeTreePacks(bdb, tp)
		if err != nil {
			t.Fatal(err)
		}
		if indexed != distinct {
			t.Errorf("%d workers: %d index entries, want %d", workers, indexed, distinct)
		}
		bdb.Close()
		viewCommitted(t, path, func(packs, large, index *bolt.Bucket) {
			if n := index.Stats().KeyN; n != distinct {
				t.Errorf("%d workers: the index holds %d entries, want %d", workers, n, distinct)
			}
			err := packs.ForEach(func(k, v []byte) error {
				if len(v) >= cas.PackTarget+cas.PackMax {
					t.Errorf("%d workers: pack %x of %d bytes", workers, k, len(v))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for name, data := range files {
				sum := sha256.Sum256(data)
				ref := index.Get(sum[:])
				if ref == nil {
					t.Errorf("%d workers: %s not indexed", workers, name)
					continue
				}
				pack, k := binary.Varint(ref)
				off, k2 := binary.Uvarint(ref[k:])
				n, _ := binary.Uvarint(ref[k+k2:])
				var stored []byte
				if pack < 0 {
					stored = large.Get(sum[:])
				} else if p := packs.Get(binary.BigEndian.AppendUint64(nil, uint64(pack))); p != nil && off+n <= uint64(len(p)) {
					stored = p[off : off+n]
				}
				if int(n) != len(data) || !bytes.Equal(stored, data) {
					t.Errorf("%d workers: %s stored as %d bytes, not its %d", workers, name, len(stored), len(data))
				}
			}
		})
	}
}

// writeFiles writes files, by their paths under root, and the
// directories they lie in.
func writeFiles(t *testing.T, root string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// viewCommitted opens the limit's bbolt file at path again, as its
// commits left it, and calls fn with its buckets in a read transaction.
func viewCommitted(t *testing.T, path string, fn func(packs, values, index *bolt.Bucket)) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	err = bdb.View(func(tx *bolt.Tx) error {
		fn(tx.Bucket(floorPacks), tx.Bucket(floorLarge), tx.Bucket(floorIndex))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestReadTreeStored_StoresEveryFile: the first checkpoint's read +
// SHA-256 + zstd + bbolt limit, and its variant that cuts the files a
// put cuts, read and compress what readTree reads and compresses, and
// their commits leave every distinct file findable by its digest, each
// piece compressed or raw as a put's rule says, in packs or values of
// their own, over more than one commit.
func TestReadTreeStored_StoresEveryFile(t *testing.T) {
	root := t.TempDir()
	random := make([]byte, cas.DefaultSpillBytes+cas.InlineMax/2) // raw pieces, more than one commit's
	for i := range random {
		random[i] = byte(uint64(i) * 0x9e3779b97f4a7c15 >> 56)
	}
	files := map[string][]byte{
		"empty":       nil,
		"small":       []byte("under 2 KiB, kept raw\n"),
		"same-1":      bytes.Repeat([]byte("twice, compressed "), 200),
		"d/same-2":    bytes.Repeat([]byte("twice, compressed "), 200),
		"d/log":       bytes.Repeat([]byte("2026-05-05T14:00:00Z INFO took=12ms\n"), (2*cas.InlineMax+777)/36),
		"d/e/random":  random,
		"d/e/mapped":  bytes.Repeat([]byte("0123456789abcdef"), (mapFrom+12345)/16),
		"d/e/f/notes": bytes.Repeat([]byte("a line of notes\n"), 300),
	}
	writeFiles(t, root, files)
	want, err := readTree(root, ignoredDir, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	decoder, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer decoder.Close()

	for _, c := range []struct {
		workers int
		cut     bool
	}{{1, false}, {2, false}, {treeWorkers(), false}, {1, true}, {treeWorkers(), true}} {
		workers := c.workers
		bdb, path, err := openPackFloor(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		sink := newValueSink(bdb)
		got, err := readTreeStored(root, ignoredDir, workers, sink, c.cut)
		if cerr := sink.close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("%d workers, cut %v: %v", workers, c.cut, err)
		}
		want := want
		if c.cut {
			// Chunks compress to other sizes than pieces of a fixed size.
			if got.Packed == 0 {
				t.Errorf("%d workers, cut: nothing compressed", workers)
			}
			want.Packed = got.Packed
		}
		if got != want {
			t.Errorf("%d workers, cut %v: read %+v, want %+v", workers, c.cut, got, want)
		}
		if sink.commits < 2 || sink.stored >= int64(len(random))+got.Packed+int64(cas.InlineMax) {
			t.Errorf("%d workers: %d bytes stored in %d commits", workers, sink.stored, sink.commits)
		}
		bdb.Close()
		viewCommitted(t, path, func(packs, values, index *bolt.Bucket) {
			if n := index.Stats().KeyN; n != len(files)-1 {
				t.Errorf("%d workers: the index holds %d entries, want %d", workers, n, len(files)-1)
			}
			for name, data := range files {
				sum := sha256.Sum256(data)
				if got := readStored(t, decoder, packs, values, index.Get(sum[:])); !bytes.Equal(got, data) {
					t.Errorf("%d workers: %s read back as %d bytes, not its %d", workers, name, len(got), len(data))
				}
			}
		})
	}
}

// readStored reads back the bytes of the file whose index entry is
// entry, as valueSink.index encodes it.
func readStored(t *testing.T, decoder *zstd.Decoder, packs, values *bolt.Bucket, entry []byte) []byte {
	t.Helper()
	var out []byte
	for len(entry) > 0 {
		key, k1 := binary.Uvarint(entry)
		off, k2 := binary.Varint(entry[k1:])
		n, k3 := binary.Uvarint(entry[k1+k2:])
		if k1 <= 0 || k2 <= 0 || k3 <= 0 {
			t.Fatalf("index entry %x does not decode", entry)
		}
		entry = entry[k1+k2+k3:]
		k := binary.BigEndian.AppendUint64(nil, key)
		var stored []byte
		if off < 0 {
			stored = values.Get(k)
		} else if p := packs.Get(k); p != nil && off+int64(n>>1) <= int64(len(p)) {
			stored = p[off : off+int64(n>>1)]
		}
		if len(stored) != int(n>>1) {
			t.Fatalf("a piece stored as %d bytes, indexed as %d", len(stored), n>>1)
		}
		if n&1 == 0 {
			out = append(out, stored...)
			continue
		}
		piece, err := decoder.DecodeAll(stored, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, piece...)
	}
	return out
}
