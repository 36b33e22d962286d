package pf

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc64"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// A FileCache is what the store remembers of the files a capture of one
// directory hashed, so that the next capture need not read them again:
// per path, the capture's own record of the file as it was hashed (its
// stat, say) and the digest of its bytes. Package worktree's stat cache
// keeps its entries here. It is a cache, never a reference: gc does not
// look at it, and Load says which entries still name a stored blob.
//
// A FileCache is one capture's handle: Load, then Save, once each.
type FileCache struct {
	s    *Store
	root []byte // the name of the directory's bucket in statcache/

	mu     sync.Mutex
	loaded *cacheLoad // what Load found, for Save
	tree   *CacheTree // what Save is to seal, from SetTree
	sealed []byte     // the seal Save's commit wrote, nil if none
}

// A FileCacheSeal names the records of a directory's FileCache exactly as
// one Save left them (see FileCache.Sealed).
type FileCacheSeal struct{ v string }

// A FileRecord is one file of a FileCache.
type FileRecord struct {
	// Path is the file's path relative to the directory, as the capture
	// names it.
	Path string
	// Stat is the capture's record of the file. The store keeps it as
	// given; in what Load passes, it is valid only during the call.
	Stat []byte
	// Blob is the digest of the file's bytes.
	Blob manifest.Digest
}

// FileCache returns the cache of the directory dir: an absolute path with
// symbolic links resolved, so that each directory has one cache.
func (s *Store) FileCache(dir string) *FileCache {
	// A fixed-length hash of the path names the directory's bucket,
	// whose keys are then the paths alone.
	sum := sha256.Sum256([]byte(dir))
	return &FileCache{s: s, root: sum[:16]}
}

// bucket returns the directory's bucket of records, nil if there is none
// yet.
func (c *FileCache) bucket(tx *bolt.Tx) (*bolt.Bucket, error) {
	cache, err := db.Bucket(tx, db.BucketStatCache)
	if err != nil {
		return nil, err
	}
	return cache.Bucket(c.root), nil
}

// sealKey is the key of a directory's seal in its bucket: no path is a
// NUL byte.
var sealKey = []byte{0}

// Each directory's cache has a seal under sealKey: the store's deletion count when every record was last known to
// name a stored blob, and the count and checksum of the records then. A
// Load that finds the seal matching (nothing deleted since, the same
// records) knows every record's blob is stored without looking one up;
// anything else, a record written by an older pf say, breaks the seal,
// and Load looks each up again. A seal of format 2 also holds the tree
// (CacheTree) that the capture which sealed it made of those records.
const (
	sealFormat     = 1
	sealTreeFormat = 2
	sealSize       = 1 + 3*8
	sealTreeSize   = sealSize + 2*len(manifest.Digest{})
)

type seal struct {
	deleted, count int64
	sum            uint64
}

func (s seal) encode(tree *CacheTree) []byte {
	b := make([]byte, 0, sealTreeSize)
	b = append(b, sealFormat)
	if tree != nil {
		b[0] = sealTreeFormat
	}
	b = binary.BigEndian.AppendUint64(b, uint64(s.deleted))
	b = binary.BigEndian.AppendUint64(b, uint64(s.count))
	b = binary.BigEndian.AppendUint64(b, s.sum)
	if tree != nil {
		b = append(b, tree.Blob[:]...)
		b = append(b, tree.Rest[:]...)
	}
	return b
}

// decodeSeal reads a seal, and the tree a seal of format 2 holds.
func decodeSeal(v []byte) (seal, *CacheTree, bool) {
	switch {
	case len(v) == sealSize && v[0] == sealFormat:
	case len(v) == sealTreeSize && v[0] == sealTreeFormat:
	default:
		return seal{}, nil, false
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(v[1+8*i:]) }
	s := seal{deleted: int64(u(0)), count: int64(u(1)), sum: u(2)}
	if v[0] != sealTreeFormat {
		return s, nil, true
	}
	var t CacheTree
	copy(t.Blob[:], v[sealSize:])
	copy(t.Rest[:], v[sealSize+len(t.Blob):])
	return s, &t, true
}

