//go:build unix

package worktree

import (
	"context"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// toNextSecond sleeps into the next second: a file written before it
// and renamed into place after it is one the stat cache may trust.
func toNextSecond(string) {
	time.Sleep(time.Duration(1e9-time.Now().Nanosecond()) + 20*time.Millisecond)
}

// restoredBig makes a workspace whose big.bin (a file a restore records)
// changed since image old, and restores old with opts. It returns the
// store, the workspace, and old's bytes of big.bin.
func restoredBig(t *testing.T, opts RestoreOptions) (*pf.Store, string, []byte) {
	t.Helper()
	s := openStore(t)
	ws := t.TempDir()
	data := make([]byte, 2*minRecordedWrite+5)
	rand.NewChaCha8([32]byte{3}).Read(data)
	build(t, ws, node{path: "big.bin", content: string(data)}, node{path: "small.txt", content: "a"})
	age(t, ws)
	old := snapshot(t, s, &Capture{Root: ws, Store: s})
	changed := append([]byte{}, data...)
	changed[len(changed)/2] ^= 1
	must(t, os.WriteFile(filepath.Join(ws, "big.bin"), changed, 0o644))
	age(t, ws)
	snapshot(t, s, &Capture{Root: ws, Store: s}, old)
	_, err := Restore(ctx, s, old, ws, opts)
	must(t, err)
	mustContain(t, filepath.Join(ws, "big.bin"), data)
	return s, ws, data
}

// captured captures ws and returns its stats and the digest it gives
// big.bin.
func captured(t *testing.T, s *pf.Store, ws string) (Stats, manifest.Digest) {
	t.Helper()
	c := &Capture{Root: ws, Store: s}
	id := snapshot(t, s, c)
	return c.Stats(), treeOf(t, s, id)["big.bin"].Blob
}

// TestRestore_RecordsWhatItWrote: a file a restore wrote whole, synced,
// in a second before the one it renamed it into place in, is in the stat
// cache with the restore's stat: the next capture does not read it.
func TestRestore_RecordsWhatItWrote(t *testing.T) {
	s, ws, data := restoredBig(t, RestoreOptions{beforeRename: toNextSecond})
	st, got := captured(t, s, ws)
	if want := manifest.Digest(sha256.Sum256(data)); got != want {
		t.Fatalf("big.bin captured as %s, its bytes are %s", got.Short(), want.Short())
	}
	if st.Hashed != 0 || st.CacheHits != 2 {
		t.Errorf("%+v: want both files from the stat cache", st)
	}
}

// TestRestore_RecordedFileChangedIsReadAgain: whatever happens to a file
// the restore recorded, right after the restore (in the second of its
// record, too), the next capture reads it again and stores what it holds.
func TestRestore_RecordedFileChangedIsReadAgain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, path string, data []byte) []byte
	}{
		{"same size", func(t *testing.T, path string, data []byte) []byte {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			must(t, err)
			_, err = f.WriteAt([]byte{^data[7]}, 7)
			must(t, err)
			must(t, f.Close())
			data[7] = ^data[7]
			return data
		}},
		{"same size, mtime set back", func(t *testing.T, path string, data []byte) []byte {
			fi, err := os.Stat(path)
			must(t, err)
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			must(t, err)
			_, err = f.WriteAt([]byte{^data[0]}, 0)
			must(t, err)
			must(t, f.Close())
			must(t, os.Chtimes(path, fi.ModTime(), fi.ModTime()))
			data[0] = ^data[0]
			return data
		}},
		{"touched", func(t *testing.T, path string, data []byte) []byte {
			now := time.Now()
			must(t, os.Chtimes(path, now, now))
			return data
		}},
		{"replaced by rename", func(t *testing.T, path string, data []byte) []byte {
			other := append([]byte{}, data...)
			other[len(other)-1] ^= 0xff
			tmp := path + ".new"
			must(t, os.WriteFile(tmp, other, 0o644))
			fi, err := os.Stat(path)
			must(t, err)
			must(t, os.Chtimes(tmp, fi.ModTime(), fi.ModTime()))
			must(t, os.Rename(tmp, path))
			return other
		}},
		{"appended to", func(t *testing.T, path string, data []byte) []byte {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			must(t, err)
			_, err = f.Write([]byte("more"))
			must(t, err)
			must(t, f.Close())
			return append(data, "more"...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ws, data := restoredBig(t, RestoreOptions{beforeRename: toNextSecond})
			want := tc.change(t, filepath.Join(ws, "big.bin"), data)
			st, got := captured(t, s, ws)
			if d := manifest.Digest(sha256.Sum256(want)); got != d {
				t.Fatalf("big.bin captured as %s, its bytes are %s", got.Short(), d.Short())
			}
			if st.Hashed != 1 {
				t.Errorf("%+v: want big.bin read again", st)
			}
		})
	}
}

