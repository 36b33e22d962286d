package migrations_test

import (
	"bytes"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/processfork/pf/internal/migrations"
	bolt "go.etcd.io/bbolt"
)

// storeAt builds a store file at schema version v by applying the first v
// steps, as a pf of that version would have.
func storeAt(t *testing.T, v int) *bolt.DB {
	t.Helper()
	bdb, err := bolt.Open(filepath.Join(t.TempDir(), "store.pf"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bdb.Close() })
	err = bdb.Update(func(tx *bolt.Tx) error {
		for _, s := range migrations.Steps[:v] {
			if err := s.Apply(tx); err != nil {
				return err
			}
		}
		if v == 0 {
			return nil
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte{0, 0, 0, 0, 0, 0, 0, byte(v)})
	})
	if err != nil {
		t.Fatal(err)
	}
	return bdb
}

func TestSteps_Ordered(t *testing.T) {
	for i, s := range migrations.Steps {
		if s.Version != i+1 {
			t.Fatalf("step %d has version %d", i, s.Version)
		}
	}
}

func TestStep1_InitialLayout(t *testing.T) {
	bdb := storeAt(t, 0)
	err := bdb.Update(func(tx *bolt.Tx) error {
		if v, err := migrations.Version(tx); err != nil || v != 0 {
			t.Fatalf("empty file: version %d, %v", v, err)
		}
		return migrations.Steps[0].Apply(tx)
	})
	if err != nil {
		t.Fatal(err)
	}
	bdb.View(func(tx *bolt.Tx) error {
		for _, name := range []string{"meta", "stats", "blobs", "chunks", "provisional", "manifests", "index"} {
			if tx.Bucket([]byte(name)) == nil {
				t.Errorf("bucket %s missing", name)
			}
		}
		for _, name := range []string{"time", "parent"} {
			if tx.Bucket([]byte("index")).Bucket([]byte(name)) == nil {
				t.Errorf("bucket index/%s missing", name)
			}
		}
		if got := string(tx.Bucket([]byte("meta")).Get([]byte("format"))); got != "processfork.store" {
			t.Errorf("format marker %q", got)
		}
		return nil
	})
}

func TestStep2_Tags(t *testing.T) {
	bdb := storeAt(t, 1)
	// Data of a version-1 store survives the step.
	bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("blobs")).Put([]byte("k"), []byte("v")) })
	err := bdb.Update(func(tx *bolt.Tx) error {
		from, to, err := migrations.Upgrade(tx)
		if from != 1 || to != migrations.Latest() {
			t.Errorf("upgrade %d -> %d", from, to)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	bdb.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("tags")) == nil {
			t.Error("tags bucket missing")
		}
		if string(tx.Bucket([]byte("blobs")).Get([]byte("k"))) != "v" {
			t.Error("blob lost in upgrade")
		}
		if v, _ := migrations.Version(tx); v != migrations.Latest() {
			t.Errorf("version %d after upgrade", v)
		}
		return nil
	})
}

func TestStep3_StatCache(t *testing.T) {
	bdb := storeAt(t, 2)
	// Data of a version-2 store survives the step.
	bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("tags")).Put([]byte("main"), []byte("id")) })
	err := bdb.Update(func(tx *bolt.Tx) error {
		from, to, err := migrations.Upgrade(tx)
		if from != 2 || to != migrations.Latest() {
			t.Errorf("upgrade %d -> %d", from, to)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	bdb.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("statcache")) == nil {
			t.Error("statcache bucket missing")
		}
		if string(tx.Bucket([]byte("tags")).Get([]byte("main"))) != "id" {
			t.Error("tag lost in upgrade")
		}
		if v, _ := migrations.Version(tx); v != migrations.Latest() {
			t.Errorf("version %d after upgrade", v)
		}
		return nil
	})
}

