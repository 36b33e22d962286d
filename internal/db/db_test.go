package db_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/migrations"
	bolt "go.etcd.io/bbolt"
)

var ctx = context.Background()

func newStore(t *testing.T) (string, *db.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.pf")
	d, err := db.Open(path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return path, d
}

func TestDB_Open_CreatesLatestSchema(t *testing.T) {
	_, d := newStore(t)
	err := d.View(func(tx *bolt.Tx) error {
		v, err := migrations.Version(tx)
		if err != nil || v != migrations.Latest() {
			return fmt.Errorf("version %d, %v", v, err)
		}
		for _, name := range [][]byte{db.BucketMeta, db.BucketStats, db.BucketBlobs, db.BucketChunks,
			db.BucketProvisional, db.BucketManifests, db.BucketTags} {
			if _, err := db.Bucket(tx, name); err != nil {
				return err
			}
		}
		_, err = db.Bucket(tx, db.BucketIndex, db.BucketTime)
		if err == nil {
			_, err = db.Bucket(tx, db.BucketIndex, db.BucketParent)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A second open of a store this process holds fails at once, saying so:
// no wait would end (issue 14 item 10). Another process's hold is waited
// for (cmd/pf's TestTwoProcesses).
func TestDB_Open_TwiceInOneProcess(t *testing.T) {
	path, _ := newStore(t)
	for _, ro := range []bool{false, true} {
		start := time.Now()
		_, err := db.Open(path, db.Options{Timeout: 5 * time.Second, ReadOnly: ro})
		if !errors.Is(err, db.ErrBusy) {
			t.Fatalf("second open (read-only %v): %v, want ErrBusy", ro, err)
		}
		if waited := time.Since(start); waited > time.Second {
			t.Fatalf("second open (read-only %v) waited %v for this very process", ro, waited)
		}
		if runtime.GOOS == "linux" && !strings.Contains(err.Error(), "this process has it open already") {
			t.Errorf("error %q does not say this process holds the store", err)
		}
	}
}

func TestDB_Open_ReadOnly(t *testing.T) {
	path, d := newStore(t)
	if err := d.Update(ctx, func(tx *bolt.Tx) error { return tx.Bucket(db.BucketTags).Put([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	d.Close()
	r1, err := db.Open(path, db.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := db.Open(path, db.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("two readers: %v", err)
	}
	defer r2.Close()
	if err := r1.Update(ctx, func(*bolt.Tx) error { return nil }); !errors.Is(err, db.ErrReadOnly) {
		t.Fatalf("update on a read-only store: %v", err)
	}
	r1.View(func(tx *bolt.Tx) error {
		if string(tx.Bucket(db.BucketTags).Get([]byte("k"))) != "v" {
			t.Error("read-only open does not see committed data")
		}
		return nil
	})
}

func TestDB_Open_ReadOnlyMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.pf")
	if _, err := db.Open(path, db.Options{ReadOnly: true}); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("read-only open of a missing file: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("read-only open created the file")
	}
}

// Files that are not stores are refused with the sentinel named, and left
// byte for byte as they were.
func TestDB_Open_RefusesAndLeavesUntouched(t *testing.T) {
	storePath, d := newStore(t)
	// Enough data that half the file is missing pages, not only slack.
	if err := d.Update(ctx, func(tx *bolt.Tx) error {
		for i := 0; i < 64; i++ {
			if err := tx.Bucket(db.BucketTags).Put([]byte(fmt.Sprint(i)), make([]byte, 16<<10)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var used int64
	d.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil })
	d.Close()
	good, err := os.ReadFile(storePath)
	if err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(t.TempDir(), "foreign.db")
	fdb, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	fdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other-app")); return err })
	fdb.Close()
	foreignBytes, _ := os.ReadFile(foreign)

	newer := bytes.Clone(good)
	tests := []struct {
		name    string
		content []byte
		want    error
	}{
		{"text file", []byte("hello, this is not a store\n"), db.ErrNotStore},
		{"empty file", []byte{}, db.ErrNotStore},
		{"random bytes", bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4096), db.ErrNotStore},
		{"other bbolt file", foreignBytes, db.ErrNotStore},
		{"truncated store", good[:used/2], db.ErrCorrupt},
		{"random 5000 bytes", randomBytes(5000), db.ErrNotStore},
		{"random 64 KiB", randomBytes(64 << 10), db.ErrNotStore},
		{"three bytes", []byte("pf\n"), db.ErrNotStore},
		{"store cut to 4096 bytes", good[:4096], db.ErrCorrupt},
		{"store cut to 5000 bytes", good[:5000], db.ErrCorrupt},
		{"store cut to 100 bytes", good[:100], db.ErrCorrupt},
		{"newer schema", withSchema(t, newer, migrations.Latest()+1), db.ErrSchemaTooNew},
	}
	for _, tt := range tests {
		for _, ro := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/readonly=%v", tt.name, ro), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "file")
				if err := os.WriteFile(path, tt.content, 0o600); err != nil {
					t.Fatal(err)
				}
				_, err := db.Open(path, db.Options{ReadOnly: ro})
				if !errors.Is(err, tt.want) {
					t.Fatalf("open: %v, want %v", err, tt.want)
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name the file", err)
				}
				after, _ := os.ReadFile(path)
				if !bytes.Equal(after, tt.content) {
					t.Fatal("a refused file was changed")
				}
			})
		}
	}
}

// randomBytes is n bytes of a fixed pseudo-random stream.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(int64(n))).Read(b)
	return b
}

// withSchema returns a copy of a store file whose schema version is v.
func withSchema(t *testing.T, file []byte, v int) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "copy.pf")
	os.WriteFile(path, file, 0o600)
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		var buf [8]byte
		buf[7] = byte(v)
		return tx.Bucket(db.BucketMeta).Put(db.KeySchemaVersion, buf[:])
	})
	bdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(path)
	return out
}

func TestDB_Update_FailureIsolated(t *testing.T) {
	_, d := newStore(t)
	put := func(k string) func(*bolt.Tx) error {
		return func(tx *bolt.Tx) error { return tx.Bucket(db.BucketTags).Put([]byte(k), []byte("v")) }
	}
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch i % 4 {
			case 0:
				errs[i] = d.Update(ctx, func(tx *bolt.Tx) error { put(fmt.Sprint("bad", i))(tx); return boom })
			case 1:
				errs[i] = d.Update(ctx, func(*bolt.Tx) error { panic("capture exploded") })
			default:
				errs[i] = d.Update(ctx, put(fmt.Sprint("good", i)))
			}
		}()
	}
	wg.Wait()
	d.View(func(tx *bolt.Tx) error {
		for i, err := range errs {
			switch i % 4 {
			case 0:
				if !errors.Is(err, boom) || tx.Bucket(db.BucketTags).Get([]byte(fmt.Sprint("bad", i))) != nil {
					t.Errorf("failing update %d: %v, or its write was kept", i, err)
				}
			case 1:
				if err == nil || !strings.Contains(err.Error(), "capture exploded") {
					t.Errorf("panicking update %d: %v", i, err)
				}
			default:
				if err != nil || tx.Bucket(db.BucketTags).Get([]byte(fmt.Sprint("good", i))) == nil {
					t.Errorf("good update %d: %v, or its write was lost", i, err)
				}
			}
		}
		return nil
	})
}