// A CacheTree is the layer blob (a file tree) that a capture made of
// exactly the files its FileCache records, and a digest of what else went
// into that blob that the records do not say (directories, symbolic
// links: the capture's own summary). A capture that finds every record
// unchanged, and the rest equal to Rest, knows its tree is Blob without
// encoding it again.
type CacheTree struct {
	Blob manifest.Digest
	Rest manifest.Digest
}

// crcTable is built on first use: every pf process links this package,
// few of them read the stat cache.
var crcTable = sync.OnceValue(func() *crc64.Table { return crc64.MakeTable(crc64.ECMA) })

// recordSum is a record's part of the seal's checksum, which adds them
// up, so that one record's change changes it by that record's part.
func recordSum(path string, value []byte) uint64 {
	h := crc64.Update(0, crcTable(), []byte(path))
	return crc64.Update(h^uint64(len(path)), crcTable(), value)
}

// cacheLoad is what Load found, for Save.
type cacheLoad struct {
	seal     []byte // the seal's value as found (nil: none)
	deleted  int64  // the store's deletion count then
	count    int64  // records, and their checksum
	sum      uint64
	stored   map[manifest.Digest]struct{} // blobs Load said stored, unless all
	all      bool                         // every record's blob is (a trusted seal)
	trusted  bool                         // the seal names exactly the records
	unstored []string                     // paths whose blob was not
	tree     *CacheTree                   // the trusted seal's tree
}

// Load calls fn for every file of the cache, by subdirectory in byte
// order of their paths, and in each in byte order of the names.
// stored says whether the record's blob is in the store for good: false
// for a file hashed by a snapshot that then failed, or whose blob gc has
// collected since, which a capture must read again.
func (c *FileCache) Load(ctx context.Context, fn func(r FileRecord, stored bool) error) error {
	return c.s.db.View(func(tx *bolt.Tx) error {
		dir, err := c.bucket(tx)
		if err != nil {
			return err
		}
		ld := &cacheLoad{deleted: db.Counter(tx, db.CounterDeleted)}
		var records []FileRecord
		if dir != nil {
			// The seal, if any, says how many records to make room for.
			ld.seal = bytes.Clone(dir.Get(sealKey))
			if sealed, _, ok := decodeSeal(ld.seal); ok {
				records = make([]FileRecord, 0, min(max(sealed.count, 0), 1<<20))
			}
			records = loadRecords(dir, ld, records)
		}
		sealed, tree, ok := decodeSeal(ld.seal)
		trusted := ok && sealed == seal{deleted: ld.deleted, count: ld.count, sum: ld.sum}
		if trusted {
			// Its blob was stored when the seal was written, and
			// nothing has been deleted since; so was every record's,
			// which Save then need not look up one by one.
			ld.tree, ld.trusted = tree, true
			ld.all = len(ld.unstored) == 0
		}
		if !ld.all {
			ld.stored = make(map[manifest.Digest]struct{}, len(records))
		}
		var settled func(manifest.Digest) (bool, error)
		if !trusted {
			if settled, err = cas.SettledTx(tx); err != nil {
				return err
			}
		}
		for _, r := range records {
			stored := true
			if !trusted {
				if stored, err = settled(r.Blob); err != nil {
					return err
				}
			}
			switch {
			case ld.all:
			case stored:
				ld.stored[r.Blob] = struct{}{}
			default:
				ld.unstored = append(ld.unstored, r.Path)
			}
			if err := fn(r, stored); err != nil {
				return err
			}
		}
		c.mu.Lock()
		c.loaded = ld
		c.mu.Unlock()
		return ctx.Err()
	})
}

