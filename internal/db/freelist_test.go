package db_test

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/processfork/pf/internal/db"
	bolt "go.etcd.io/bbolt"
)

// hasSyncedFreelist reads the newer of the file's two bbolt meta pages
// and says whether it names a freelist page. Without one, bbolt rebuilds
// the list at every open for writing by visiting each page in use, which
// costs a large store half a second and its size in memory each time.
func hasSyncedFreelist(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The meta page after its 16-byte page header: magic, version, page
	// size, flags (4 bytes each), the root bucket (16), then the freelist
	// page id, the high-water page id and the transaction id (8 each).
	const header = 16
	pageSize := int(binary.LittleEndian.Uint32(b[header+8:]))
	var freelist, txid uint64
	for _, off := range []int{0, pageSize} {
		meta := b[off+header:]
		if id := binary.LittleEndian.Uint64(meta[48:]); id >= txid {
			txid, freelist = id, binary.LittleEndian.Uint64(meta[32:])
		}
	}
	return freelist != ^uint64(0)
}

func TestDB_Update_SyncsFreelist(t *testing.T) {
	path, d := newStore(t)
	err := d.Update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(db.BucketTags).Put([]byte("t"), make([]byte, 64<<10))
	})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if !hasSyncedFreelist(t, path) {
		t.Fatal("the store's meta page names no freelist")
	}
}

// A store written with bbolt's NoFreelistSync, as pf wrote them before,
// gains the freelist at its first open for writing.
func TestDB_Open_SyncsFreelistOfOlderStore(t *testing.T) {
	path, d := newStore(t)
	d.Close()
	old, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		t.Fatal(err)
	}
	err = old.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(db.BucketTags).Put([]byte("t"), make([]byte, 64<<10))
	})
	old.Close()
	if err != nil {
		t.Fatal(err)
	}
	if hasSyncedFreelist(t, path) {
		t.Fatal("bbolt wrote a freelist with NoFreelistSync: the test proves nothing")
	}
	d, err = db.Open(path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if !hasSyncedFreelist(t, path) {
		t.Fatal("the first open for writing left the store without a freelist")
	}
}

func TestDB_Compact_SyncsFreelist(t *testing.T) {
	path, d := newStore(t)
	d.Close()
	if _, _, err := db.Compact(ctx, path, db.Options{}); err != nil {
		t.Fatal(err)
	}
	if !hasSyncedFreelist(t, path) {
		t.Fatal("the compacted store names no freelist")
	}
}