// TestRestore_WriteInTheSecondOfItsRenameIsNotRecorded: a file written
// and renamed into place in one second could change again in that
// second without a new stat: the restore leaves it to the next capture
// to read.
func TestRestore_WriteInTheSecondOfItsRenameIsNotRecorded(t *testing.T) {
	for try := 1; ; try++ {
		var renamed int64
		s, ws, _ := restoredBig(t, RestoreOptions{beforeRename: func(string) {
			if ns := time.Now().Nanosecond(); ns > 900e6 {
				time.Sleep(time.Duration(1e9-ns) + 20*time.Millisecond) // write again, early in a second
			}
			renamed = time.Now().Unix()
		}})
		fi, err := os.Stat(filepath.Join(ws, "big.bin"))
		must(t, err)
		if fi.ModTime().Unix() != renamed {
			if try == 5 {
				t.Fatal("no write and rename in one second after 5 tries: the machine is too slow for this test")
			}
			continue
		}
		if st, _ := captured(t, s, ws); st.Hashed != 1 {
			t.Errorf("%+v: want big.bin read again", st)
		}
		return
	}
}

// TestRestore_CancelledRecordsNothing: a restore stopped after it
// renamed a file into place (and before its head moved) leaves no record
// of it: the next capture reads it.
func TestRestore_CancelledRecordsNothing(t *testing.T) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := openStore(t)
	ws := t.TempDir()
	data := make([]byte, minRecordedWrite+1)
	build(t, ws, node{path: "big.bin", content: string(data)})
	age(t, ws)
	old := snapshot(t, s, &Capture{Root: ws, Store: s})
	data[0] = 1
	must(t, os.WriteFile(filepath.Join(ws, "big.bin"), data, 0o644))
	age(t, ws)
	snapshot(t, s, &Capture{Root: ws, Store: s}, old)
	_, err := Restore(cctx, s, old, ws, RestoreOptions{beforeRename: func(path string) {
		toNextSecond(path)
		cancel()
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("restore: %v, want it cancelled", err)
	}
	mustContain(t, filepath.Join(ws, "big.bin"), make([]byte, minRecordedWrite+1))
	if st, _ := captured(t, s, ws); st.Hashed != 1 {
		t.Errorf("%+v: want big.bin read again", st)
	}
}

// TestRestore_LargeFileIsRecordedWithoutHelp: a file of minSettledWrite
// bytes or more is recorded however fast it was written and synced: the
// restore waits, if it must, for the second after its mtime before the
// rename.
func TestRestore_LargeFileIsRecordedWithoutHelp(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads a quarter of a GiB several times")
	}
	s := openStore(t)
	ws := t.TempDir()
	data := make([]byte, minSettledWrite)
	rand.NewChaCha8([32]byte{5}).Read(data)
	path := filepath.Join(ws, "big.bin")
	must(t, os.WriteFile(path, data, 0o644))
	age(t, ws)
	old := snapshot(t, s, &Capture{Root: ws, Store: s})
	data[len(data)/3] ^= 1
	must(t, os.WriteFile(path, data, 0o644))
	age(t, ws)
	snapshot(t, s, &Capture{Root: ws, Store: s}, old)
	_, err := Restore(ctx, s, old, ws, RestoreOptions{})
	must(t, err)
	data[len(data)/3] ^= 1
	st, got := captured(t, s, ws)
	if want := manifest.Digest(sha256.Sum256(data)); got != want {
		t.Fatalf("big.bin captured as %s, its bytes are %s", got.Short(), want.Short())
	}
	if st.Hashed != 0 {
		t.Errorf("%+v: want big.bin from the stat cache", st)
	}
}

// TestRestore_UnchangedBackupRecordsWithTheHead: a backup that is the
// head writes nothing of its own; the records of the files its capture
// read again (touched, the same bytes) go with the restore's commit, which
// moves the head (a restore of some paths leaves it), so that the next
// capture reads only what the restore wrote.
func TestRestore_UnchangedBackupRecordsWithTheHead(t *testing.T) {
	for _, tc := range []struct {
		name  string
		paths []string
	}{
		{"whole tree", nil},
		{"some paths", []string{"change.txt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			ws := t.TempDir()
			root, err := resolveRoot(ws)
			must(t, err)
			head := &pf.HeadRef{Dir: root}
			checkpoint := func(parents ...manifest.Digest) manifest.Digest {
				t.Helper()
				id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, Parents: parents, World: &Capture{Root: ws, Store: s}, Head: head})
				must(t, err)
				return id
			}
			build(t, ws, node{path: "keep.txt", content: "kept"}, node{path: "change.txt", content: "old"})
			age(t, ws)
			old := checkpoint()
			must(t, os.WriteFile(filepath.Join(ws, "change.txt"), []byte("new"), 0o644))
			age(t, ws)
			latest := checkpoint(old)
			past := time.Now().Add(-2 * time.Hour)
			must(t, os.Chtimes(filepath.Join(ws, "keep.txt"), past, past))

			res, err := Restore(ctx, s, old, ws, RestoreOptions{Paths: tc.paths})
			must(t, err)
			if res.BackupIsNew || res.Backup != latest {
				t.Errorf("backup %s (new: %v), want the head %s", res.Backup.Short(), res.BackupIsNew, latest.Short())
			}
			want := old
			if tc.paths != nil {
				want = latest
			}
			if h, ok, err := s.Head(ctx, root, ""); err != nil || !ok || h.ID != want {
				t.Errorf("head %s (%v, %v), want %s", h.ID.Short(), ok, err, want.Short())
			}
			mustContain(t, filepath.Join(ws, "change.txt"), []byte("old"))
			c := &Capture{Root: ws, Store: s}
			snapshot(t, s, c)
			if st := c.Stats(); st.Hashed != 1 || st.CacheHits != 1 {
				t.Errorf("%+v: want change.txt read, keep.txt from the stat cache", st)
			}
		})
	}
}