// loadRecords appends the records of the directory's bucket to records,
// adding them up in ld.
func loadRecords(dir *bolt.Bucket, ld *cacheLoad, records []FileRecord) []FileRecord {
	add := func(path string, v []byte) {
		r := FileRecord{Path: path}
		ld.count++
		ld.sum += recordSum(r.Path, v)
		if n := len(v) - len(r.Blob); n >= 0 {
			r.Stat = v[:n:n]
			copy(r.Blob[:], v[n:])
		} else {
			ld.unstored = append(ld.unstored, r.Path)
			return
		}
		records = append(records, r)
	}
	cur := dir.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		switch {
		case bytes.Equal(k, sealKey) || v == nil:
		case isGroupKey(k):
			prefix := string(k[1:])
			// A group that does not parse names no file: the seal's
			// count no longer matches, and the next save replaces it.
			_ = eachGroupRecord(v, func(name, v []byte) { add(prefix+string(name), v) })
		default:
			// A record by path, of a store not yet upgraded (read-only).
			add(string(k), v)
		}
	}
	return records
}

// The records of a directory's cache are grouped by subdirectory: one
// key per subdirectory, "/" and its path and a slash ("/" alone for the
// directory's own files), whose value is groupFormat, then per file, in
// byte order of the names, the name and the record (stat, then digest),
// each a uvarint length and the bytes. A first capture of 100,000 small
// files put one key a file, a tenth of its time after the walk; it now
// puts one a directory. (Schema 14; a store of 13 keyed each record by
// its path, which never begins with a slash.)
const groupFormat = 1

func isGroupKey(k []byte) bool { return len(k) > 0 && k[0] == '/' }

// eachGroupRecord calls fn for every record of the group g, in its order;
// false if g does not parse (fn may have been called for a part of it).
func eachGroupRecord(g []byte, fn func(name, record []byte)) bool {
	if len(g) == 0 || g[0] != groupFormat {
		return false
	}
	g = g[1:]
	field := func() ([]byte, bool) {
		n, w := binary.Uvarint(g)
		if w <= 0 || n > uint64(len(g)-w) {
			return nil, false
		}
		f := g[w : w+int(n) : w+int(n)]
		g = g[w+int(n):]
		return f, true
	}
	for len(g) > 0 {
		name, ok := field()
		if !ok {
			return false
		}
		record, ok := field()
		if !ok {
			return false
		}
		fn(name, record)
	}
	return true
}

// appendGroupRecord appends a record to a group begun with groupFormat.
func appendGroupRecord(g []byte, name string, record []byte) []byte {
	g = binary.AppendUvarint(g, uint64(len(name)))
	g = append(g, name...)
	g = binary.AppendUvarint(g, uint64(len(record)))
	return append(g, record...)
}

// Sealed returns, once the commit of Save has written it, the seal of
// the records as that Save left them, for a later capture that keeps them
// in memory to LoadSealed; false if the Save wrote no seal (the records
// changed under it, or a put was dropped).
func (c *FileCache) Sealed() (FileCacheSeal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sealed == nil {
		return FileCacheSeal{}, false
	}
	return FileCacheSeal{string(c.sealed)}, true
}

// LoadSealed is Load for a caller who holds the directory's records as
// the Save that wrote seal left them (see Sealed): it reads none of them
// and reports whether they are still exactly those, every blob they name
// still stored (the same seal, and nothing deleted from the store since).
// False: the caller must Load. Tree and Save then work as after Load.
func (c *FileCache) LoadSealed(ctx context.Context, seal FileCacheSeal) (bool, error) {
	ok := false
	err := c.s.db.View(func(tx *bolt.Tx) error {
		dir, err := c.bucket(tx)
		if err != nil || dir == nil {
			return err
		}
		v := dir.Get(sealKey)
		sealed, tree, valid := decodeSeal(v)
		deleted := db.Counter(tx, db.CounterDeleted)
		if !valid || string(v) != seal.v || sealed.deleted != deleted {
			return nil
		}
		ld := &cacheLoad{seal: bytes.Clone(v), deleted: deleted, count: sealed.count, sum: sealed.sum, all: true, trusted: true, tree: tree}
		c.mu.Lock()
		c.loaded = ld
		c.mu.Unlock()
		ok = true
		return ctx.Err()
	})
	return ok, err
}

