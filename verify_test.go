package pf_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/cas/castest"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/index"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

func TestStore_Verify_Clean(t *testing.T) {
	s := openStore(t)
	root, _ := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: files(1, 10)})
	s.Snapshot(ctx, pf.Snapshot{Agent: agent, Parents: []manifest.Digest{root}, World: files(2, 10)})
	s.Blobs().Put(ctx, bytes.NewReader(castest.Payload(5, 3<<20))) // chunked
	s.Tag(ctx, "main", root)
	for _, deep := range []bool{false, true} {
		rep, err := s.Verify(ctx, pf.VerifyOptions{Deep: deep})
		if err != nil || len(rep.Problems) != 0 {
			t.Fatalf("deep=%v: %v, problems %v", deep, err, rep.Problems)
		}
		if rep.Images != 2 || rep.Chunks == 0 {
			t.Fatalf("report %+v", rep)
		}
	}
}

// Each kind of damage is found, and named.
func TestStore_Verify_FindsDamage(t *testing.T) {
	tests := []struct {
		name   string
		deep   bool
		damage func(t *testing.T, s *pf.Store, img *pf.Image) error
		want   string
	}{
		{"flipped byte in a blob", true, func(t *testing.T, s *pf.Store, img *pf.Image) error {
			corruptBlob(t, s, img.Manifest.Trace.Messages)
			return nil
		}, "blob " + manifest.Sum([]byte(damagedTrace)).String() + ": corrupt: content hashes to"},
		{"missing file blob", false, func(t *testing.T, s *pf.Store, img *pf.Image) error {
			raw, _ := s.Blobs().Get(ctx, img.Manifest.World.FS)
			tree, _ := manifest.DecodeTree(raw)
			return pf.StoreDB(s).Update(ctx, func(tx *bolt.Tx) error {
				return deleteBlob(tx, tree.Entries[3].Blob)
			})
		}, "named by world.fs"},
		{"missing time index entry", false, func(t *testing.T, s *pf.Store, img *pf.Image) error {
			return pf.StoreDB(s).Update(ctx, func(tx *bolt.Tx) error {
				return tx.Bucket(db.BucketIndex).Bucket(db.BucketTime).Delete(index.TimeKey(img.Manifest.CreatedAt, img.ID))
			})
		}, "no index/time entry"},
		{"stray time index entry", false, func(t *testing.T, s *pf.Store, img *pf.Image) error {
			return pf.StoreDB(s).Update(ctx, func(tx *bolt.Tx) error {
				return tx.Bucket(db.BucketIndex).Bucket(db.BucketTime).Put(index.TimeKey(img.Manifest.CreatedAt, manifest.Sum([]byte("x"))), nil)
			})
		}, "index/time"},
		{"summary differing from the manifest", false, func(t *testing.T, s *pf.Store, img *pf.Image) error {
			other := *img.Manifest
			other.Agent.Fingerprint = "another"
			return pf.StoreDB(s).Update(ctx, func(tx *bolt.Tx) error {
				return tx.Bucket(db.BucketIndex).Bucket(db.BucketTime).Put(index.TimeKey(img.Manifest.CreatedAt, img.ID), index.EncodeSummary(&other))
			})
		}, "differs from its manifest"},
		{"tag naming no image", false, func(t *testing.T, s *pf.Store, img *pf.Image) error {
			return pf.StoreDB(s).Update(ctx, func(tx *bolt.Tx) error {
				missing := manifest.Sum([]byte("gone"))
				return tx.Bucket(db.BucketTags).Put([]byte("dangling"), missing[:])
			})
		}, "tag dangling"},
		{"counter off", false, func(t *testing.T, s *pf.Store, img *pf.Image) error {
			return pf.StoreDB(s).Update(ctx, func(tx *bolt.Tx) error { return db.AddCounter(tx, db.CounterBlobs, 7) })
		}, "counter blobs"},
		{"pack count off", false, func(t *testing.T, s *pf.Store, img *pf.Image) error {
			return pf.StoreDB(s).Update(ctx, func(tx *bolt.Tx) error {
				live := tx.Bucket(db.BucketPackLive)
				k, v := live.Cursor().First()
				v = append([]byte{v[0] + 1}, v[1:]...) // one value more than refer to it
				return live.Put(bytes.Clone(k), v)
			})
		}, "refer to it"},
		{"pack missing", false, func(t *testing.T, s *pf.Store, img *pf.Image) error {
			return pf.StoreDB(s).Update(ctx, func(tx *bolt.Tx) error {
				packs := tx.Bucket(db.BucketPacks)
				k, _ := packs.Cursor().First()
				return packs.DeleteBucket(bytes.Clone(k))
			})
		}, "missing from packs/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: files(3, 10), Trace: trace{lines: []byte(damagedTrace)}})
			if err != nil {
				t.Fatal(err)
			}
			img, _ := s.Image(ctx, id)
			if err := tt.damage(t, s, img); err != nil {
				t.Fatal(err)
			}
			rep, err := s.Verify(ctx, pf.VerifyOptions{Deep: tt.deep})
			if err != nil {
				t.Fatal(err)
			}
			var all []string
			for _, p := range rep.Problems {
				all = append(all, p.String())
			}
			if len(all) == 0 || !strings.Contains(strings.Join(all, "\n"), tt.want) {
				t.Fatalf("problems %q, want one mentioning %q", all, tt.want)
			}
		})
	}
}

