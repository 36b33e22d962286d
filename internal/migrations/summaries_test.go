package migrations_test

import (
	"slices"
	"testing"
	"time"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/index"
	"github.com/processfork/pf/internal/migrations"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// Step 11 gives every image filed at schema 10 (an index/time key with an
// empty value) its summary, read from its manifest; an image whose
// manifest does not read keeps the empty value, and the store opens.
func TestStep11_TimeSummaries(t *testing.T) {
	bdb := storeAt(t, 10)
	created := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	root := manifest.New(manifest.Agent{Kind: "test", Version: "1", Fingerprint: "root"}, created)
	rootRaw, err := root.Encode()
	if err != nil {
		t.Fatal(err)
	}
	rootID := manifest.Sum(rootRaw)
	child := manifest.New(manifest.Agent{Kind: "test", Version: "2", Fingerprint: "child"}, created.Add(time.Second), rootID)
	childRaw, err := child.Encode()
	if err != nil {
		t.Fatal(err)
	}
	childID := manifest.Sum(childRaw)
	damagedID := manifest.Sum([]byte("damaged"))
	err = bdb.Update(func(tx *bolt.Tx) error {
		// As a pf of schema 10 filed them: the manifest, and its time
		// key with an empty value.
		manifests := tx.Bucket([]byte("manifests"))
		byTime := tx.Bucket([]byte("index")).Bucket([]byte("time"))
		for _, img := range []struct {
			id      manifest.Digest
			value   []byte
			created time.Time
		}{
			{rootID, cas.EncodeManifest(rootRaw), root.CreatedAt},
			{childID, cas.EncodeManifest(childRaw), child.CreatedAt},
			{damagedID, cas.EncodeManifest([]byte(`{"not":"an image"}`)), created},
		} {
			if err := manifests.Put(img.id[:], img.value); err != nil {
				return err
			}
			if err := byTime.Put(index.TimeKey(img.created, img.id), []byte{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		from, to, err := migrations.Upgrade(tx)
		if from != 10 || to != migrations.Latest() {
			t.Errorf("upgrade %d -> %d", from, to)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	bdb.View(func(tx *bolt.Tx) error {
		byTime := tx.Bucket([]byte("index")).Bucket([]byte("time"))
		for _, img := range []struct {
			id manifest.Digest
			m  *manifest.Manifest
		}{{rootID, root}, {childID, child}} {
			key := index.TimeKey(img.m.CreatedAt, img.id)
			s, ok, err := index.DecodeSummary(key, byTime.Get(key))
			if err != nil || !ok {
				t.Fatalf("image %s: summary %v, %v", img.id, ok, err)
			}
			if s.ID != img.id || !s.CreatedAt.Equal(img.m.CreatedAt) || s.Agent != img.m.Agent || !slices.Equal(s.Parents, img.m.Parents) {
				t.Errorf("image %s: summary %+v, manifest %+v", img.id, s, img.m)
			}
			if err := index.CheckSummary(tx, img.id, img.m); err != nil {
				t.Error(err)
			}
		}
		if v := byTime.Get(index.TimeKey(created, damagedID)); v == nil || len(v) != 0 {
			t.Errorf("the damaged image's time value is %q after the upgrade, want empty", v)
		}
		if v, _ := migrations.Version(tx); v != migrations.Latest() {
			t.Errorf("version %d after upgrade", v)
		}
		return nil
	})
}