// Tree returns, after Load, the tree that the capture which last saved
// the cache made of its records (see SetTree), if every record is as that
// save left it and the tree's blob is stored; ok is false otherwise.
func (c *FileCache) Tree() (tree CacheTree, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded == nil || c.loaded.tree == nil {
		return CacheTree{}, false
	}
	return *c.loaded.tree, true
}

// SetTree says, before Save, which tree the capture made of the records
// as Save leaves them: every file the records name, as they name it, and
// nothing else a record does not say but tree.Rest. Save keeps it with
// the records when the tree's blob is stored with them and no one else
// changed the records since Load; the next Load's Tree returns it.
func (c *FileCache) SetTree(tree CacheTree) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tree = &tree
}

// Save records what a capture found after Load: put replaces records (or
// adds them), del deletes them, and the records of blobs Load found
// missing go too. reached are the blobs, with their sizes, of records that
// Load said stored and that the capture's layer names: the commit need not
// look them up while nothing has been deleted from the store since Load.
// Save may keep reached as it is, without a copy: the caller must not
// change it until the snapshot's commit has ended (with any other writer,
// until Save returns). After that it is the caller's again; a resumed
// stat cache adds the next capture's blobs to it.
//
// With the BlobWriter a snapshot gives its captures, all this happens in
// the snapshot's commit transaction, and only if it commits: a record
// never names a blob that a failed snapshot put. With any other writer,
// it happens now, in a transaction of its own.
func (c *FileCache) Save(ctx context.Context, w BlobWriter, put []FileRecord, del []string, reached map[manifest.Digest]int64) error {
	c.mu.Lock()
	tree := c.tree
	c.mu.Unlock()
	sv := c.newSave(tree, put, del, reached)
	if k, ok := w.(*contentKeeper); ok && k.commit != nil {
		k.commit.addSave(sv)
		return nil
	}
	sv.reached = nil
	return c.s.db.Update(ctx, func(tx *bolt.Tx) error {
		return sv.apply(tx, func(manifest.Digest) bool { return false })
	})
}

// SaveWithHead records files that the caller wrote itself and whose
// bytes it therefore knows (a restore: each record's stat taken once the
// file was in place), and moves the head of head.Dir in head.Session to
// id, in one transaction: the records are there only if the head moved.
// A nil head records the files alone. No tree is sealed with the records
// (the files are no longer those of the tree a capture sealed before);
// the seal itself is kept when the records were as Load or LoadSealed
// found them, as with Save.
func (c *FileCache) SaveWithHead(ctx context.Context, put []FileRecord, head *HeadRef, id manifest.Digest) (previous manifest.Digest, err error) {
	if head != nil {
		if err := checkHeadArgs(head.Dir, head.Session); err != nil {
			return manifest.Digest{}, err
		}
	}
	sv := c.newSave(nil, put, nil, nil)
	sv.reached = nil
	err = c.s.db.Update(ctx, func(tx *bolt.Tx) error {
		if head != nil {
			if previous, err = setHeadTx(tx, head.Dir, head.Session, id, time.Now()); err != nil {
				return err
			}
		}
		return sv.apply(tx, func(manifest.Digest) bool { return false })
	})
	return previous, err
}