// TestStore_Verify_NamesWhatABadBlobBreaks: a bad blob is one problem,
// whatever reaches it, that says its subject once and names every image
// that reaches it and their tags.
func TestStore_Verify_NamesWhatABadBlobBreaks(t *testing.T) {
	for _, deep := range []bool{false, true} {
		t.Run(fmt.Sprintf("deep=%v", deep), func(t *testing.T) {
			s := openStore(t)
			shared := trace{lines: []byte(damagedTrace)}
			a, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: files(3, 2), Trace: shared})
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: files(4, 2), Trace: shared, Parents: []manifest.Digest{a}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Tag(ctx, "main", b); err != nil {
				t.Fatal(err)
			}
			bad := manifest.Sum([]byte(damagedTrace))
			if deep {
				corruptBlob(t, s, bad) // only re-hashing finds it
			} else if err := pf.StoreDB(s).Update(ctx, func(tx *bolt.Tx) error { return deleteBlob(tx, bad) }); err != nil {
				t.Fatal(err)
			}
			rep, err := s.Verify(ctx, pf.VerifyOptions{Deep: deep})
			if err != nil {
				t.Fatal(err)
			}
			// (Deleting a blob behind the store's back also leaves its
			// counters off: other problems.)
			var blobs []pf.Problem
			for _, p := range rep.Problems {
				if strings.HasPrefix(p.Subject, "blob ") {
					blobs = append(blobs, p)
				}
			}
			if len(blobs) != 1 {
				t.Fatalf("problems %v, want one of a blob", rep.Problems)
			}
			p := blobs[0]
			want := []manifest.Digest{a, b}
			slices.SortFunc(want, func(x, y manifest.Digest) int { return bytes.Compare(x[:], y[:]) })
			if p.Subject != "blob "+bad.String() || strings.Contains(p.Detail, bad.String()) {
				t.Errorf("subject %q, detail %q: want the blob named once, as the subject", p.Subject, p.Detail)
			}
			if !slices.Equal(p.Images, want) || p.Reaching != 2 || !slices.Equal(p.Tags, []string{"main"}) {
				t.Errorf("images %v (%d), tags %q; want %v and the tag main", p.Images, p.Reaching, p.Tags, want)
			}
			line := p.String()
			if strings.Count(line, bad.String()) != 1 || !strings.Contains(line, "breaks 2 images "+want[0].Short()+", "+want[1].Short()+" (tagged main)") {
				t.Errorf("line %q", line)
			}
		})
	}
}

// deleteBlob removes a blob behind the store's back, as damage would.
func deleteBlob(tx *bolt.Tx, d manifest.Digest) error {
	return castest.Remove(tx, db.BucketBlobs, d)
}

const damagedTrace = "trace of the damaged image, long enough to matter"