func TestStep4_Packs(t *testing.T) {
	bdb := storeAt(t, 3)
	// A value of a version-3 store, in a bucket of its own, survives.
	bdb.Update(func(tx *bolt.Tx) error {
		vb, err := tx.Bucket([]byte("blobs")).CreateBucket([]byte("digest"))
		if err != nil {
			return err
		}
		return vb.Put([]byte{0}, []byte("value"))
	})
	err := bdb.Update(func(tx *bolt.Tx) error {
		from, to, err := migrations.Upgrade(tx)
		if from != 3 || to != migrations.Latest() {
			t.Errorf("upgrade %d -> %d", from, to)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	bdb.View(func(tx *bolt.Tx) error {
		for _, name := range []string{"packs", "packlive"} {
			if tx.Bucket([]byte(name)) == nil {
				t.Errorf("%s bucket missing", name)
			}
		}
		if string(tx.Bucket([]byte("blobs")).Bucket([]byte("digest")).Get([]byte{0})) != "value" {
			t.Error("value lost in upgrade")
		}
		if v, _ := migrations.Version(tx); v != migrations.Latest() {
			t.Errorf("version %d after upgrade", v)
		}
		return nil
	})
}

func TestStep5_EarlyPacks(t *testing.T) {
	bdb := storeAt(t, 4)
	// A pack that a schema-4 pf wrote early, with its reference, its
	// packlive entry and its mark: the step leaves it for the reclaim.
	entries := map[string]map[string]string{
		"blobs":       {"digest": "\x03\x01\x00\x05"},
		"packlive":    {"\x00\x00\x00\x00\x00\x00\x00\x01": "\x01\x05\x05"},
		"provisional": {"p\x00\x00\x00\x00\x00\x00\x00\x01": ""},
	}
	err := bdb.Update(func(tx *bolt.Tx) error {
		for bucket, kv := range entries {
			for k, v := range kv {
				if err := tx.Bucket([]byte(bucket)).Put([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		from, to, err := migrations.Upgrade(tx)
		if from != 4 || to != migrations.Latest() {
			t.Errorf("upgrade %d -> %d", from, to)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	bdb.View(func(tx *bolt.Tx) error {
		for bucket, kv := range entries {
			for k, v := range kv {
				// Get gives nil for a missing key, which would read as the
				// mark's empty value.
				if got := tx.Bucket([]byte(bucket)).Get([]byte(k)); got == nil || string(got) != v {
					t.Errorf("%s/%q = %q after the upgrade (missing: %v), was %q", bucket, k, got, got == nil, v)
				}
			}
		}
		if v, _ := migrations.Version(tx); v != migrations.Latest() {
			t.Errorf("version %d after upgrade", v)
		}
		return nil
	})
}

func TestStep8_ManifestDict(t *testing.T) {
	bdb := storeAt(t, 7)
	// A manifest written before the step, compressed without the
	// dictionary, is left as it was: it reads as before.
	before := map[string]string{"\x01id": "\x01\x05(\xb5/\xfd"}
	bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("manifests")).Put([]byte("\x01id"), []byte(before["\x01id"]))
	})
	err := bdb.Update(func(tx *bolt.Tx) error {
		from, to, err := migrations.Upgrade(tx)
		if from != 7 || to != migrations.Latest() {
			t.Errorf("upgrade %d -> %d", from, to)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	bdb.View(func(tx *bolt.Tx) error {
		for k, v := range before {
			if got := tx.Bucket([]byte("manifests")).Get([]byte(k)); string(got) != v {
				t.Errorf("manifests/%q = %q after the upgrade, was %q", k, got, v)
			}
		}
		if v, _ := migrations.Version(tx); v != migrations.Latest() {
			t.Errorf("version %d after upgrade", v)
		}
		return nil
	})
}

func TestUpgrade_RefusesNewer(t *testing.T) {
	bdb := storeAt(t, migrations.Latest())
	bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte{0, 0, 0, 0, 0, 0, 0, byte(migrations.Latest() + 1)})
	})
	bdb.Update(func(tx *bolt.Tx) error {
		if _, _, err := migrations.Upgrade(tx); err == nil {
			t.Error("upgrade of a newer store succeeded")
		}
		return nil
	})
}

func TestStep6_Heads(t *testing.T) {
	bdb := storeAt(t, 5)
	// A tag of a version-5 store survives the step.
	bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("tags")).Put([]byte("main"), []byte("id")) })
	err := bdb.Update(func(tx *bolt.Tx) error {
		from, to, err := migrations.Upgrade(tx)
		if from != 5 || to != migrations.Latest() {
			t.Errorf("upgrade %d -> %d", from, to)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	bdb.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("heads")) == nil {
			t.Error("heads bucket missing")
		}
		if string(tx.Bucket([]byte("tags")).Get([]byte("main"))) != "id" {
			t.Error("tag lost in upgrade")
		}
		if v, _ := migrations.Version(tx); v != migrations.Latest() {
			t.Errorf("version %d after upgrade", v)
		}
		return nil
	})
}

func TestStep7_Shallow(t *testing.T) {
	bdb := storeAt(t, 6)
	bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("manifests")).Put([]byte("id"), []byte("m")) })
	err := bdb.Update(func(tx *bolt.Tx) error {
		from, to, err := migrations.Upgrade(tx)
		if from != 6 || to != migrations.Latest() {
			t.Errorf("upgrade %d -> %d", from, to)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	bdb.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("shallow")); b == nil || b.Stats().KeyN != 0 {
			t.Error("shallow bucket missing or not empty")
		}
		if string(tx.Bucket([]byte("manifests")).Get([]byte("id"))) != "m" {
			t.Error("image lost in upgrade")
		}
		return nil
	})
}

func TestStep9_Pins(t *testing.T) {
	bdb := storeAt(t, 8)
	// A blob of a version-8 store survives the step, unpinned.
	bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("blobs")).Put([]byte("k"), []byte("v")) })
	err := bdb.Update(func(tx *bolt.Tx) error {
		from, to, err := migrations.Upgrade(tx)
		if from != 8 || to != migrations.Latest() {
			t.Errorf("upgrade %d -> %d", from, to)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	bdb.View(func(tx *bolt.Tx) error {
		pins := tx.Bucket([]byte("pins"))
		if pins == nil {
			t.Fatal("pins bucket missing")
		}
		if k, _ := pins.Cursor().First(); k != nil {
			t.Errorf("a pin %x appeared in the upgrade", k)
		}
		if string(tx.Bucket([]byte("blobs")).Get([]byte("k"))) != "v" {
			t.Error("blob lost in upgrade")
		}
		if v, _ := migrations.Version(tx); v != migrations.Latest() {
			t.Errorf("version %d after upgrade", v)
		}
		return nil
	})
}

func TestStep10_SealedStatCaches(t *testing.T) {
	bdb := storeAt(t, 9)
	bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("statcache")).Put([]byte("0123456789abcdefpath"), []byte("entry"))
	})
	err := bdb.Update(func(tx *bolt.Tx) error {
		from, to, err := migrations.Upgrade(tx)
		if from != 9 || to != migrations.Latest() {
			t.Errorf("upgrade %d -> %d", from, to)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	bdb.View(func(tx *bolt.Tx) error {
		// Nothing is sealed, and the deleted counter starts at zero
		// (absent). Since step 13 the record is in its root's bucket,
		// since step 14 in the group of the root's own files.
		c := tx.Bucket([]byte("statcache")).Bucket([]byte("0123456789abcdef")).Cursor()
		if k, _ := c.First(); string(k) != "/" {
			t.Errorf("statcache's first key %q after upgrade", k)
		}
		if k, _ := c.Next(); k != nil {
			t.Errorf("upgrade added %q to statcache", k)
		}
		if v := tx.Bucket([]byte("stats")).Get([]byte("deleted")); v != nil {
			t.Errorf("deleted counter %x after upgrade", v)
		}
		if v, _ := migrations.Version(tx); v != migrations.Latest() {
			t.Errorf("version %d after upgrade", v)
		}
		return nil
	})
}

func TestStep12_Dicts(t *testing.T) {
	bdb := storeAt(t, 11)
	// A value of a version-11 store survives the step; the dictionaries'
	// bucket is new and empty (only pf compact trains one).
	bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("blobs")).Put([]byte("k"), []byte("v")) })
	err := bdb.Update(func(tx *bolt.Tx) error {
		from, to, err := migrations.Upgrade(tx)
		if from != 11 || to != migrations.Latest() {
			t.Errorf("upgrade %d -> %d", from, to)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	bdb.View(func(tx *bolt.Tx) error {
		dicts := tx.Bucket([]byte("dicts"))
		if dicts == nil {
			t.Fatal("dicts bucket missing")
		}
		if k, _ := dicts.Cursor().First(); k != nil {
			t.Errorf("a dictionary %x appeared in the upgrade", k)
		}
		if string(tx.Bucket([]byte("blobs")).Get([]byte("k"))) != "v" {
			t.Error("blob lost in upgrade")
		}
		if v, _ := migrations.Version(tx); v != migrations.Latest() {
			t.Errorf("version %d after upgrade", v)
		}
		return nil
	})
}

func TestReadableAt(t *testing.T) {
	latest := migrations.Latest()
	for _, tc := range []struct {
		v    int
		want bool
	}{
		{0, false},
		{1, false},
		{10, false}, // step 11 rewrites index/time's values
		{11, true},  // step 12 only adds dicts/, which a reader takes as empty
		{12, true},  // step 13 moves statcache/'s records: a reader finds none
		{latest, true},
		{latest + 1, false}, // newer than this pf
	} {
		if got := migrations.ReadableAt(tc.v); got != tc.want {
			t.Errorf("ReadableAt(%d) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestStep13_StatCacheBuckets(t *testing.T) {
	rootA := bytes.Repeat([]byte{0xaa}, 16)
	rootB := bytes.Repeat([]byte{0xbb}, 16)
	key := func(root []byte, path string) []byte { return append(bytes.Clone(root), path...) }
	// A version-12 statcache/: root A sealed with two records, root B
	// with one record and no seal.
	before := map[string]string{
		string(rootA):                  "seal of A",
		string(key(rootA, "a.go")):     "record a",
		string(key(rootA, "dir/b.go")): "record b",
		string(key(rootB, "c.txt")):    "record c",
	}
	bdb := storeAt(t, 12)
	bdb.Update(func(tx *bolt.Tx) error {
		cache := tx.Bucket([]byte("statcache"))
		for k, v := range before {
			if err := cache.Put([]byte(k), []byte(v)); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
	err := bdb.Update(func(tx *bolt.Tx) error {
		// The step itself: later steps change statcache/ again.
		return migrations.Steps[12].Apply(tx)
	})
	if err != nil {
		t.Fatal(err)
	}
	bdb.View(func(tx *bolt.Tx) error {
		cache := tx.Bucket([]byte("statcache"))
		if cache == nil {
			t.Fatal("statcache bucket missing")
		}
		got := map[string]map[string]string{}
		cache.ForEach(func(root, v []byte) error {
			if v != nil {
				t.Errorf("key %x left outside a directory's bucket", root)
				return nil
			}
			got[string(root)] = map[string]string{}
			return cache.Bucket(root).ForEach(func(k, v []byte) error {
				got[string(root)][string(k)] = string(v)
				return nil
			})
		})
		want := map[string]map[string]string{
			string(rootA): {"\x00": "seal of A", "a.go": "record a", "dir/b.go": "record b"},
			string(rootB): {"c.txt": "record c"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("statcache after the step:\n got %q\nwant %q", got, want)
		}
		if tx.Bucket([]byte("statcache.step13")) != nil {
			t.Error("the step's scratch bucket is left")
		}
		return nil
	})
}

func TestStep14_StatCacheGroups(t *testing.T) {
	rootA := bytes.Repeat([]byte{0xaa}, 16)
	rootB := bytes.Repeat([]byte{0xbb}, 16)
	// A version-13 statcache/: root A sealed, with records in its own
	// directory and two subdirectories; root B with one record, no seal.
	before := map[string]map[string]string{
		string(rootA): {"\x00": "seal of A", "a.go": "record a", "b.go": "record b", "dir/c.go": "record c", "dir/sub/d.go": "record d", "dir/sub/e.go": "record e"},
		string(rootB): {"c.txt": "record c"},
	}
	bdb := storeAt(t, 13)
	bdb.Update(func(tx *bolt.Tx) error {
		cache := tx.Bucket([]byte("statcache"))
		for root, records := range before {
			dir, err := cache.CreateBucket([]byte(root))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range records {
				if err := dir.Put([]byte(k), []byte(v)); err != nil {
					t.Fatal(err)
				}
			}
		}
		return nil
	})
	err := bdb.Update(func(tx *bolt.Tx) error {
		from, to, err := migrations.Upgrade(tx)
		if from != 13 || to != migrations.Latest() {
			t.Errorf("upgrade %d -> %d", from, to)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	group := func(records ...string) string {
		g := []byte{1}
		for _, r := range records {
			g = append(g, byte(len(r)))
			g = append(g, r...)
		}
		return string(g)
	}
	want := map[string]map[string]string{
		string(rootA): {
			"\x00":      "seal of A",
			"/":         group("a.go", "record a", "b.go", "record b"),
			"/dir/":     group("c.go", "record c"),
			"/dir/sub/": group("d.go", "record d", "e.go", "record e"),
		},
		string(rootB): {"/": group("c.txt", "record c")},
	}
	bdb.View(func(tx *bolt.Tx) error {
		got := map[string]map[string]string{}
		cache := tx.Bucket([]byte("statcache"))
		cache.ForEachBucket(func(root []byte) error {
			got[string(root)] = map[string]string{}
			return cache.Bucket(root).ForEach(func(k, v []byte) error {
				got[string(root)][string(k)] = string(v)
				return nil
			})
		})
		if !reflect.DeepEqual(got, want) {
			t.Errorf("statcache after the step:\n got %q\nwant %q", got, want)
		}
		if v, _ := migrations.Version(tx); v != migrations.Latest() {
			t.Errorf("version %d after upgrade", v)
		}
		return nil
	})
}