// newSave makes the save of put and del after what Load found, sealing
// tree if not nil.
func (c *FileCache) newSave(tree *CacheTree, put []FileRecord, del []string, reached map[manifest.Digest]int64) *fileCacheSave {
	c.mu.Lock()
	ld := c.loaded
	c.mu.Unlock()
	sv := &fileCacheSave{c: c, loaded: ld, tree: tree, del: del}
	if ld != nil && !ld.all {
		sv.reached = make(map[manifest.Digest]int64, len(reached))
	}
	// In key order: bbolt inserts each key into its page's sorted list,
	// and a capture's records, in the order its workers finished them,
	// moved half of that list at every insert of a first capture.
	// A capture's records come sorted already (statCache.records):
	// copied and sorted again, 100,000 of them took a tenth of the first
	// capture's commit.
	byPath := func(a, b FileRecord) int { return strings.Compare(a.Path, b.Path) }
	if !slices.IsSortedFunc(put, byPath) {
		put = slices.SortedFunc(slices.Values(put), byPath)
	}
	sv.distinct = true
	for i := 1; i < len(put) && sv.distinct; i++ {
		sv.distinct = put[i-1].Path != put[i].Path
	}
	// The values share one allocation, not one each.
	size := 0
	for _, r := range put {
		size += len(r.Stat) + len(r.Blob)
	}
	all := make([]byte, 0, size)
	sv.put = make([]string, 0, len(put))
	sv.values = make([][]byte, 0, len(put))
	sv.blobs = make([]manifest.Digest, 0, len(put))
	for _, r := range put {
		start := len(all)
		all = append(append(all, r.Stat...), r.Blob[:]...)
		sv.put = append(sv.put, r.Path)
		sv.values = append(sv.values, all[start:len(all):len(all)])
		sv.blobs = append(sv.blobs, r.Blob)
	}
	if ld != nil {
		sv.del = append(slices.Clip(sv.del), ld.unstored...)
		if ld.all {
			// Every record's blob is stored: reached as given, which
			// the caller leaves as it is, not copied.
			sv.reached = reached
		} else {
			for d, size := range reached {
				if _, ok := ld.stored[d]; ok {
					sv.reached[d] = size
				}
			}
		}
	}
	sv.del = slices.Sorted(slices.Values(sv.del))
	return sv
}

// A fileCacheSave is one FileCache.Save, waiting for its commit.
type fileCacheSave struct {
	c      *FileCache
	loaded *cacheLoad // nil: Save without Load
	tree   *CacheTree // to seal, if its blob is stored
	put    []string
	// distinct says that no path is in put twice.
	distinct bool
	values   [][]byte
	blobs    []manifest.Digest
	del      []string
	reached  map[manifest.Digest]int64
}

