package bench

import (
	"bytes"
	"context"
	"github.com/processfork/pf/internal/fixture"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/processfork/pf/manifest"
)

// The reference design's store, round trip: what docs/format.md says its
// directory holds, byte for byte.
func TestRefStore_RoundTrip(t *testing.T) {
	root := t.TempDir()
	s, err := openRefStore(root)
	if err != nil {
		t.Fatal(err)
	}
	blobs := [][]byte{nil, []byte("hello"), randomBytes(64 << 10), jsonlCorpus(32 << 10).data}
	for _, b := range blobs {
		d, err := s.Put(b)
		if err != nil {
			t.Fatal(err)
		}
		if d != manifest.Sum(b) {
			t.Fatalf("put returned %s, the bytes hash to %s", d, manifest.Sum(b))
		}
		// The layout: blobs/sha256/<2 hex>/<64 hex>.zst, one zstd frame.
		path := filepath.Join(root, "blobs", "sha256", d.Hex()[:2], d.Hex()+".zst")
		frame, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("blob %s is not at %s: %v", d, path, err)
		}
		dec, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := dec.DecodeAll(frame, nil)
		dec.Close()
		if err != nil || !bytes.Equal(plain, b) {
			t.Fatalf("blob %s: the file is not one zstd frame of the bytes (%v)", d, err)
		}
		got, err := s.Get(d)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("get %s: %d bytes, %v; want the %d put", d, len(got), err, len(b))
		}
		// A second put finds the file and writes nothing.
		info, _ := os.Stat(path)
		if _, err := s.Put(b); err != nil {
			t.Fatal(err)
		}
		if again, _ := os.Stat(path); !again.ModTime().Equal(info.ModTime()) {
			t.Errorf("blob %s was written again", d)
		}
	}
	// JSON compresses: the reference's strongest level is at work.
	d := manifest.Sum(blobs[3])
	frame, _ := os.ReadFile(s.blobPath(d))
	if len(frame)*2 > len(blobs[3]) {
		t.Errorf("32 KiB of JSON lines took %d bytes: not compressed", len(frame))
	}
	// No temporary file is left behind.
	filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if strings.Contains(e.Name(), ".tmp.") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
	if _, err := s.Get(manifest.Sum([]byte("never put"))); err == nil {
		t.Error("get of a blob never put succeeded")
	}
}

// The reference's get re-hashes what it decoded: a file that holds a
// valid zstd frame of other bytes is refused, as store.rs refuses it.
func TestRefStore_Get_RehashesOnRead(t *testing.T) {
	s, err := openRefStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := randomBytes(16 << 10)
	d, err := s.Put(b)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(b)
	flipped[len(flipped)/2] ^= 1
	frame := refEnc().EncodeAll(flipped, nil)
	if err := os.WriteFile(s.blobPath(d), frame, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(d); err == nil || !strings.Contains(err.Error(), "hashes to") {
		t.Fatalf("get of a blob whose file holds other bytes: %d bytes, %v; want a hash mismatch", len(got), err)
	}
}

func TestRefStore_ManifestsAndLog(t *testing.T) {
	root := t.TempDir()
	st, err := (refSystem{}).Open(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	f := fixture.New(fixture.Options{Seed: 1})
	t0 := time.Date(2026, 5, 5, 14, 11, 0, 0, time.UTC)
	var ids []manifest.Digest
	for i := range 5 {
		var parents []manifest.Digest
		if i > 0 {
			parents = ids[i-1:]
		}
		id, err := st.Snapshot(context.Background(), f, t0.Add(time.Duration(i)*time.Second), parents)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	s := st.(refPeer).s
	// Each image: a copy in images/ and a blob of the same bytes.
	for _, id := range ids {
		raw, err := os.ReadFile(filepath.Join(root, "images", id.Hex()+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if manifest.Sum(raw) != id {
			t.Fatalf("images/%s.json does not hash to its name", id.Hex())
		}
		blob, err := s.Get(id)
		if err != nil || !bytes.Equal(blob, raw) {
			t.Fatalf("the manifest blob of %s differs from its copy in images/ (%v)", id, err)
		}
	}
	// Every blob of the fixture is stored once.
	for _, b := range f.Blobs() {
		if _, err := os.Stat(s.blobPath(b.Digest)); err != nil {
			t.Errorf("blob %s is missing", b.Name)
		}
	}
	// Log: newest first, from since on, at most limit.
	got, err := s.Log(t0.Add(time.Second), 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []manifest.Digest{ids[4], ids[3], ids[2]}
	if len(got) != len(want) {
		t.Fatalf("log returned %d images, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].id != want[i] {
			t.Errorf("log entry %d is %s, want %s", i, got[i].id, want[i])
		}
	}
	// A stray file in images/ is skipped, as the reference skips it.
	os.WriteFile(filepath.Join(root, "images", "notes.txt"), []byte("x"), 0o644)
	all, err := s.Images()
	if err != nil || len(all) != len(ids) {
		t.Errorf("images: %d, %v; want %d", len(all), err, len(ids))
	}
}

// Every system stores the same image under the same id, returns what it
// was given, and answers history queries with the same images: the
// figures compare like with like.
func TestPeers_SameWork(t *testing.T) {
	ctx := context.Background()
	f := fixture.New(fixture.Options{Seed: 3})
	created := time.Date(2026, 5, 5, 14, 11, 0, 123000000, time.UTC)
	blobs, err := blobsOf(randomBytes(8<<14), 8, 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHistory(600, filepath.Join(t.TempDir(), "ids"))
	if err != nil {
		t.Fatal(err)
	}
	var wantID manifest.Digest
	for _, name := range []string{sysPF, sysReference, sysGit, sysGitLoose, sysSQLite} {
		t.Run(name, func(t *testing.T) {
			sys, err := systemNamed(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := sys.Check(); err != nil {
				t.Skip(err)
			}
			st, err := sys.Open(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			id, err := st.Snapshot(ctx, f, created, nil)
			switch {
			case isUnsupported(err):
			case err != nil:
				t.Fatal(err)
			case wantID.IsZero():
				wantID = id
			case id != wantID:
				t.Errorf("snapshot id %s, pf's is %s", id, wantID)
			}
			if s, ok := st.(stager); ok {
				if err := s.Stage(blobs); err != nil {
					t.Fatal(err)
				}
			}
			keys, err := st.Ingest(ctx, blobs)
			if err != nil {
				t.Fatal(err)
			}
			for i, k := range keys {
				b, err := st.Get(ctx, k)
				if err != nil || !bytes.Equal(b, blobs[i]) {
					t.Fatalf("blob %d: read %d bytes, %v", i, len(b), err)
				}
			}
			hs, ok := sys.(historian)
			if !ok {
				return
			}
			dir := t.TempDir()
			if err := hs.BuildHistory(ctx, dir, h); isUnsupported(err) {
				return
			} else if err != nil {
				t.Fatal(err)
			}
			query := func() {
				q, err := hs.OpenHistory(ctx, dir)
				if err != nil {
					t.Fatal(err)
				}
				defer q.Close()
				got, err := q.Newest(ctx, h.since(), historyLimit)
				if err != nil {
					t.Fatal(err)
				}
				if err := h.check(got, historyLimit); err != nil {
					t.Error(err)
				}
			}
			query()
			// The rows measure the store after the system's compaction:
			// it must answer the same.
			if c, ok := hs.(historyCompactor); ok {
				if err := c.CompactHistory(ctx, dir); err != nil {
					t.Fatal(err)
				}
				query()
			}
		})
	}
}