func TestDB_Update_Cancelled(t *testing.T) {
	_, d := newStore(t)
	c, cancel := context.WithCancel(ctx)
	cancel()
	ran := false
	if err := d.Update(c, func(*bolt.Tx) error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("cancelled update: %v, ran %v", err, ran)
	}
}

func TestDB_Update_AfterClose(t *testing.T) {
	_, d := newStore(t)
	d.Close()
	if err := d.Update(ctx, func(*bolt.Tx) error { return nil }); !errors.Is(err, db.ErrClosed) {
		t.Fatalf("update after close: %v", err)
	}
}

func TestDB_View_AfterClose(t *testing.T) {
	_, d := newStore(t)
	d.Close()
	if err := d.View(func(*bolt.Tx) error { return nil }); !errors.Is(err, db.ErrClosed) {
		t.Fatalf("view after close: %v", err)
	}
}

func TestDB_Compact_Shrinks(t *testing.T) {
	path, d := newStore(t)
	big := make([]byte, 64<<10)
	err := d.Update(ctx, func(tx *bolt.Tx) error {
		for i := 0; i < 400; i++ {
			if err := tx.Bucket(db.BucketTags).Put([]byte(fmt.Sprint(i)), big); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Update(ctx, func(tx *bolt.Tx) error {
		for i := 1; i < 400; i++ {
			if err := tx.Bucket(db.BucketTags).Delete([]byte(fmt.Sprint(i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	before, after, err := db.Compact(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if after >= before/2 {
		t.Fatalf("compact: %d -> %d bytes", before, after)
	}
	d2, err := db.Open(path, db.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	d2.View(func(tx *bolt.Tx) error {
		if got := tx.Bucket(db.BucketTags).Get([]byte("0")); len(got) != len(big) {
			t.Error("the kept value did not survive compaction")
		}
		if tx.Bucket(db.BucketTags).Get([]byte("1")) != nil {
			t.Error("a deleted value came back")
		}
		return nil
	})
	if leftovers, _ := filepath.Glob(path + ".compact-*"); len(leftovers) != 0 {
		t.Fatalf("left behind %v", leftovers)
	}
}

func TestDB_Compact_RefusesWhileHeld(t *testing.T) {
	path, _ := newStore(t)
	before, _ := os.ReadFile(path)
	if _, _, err := db.Compact(context.Background(), path, db.Options{Timeout: 100 * time.Millisecond}); !errors.Is(err, db.ErrBusy) {
		t.Fatalf("compact of a held store: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("a refused compaction changed the store")
	}
}

// A new store appears whole: made under a temporary name beside it and
// linked into place, so that a process killed while creating it leaves no
// bbolt file without a schema at the path. What a killed create left is
// removed by the next one.
func TestDB_Open_CreatesWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "store.pf")
	stale := filepath.Join(dir, ".store.pf.creating-999999999") // no such process
	if err := os.WriteFile(stale, []byte("half made"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "store.pf" {
		t.Fatalf("left in the directory: %v", entries)
	}
	ro, err := db.Open(path, db.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open of the new store: %v", err)
	}
	ro.Close()
}

// A new store's file is created with room for a first commit of a few
// MiB (a cold snapshot), so that commit does not grow the file, which
// bbolt does with a truncate and an fsync of their own.
func TestDB_Open_CreatesRoomForFirstCommit(t *testing.T) {
	path, d := newStore(t)
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 4<<20)
	if err := d.Update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("first"))
		if err != nil {
			return err
		}
		return b.Put([]byte("value"), value)
	}); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() != before.Size() {
		t.Errorf("a first commit of 4 MiB grew the new store's file from %d to %d bytes", before.Size(), after.Size())
	}
}

// A read-only open of a store an older pf wrote works when every step it
// lacks is one a reader reads past (migrations.Step.ReadableBefore), and
// leaves the file as it was; otherwise it asks for a read-write open.
func TestDB_Open_ReadOnlyOfOlderSchema(t *testing.T) {
	for v := 1; v < migrations.Latest(); v++ {
		t.Run(fmt.Sprintf("schema %d", v), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "store.pf")
			bdb, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = bdb.Update(func(tx *bolt.Tx) error {
				for _, s := range migrations.Steps[:v] {
					if err := s.Apply(tx); err != nil {
						return err
					}
				}
				return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte{0, 0, 0, 0, 0, 0, 0, byte(v)})
			})
			if cerr := bdb.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			d, err := db.Open(path, db.Options{ReadOnly: true})
			if migrations.ReadableAt(v) {
				if err != nil {
					t.Fatalf("read-only open: %v", err)
				}
				d.Close()
			} else if err == nil || !strings.Contains(err.Error(), "open it read-write once") {
				if d != nil {
					d.Close()
				}
				t.Fatalf("read-only open of schema %d (not readable as it is): %v", v, err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("a read-only open changed the file")
			}
		})
	}
}