// apply writes the save in tx: the records, and a new seal if the store
// deleted nothing since Load and no one else changed the records since.
// stored says whether a blob is known stored in tx (the commit's own);
// a put whose blob is neither that nor found is dropped. It must be
// repeatable: a group commit may run it twice.
func (sv *fileCacheSave) apply(tx *bolt.Tx, known func(manifest.Digest) bool) error {
	cache, err := db.Bucket(tx, db.BucketStatCache)
	if err != nil {
		return err
	}
	dir, err := cache.CreateBucketIfNotExists(sv.c.root)
	if err != nil {
		return err
	}
	dir.FillPercent = db.FillPercent
	ld := sv.loaded
	dropped := false
	sealed := ld != nil && bytes.Equal(dir.Get(sealKey), ld.seal) && db.Counter(tx, db.CounterDeleted) == ld.deleted
	next := seal{deleted: db.Counter(tx, db.CounterDeleted)}
	if ld != nil {
		next.count, next.sum = ld.count, ld.sum
	}
	// In a bucket that holds no record (a first capture's), a put has
	// none to replace: reading and merging each subdirectory's group is
	// spared.
	noRecords := sv.distinct && onlySeal(dir)
	all := sv.byGroup()
	// The groups' values share one allocation, not one (grown) each.
	arena := make([]byte, 0, sv.groupsSize(len(all)))
	for len(all) > 0 {
		prefix := all[0].dir
		n := 1
		for n < len(all) && all[n].dir == prefix {
			n++
		}
		changes := all[:n]
		all = all[n:]
		key := []byte("/" + prefix)
		// The group's records by name, as they are and then as changed.
		var records map[string][]byte
		if !noRecords {
			records = map[string][]byte{}
			eachGroupRecord(dir.Get(key), func(name, v []byte) { records[string(name)] = v })
		}
		start := len(arena)
		arena = append(arena, groupFormat)
		for _, ch := range changes {
			if old, ok := records[ch.name]; ok {
				next.count--
				next.sum -= recordSum(prefix+ch.name, old)
				delete(records, ch.name)
			}
			if ch.put < 0 {
				continue
			}
			if !known(sv.blobs[ch.put]) {
				if _, err := cas.SizeTx(tx, sv.blobs[ch.put]); err != nil {
					dropped = true
					continue
				}
			}
			v := sv.values[ch.put]
			next.count++
			next.sum += recordSum(sv.put[ch.put], v)
			if noRecords {
				// No record to merge with: the changes come in name order.
				arena = appendGroupRecord(arena, ch.name, v)
			} else {
				records[ch.name] = v
			}
		}
		for _, name := range slices.Sorted(maps.Keys(records)) {
			arena = appendGroupRecord(arena, name, records[name])
		}
		g := arena[start:len(arena):len(arena)]
		if len(g) == 1 {
			if err := dir.Delete(key); err != nil {
				return err
			}
		} else if err := dir.Put(key, g); err != nil {
			return err
		}
	}
	if !sealed {
		sv.c.setSealed(nil)
		return dir.Delete(sealKey)
	}
	tree := sv.tree
	if tree != nil && !known(tree.Blob) {
		if _, err := cas.SizeTx(tx, tree.Blob); err != nil {
			tree = nil // not stored: the next capture encodes its tree
		}
	}
	v := next.encode(tree)
	if dropped {
		sv.c.setSealed(nil)
	} else {
		sv.c.setSealed(v)
	}
	return dir.Put(sealKey, v)
}

// A groupChange is a put (put: its index in fileCacheSave.put) or a
// deletion (put < 0) of the file name in the subdirectory dir (its path
// and a slash, "" for the directory's own files).
type groupChange struct {
	dir, name string
	put       int
}

// byGroup returns the save's deletions, then puts, in order of their
// subdirectories (the order of their groups' keys), each group's in name
// order (as they are in path order) and a path's deletion before its put.
func (sv *fileCacheSave) byGroup() []groupChange {
	changes := make([]groupChange, 0, len(sv.del)+len(sv.put))
	split := func(path string, put int) groupChange {
		slash := strings.LastIndexByte(path, '/')
		return groupChange{path[:slash+1], path[slash+1:], put}
	}
	for _, path := range sv.del {
		changes = append(changes, split(path, -1))
	}
	for i, path := range sv.put {
		changes = append(changes, split(path, i))
	}
	// Stable, for the order above. The puts come in runs of a
	// subdirectory, which a stable sort merges; a sort that does not
	// keep order, or placing them by counting, took longer.
	slices.SortStableFunc(changes, func(a, b groupChange) int { return strings.Compare(a.dir, b.dir) })
	return changes
}

// groupsSize is at least the bytes of the groups of a save into a bucket
// without records: the puts', and a format byte a group.
func (sv *fileCacheSave) groupsSize(groups int) int {
	size := groups
	for i, path := range sv.put {
		size += len(path) + len(sv.values[i]) + 2
	}
	return size
}

// onlySeal reports whether dir holds no record: nothing, or its seal alone.
func onlySeal(dir *bolt.Bucket) bool {
	c := dir.Cursor()
	k, _ := c.First()
	if bytes.Equal(k, sealKey) {
		k, _ = c.Next()
	}
	return k == nil
}

// setSealed notes the seal that Save's commit writes (nil: none, or the
// records are not as Save was asked to leave them). A commit run again
// notes it again.
func (c *FileCache) setSealed(v []byte) {
	c.mu.Lock()
	c.sealed = v
	c.mu.Unlock()
}
