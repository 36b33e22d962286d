package worktree

import (
	"context"
	"encoding/binary"
	"io/fs"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// fileStat is what the stat cache compares to decide that a file is the
// one it hashed before. Times are Unix nanoseconds. mode is the file's
// mode as a tree entry records it (manifest.ModeMask): with the size and
// digest, a record then says all that the tree says of the file.
type fileStat struct {
	size  int64
	mtime int64
	ctime int64
	ino   uint64
	dev   uint64
	mode  fs.FileMode
}

func statOf(fi fs.FileInfo) fileStat {
	ino, dev, ctime := sysStat(fi)
	return fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano(), ctime: ctime, ino: ino, dev: dev, mode: fi.Mode() & manifest.ModeMask}
}

// A cacheEntry is one file of the stat cache: its stat when it was hashed,
// when that stat was taken, and the digest of its bytes.
type cacheEntry struct {
	stat     fileStat
	recorded int64 // Unix ns, taken before the stat
	digest   manifest.Digest
}

// statRecordFormat is the first byte of the record a cache entry keeps
// in the store's file cache beside its digest; a record of another format
// is treated as absent (and replaced). Format 1 lacked the mode; format 2
// held each field in 8 bytes (4 for the mode), 53 bytes a file, and is
// still read. Format 3 holds them as varints, the ctime and the time of
// the record as their distance from the mtime, which they are near: about
// 30 bytes, a fifth of what a small file's cache entry takes in the store
// (2.2 MB over 100,000 files). Format 4 keeps of the time of the record
// only what lookup asks of it, how many seconds it is past the mtime's
// second (clamped to -1..1; 1 byte, where format 3's nanoseconds took 5,
// 0.4 MB over 100,000 files); format 3 is still read.
const (
	statRecordFormat      = 4
	statRecordNsFormat    = 3
	statRecordFixedFormat = 2
	statRecordFixedSize   = 1 + 6*8 + 4
	statRecordMaxSize     = 1 + 7*binary.MaxVarintLen64
	// recordBlockSize is the block of bytes that records carves records
	// from: a few pages, about 2,000 records.
	recordBlockSize = 64 << 10
)

// record is what the store keeps of e beside its digest.
func (e *cacheEntry) record() []byte {
	return e.appendRecord(make([]byte, 0, statRecordMaxSize))
}

// appendRecord appends e's record to b.
func (e *cacheEntry) appendRecord(b []byte) []byte {
	b = append(b, statRecordFormat)
	b = binary.AppendUvarint(b, uint64(e.stat.size))
	b = binary.AppendVarint(b, e.stat.mtime)
	b = binary.AppendVarint(b, e.stat.ctime-e.stat.mtime)
	b = binary.AppendUvarint(b, e.stat.ino)
	b = binary.AppendUvarint(b, e.stat.dev)
	b = binary.AppendVarint(b, min(max(unixSecond(e.recorded)-unixSecond(e.stat.mtime), -1), 1))
	return binary.AppendUvarint(b, uint64(e.stat.mode))
}

func decodeCacheEntry(r pf.FileRecord) (cacheEntry, bool) {
	v := r.Stat
	if len(v) == statRecordFixedSize && v[0] == statRecordFixedFormat {
		u := func(i int) uint64 { return binary.BigEndian.Uint64(v[1+8*i:]) }
		return cacheEntry{
			stat:     fileStat{size: int64(u(0)), mtime: int64(u(1)), ctime: int64(u(2)), ino: u(3), dev: u(4), mode: fs.FileMode(binary.BigEndian.Uint32(v[1+6*8:]))},
			recorded: int64(u(5)),
			digest:   r.Blob,
		}, true
	}
	if len(v) == 0 || (v[0] != statRecordFormat && v[0] != statRecordNsFormat) {
		return cacheEntry{}, false
	}
	rd := varintReader{rest: v[1:], ok: true}
	var e cacheEntry
	e.stat.size = int64(readVarint(&rd, binary.Uvarint))
	e.stat.mtime = readVarint(&rd, binary.Varint)
	e.stat.ctime = e.stat.mtime + readVarint(&rd, binary.Varint)
	e.stat.ino = readVarint(&rd, binary.Uvarint)
	e.stat.dev = readVarint(&rd, binary.Uvarint)
	if v[0] == statRecordNsFormat {
		e.recorded = e.stat.mtime + readVarint(&rd, binary.Varint)
	} else if seconds := readVarint(&rd, binary.Varint); seconds >= -1 && seconds <= 1 {
		e.recorded = recordedAfter(e.stat.mtime, seconds)
	} else {
		rd.ok = false // record clamps it: not a record of this format
	}
	mode := readVarint(&rd, binary.Uvarint)
	if !rd.ok || len(rd.rest) != 0 || mode > 1<<32-1 {
		return cacheEntry{}, false
	}
	e.stat.mode = fs.FileMode(mode)
	e.digest = r.Blob
	return e, true
}

// recordedAfter is a time of the record in the second that is seconds
// (-1..1) past mtime's; past what int64 holds, mtime's own second, which
// lookup takes as racy and so hashes the file again.
func recordedAfter(mtime, seconds int64) int64 {
	s := unixSecond(mtime)
	if s+seconds > math.MaxInt64/int64(1e9) || s+seconds < math.MinInt64/int64(1e9) {
		return mtime
	}
	return (s + seconds) * 1e9
}

// varintReader is what is left of a record being decoded, and whether
// every varint read so far was whole.
type varintReader struct {
	rest []byte
	ok   bool
}

// readVarint reads one varint off rd with read (binary.Uvarint or
// binary.Varint); a short or overlong one clears rd.ok.
func readVarint[T uint64 | int64](rd *varintReader, read func([]byte) (T, int)) T {
	x, n := read(rd.rest)
	if n <= 0 {
		rd.ok = false
		return 0
	}
	rd.rest = rd.rest[n:]
	return x
}

// unixSecond is the second a Unix-nanosecond time falls in, rounding down
// for times before 1970 too.
func unixSecond(ns int64) int64 {
	s := ns / 1e9
	if ns%1e9 < 0 {
		s--
	}
	return s
}

// A statCache is the stat cache of one directory for one capture: loaded
// before the walk, it answers the walk's lookups, collects what the
// workers hashed, and writes the difference back at the end.
type statCache struct {
	files   *pf.FileCache
	root    string // the directory, as loadStatCache was given it
	entries map[string]*loadedEntry
	// malformed counts the records loadStatCache could not decode (of
	// another format): entries that say nothing of their file.
	malformed int

	mu      sync.Mutex
	updates map[string]cacheEntry

	// marks is the lineage of caches that share entries
	// (resumeStatCache), and epoch the mark that means seen or hit in
	// this cache: a resume after a walk marked entries moves the
	// lineage to a new epoch, which leaves every entry unmarked without
	// a pass over them all (100,000 records on a large tree, at every
	// served status and snapshot).
	marks *cacheMarks
	epoch uint32
	// seen counts the entries marked seen in epoch: when it is every
	// entry, save has no deletion to look for and need not visit them
	// all (11,500 entries met in the order of the map, one cache miss
	// each, at every served snapshot).
	seen atomic.Int64
	// unusable counts the entries that are not usable, which a resume
	// drops unless hashed since: none, it need not look for them.
	unusable int
	// whole says that save saved a whole walk taken: nothing put or
	// deleted, every entry as the records hold it.
	whole bool

	// reached is what save gave the commit: the blobs of the entries
	// the walk took digests from, with their sizes.
	reached map[manifest.Digest]int64
	// known, in a cache resumed from an earlier capture's, is reached
	// kept up to date from one capture to the next instead of made
	// again from every entry at each save: the blobs of the records,
	// and of records since replaced or deleted, which the store still
	// holds as long as the lineage of seals holds (nothing deleted
	// since the first of them). Nil: save makes reached.
	known map[manifest.Digest]int64
	// wholeReached, set by a capture that took the last one's whole
	// walk, is reached for all of the entries, known before save.
	wholeReached map[manifest.Digest]int64

	// After save: the paths it deleted. A later capture through the same
	// watcher resumes from this cache (see resumeStatCache): once the
	// save's commit sealed the records, they are applied to entries,
	// which are then exactly the records under seal.
	resumeMu sync.Mutex
	dels     []string
	saved    bool
	exact    bool
	seal     pf.FileCacheSeal
}

// cacheMarks is shared by the caches of one lineage (see statCache.marks).
type cacheMarks struct {
	// used says whether a walk may have marked entries in the current
	// epoch.
	used  bool
	epoch uint32
}

type loadedEntry struct {
	cacheEntry
	usable bool // well-formed, and its digest is stored and not provisional
	// seenIn and hitIn are the epochs (statCache.epoch) in which the
	// walk met the path again, and took its digest from here.
	seenIn atomic.Uint32
	hitIn  atomic.Uint32
	// dropped says a resumed cache deleted or replaced the entry: a
	// memo that kept it (dirMemo.cached) looks the path up again.
	dropped atomic.Bool
}

// loadStatCache reads root's entries, keeping as usable only those whose
// digest the store holds for good: an entry left by a snapshot that failed,
// or whose blob was collected since, is a miss.
func loadStatCache(ctx context.Context, s *pf.Store, root string) (*statCache, error) {
	c := &statCache{files: s.FileCache(root), root: root, updates: map[string]cacheEntry{}, marks: &cacheMarks{epoch: 1}, epoch: 1}
	// The entries and their paths are kept in blocks, then put in a map
	// made at their number: a map grown entry by entry rehashes itself a
	// dozen times, and a slice grown entry by entry copies itself as
	// often (most of a load's own time on 11,500 files).
	const block = 1024
	var entries [][]loadedEntry
	var paths [][]string
	n := 0
	err := c.files.Load(ctx, func(r pf.FileRecord, stored bool) error {
		if n%block == 0 {
			entries = append(entries, make([]loadedEntry, block))
			paths = append(paths, make([]string, block))
		}
		e := &entries[n/block][n%block]
		paths[n/block][n%block] = r.Path
		n++
		var ok bool
		e.cacheEntry, ok = decodeCacheEntry(r)
		e.usable = ok && stored
		if !ok {
			c.malformed++
		}
		if !e.usable {
			c.unusable++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.entries = make(map[string]*loadedEntry, n)
	for i := range n {
		c.entries[paths[i/block][i%block]] = &entries[i/block][i%block]
	}
	return c, nil
}

// A statCacheLoad is a stat cache being loaded on its own goroutine,
// beside a walk that lists and stats directories meanwhile: the load
// takes a core that a walk waiting for it would leave idle.
type statCacheLoad struct {
	root  string // as loadStatCache is given it
	done  chan struct{}
	cache *statCache // once done, if err is nil
	err   error
}

// startStatCacheLoad starts loading root's stat cache, once after is
// closed if not nil (a test's). Whoever starts it waits for it (wait)
// before the store may close: the load reads it.
func startStatCacheLoad(ctx context.Context, s *pf.Store, root string, after <-chan struct{}) *statCacheLoad {
	l := &statCacheLoad{root: root, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		if after != nil {
			<-after
		}
		l.cache, l.err = loadStatCache(ctx, s, root)
	}()
	return l
}

// wait waits for the load to end.
func (l *statCacheLoad) wait() (*statCache, error) {
	<-l.done
	return l.cache, l.err
}

// loaded returns the cache if the load ended well, without waiting.
func (l *statCacheLoad) loaded() (*statCache, bool) {
	select {
	case <-l.done:
		return l.cache, l.err == nil
	default:
		return nil, false
	}
}

// lookupResult says what the cache knows of a file.
type lookupResult int

const (
	cacheMiss lookupResult = iota // never hashed, or its stat changed
	cacheRacy                     // same stat, but modified too close to when it was hashed
	cacheHit
)

// lookup returns the digest of the file at path if its stat st is the one
// the cache holds and the entry is not racy-clean. It also marks path as
// still present. The walk's goroutines call it concurrently.
func (c *statCache) lookup(path string, st fileStat) (manifest.Digest, lookupResult) {
	e := c.entries[path]
	if e == nil {
		return manifest.Digest{}, cacheMiss
	}
	c.markSeen(e)
	if !e.usable || e.stat != st {
		return manifest.Digest{}, cacheMiss
	}
	// A file modified in the second its stat was taken, or later (a
	// clock set back), may have changed again since without a new mtime.
	if unixSecond(st.mtime) >= unixSecond(e.recorded) {
		return manifest.Digest{}, cacheRacy
	}
	c.markHit(e)
	return e.digest, cacheHit
}

// markSeen marks e as met by the walk; markHit, as met and its digest
// taken; markHits, each of es so. The walk's goroutines call them
// concurrently.
func (c *statCache) markSeen(e *loadedEntry) {
	if e.seenIn.Swap(c.epoch) != c.epoch {
		c.seen.Add(1)
	}
}

func (c *statCache) markHit(e *loadedEntry) {
	c.markSeen(e)
	e.hitIn.Store(c.epoch)
}

// markHits counts the entries newly seen once for all of es: a recall
// marks every file of a directory, and the walk's goroutines would
// contend for the count at each.
func (c *statCache) markHits(es []*loadedEntry) {
	newly := int64(0)
	for _, e := range es {
		if e.seenIn.Swap(c.epoch) != c.epoch {
			newly++
		}
		e.hitIn.Store(c.epoch)
	}
	c.seen.Add(newly)
}

// knows reports whether the cache has an entry for path, of any stat.
// The path is bytes, which a map index converts without a copy.
func (c *statCache) knows(path []byte) bool {
	return c.entries[string(path)] != nil
}

// holds reports whether the cache holds path with stat st and digest d,
// usable: a file read again (racy, say) that proved unchanged.
func (c *statCache) holds(path string, st fileStat, d manifest.Digest) bool {
	e := c.entries[path]
	return e != nil && e.usable && e.stat == st && e.digest == d
}

// record notes a file the capture hashed. Workers call it concurrently.
func (c *statCache) record(path string, e cacheEntry) {
	c.mu.Lock()
	c.updates[path] = e
	c.mu.Unlock()
}

// cacheRecords are what a save writes (see statCache.records).
type cacheRecords struct {
	puts    []pf.FileRecord // sorted by path
	dels    []string
	reached map[manifest.Digest]int64
	whole   bool // a whole walk taken: nothing put or deleted
}

// records returns what changed, for saveRecords to write once the walk
// is done: the files hashed, unless the cache already held exactly that,
// and deletions of the paths the walk no longer met. The files whose
// digests the walk took from the cache spare the commit looking their
// blobs up. It changes nothing, so that it may run beside the tree's put
// (walked.recordsBeside): on a first capture of 100,000 files, making
// and sorting the records took a tenth of a second of one core.
func (c *statCache) records() cacheRecords {
	if c.wholeReached != nil {
		// A whole walk taken (replayWhole): every entry met and hit,
		// nothing hashed.
		return cacheRecords{reached: c.wholeReached, whole: true}
	}
	var r cacheRecords
	r.puts = make([]pf.FileRecord, 0, len(c.updates))
	// The records share blocks of bytes rather than take an allocation
	// each: a first capture of 100,000 files made 100,000.
	var block []byte
	for path, e := range c.updates {
		if old := c.entries[path]; old != nil && old.usable && old.cacheEntry == e {
			continue
		}
		if cap(block)-len(block) < statRecordMaxSize {
			block = make([]byte, 0, recordBlockSize)
		}
		start := len(block)
		block = e.appendRecord(block)
		r.puts = append(r.puts, pf.FileRecord{Path: path, Stat: block[start:len(block):len(block)], Blob: e.digest})
	}
	// In the order FileCache.Save writes them, which then finds them
	// sorted.
	slices.SortFunc(r.puts, func(a, b pf.FileRecord) int { return strings.Compare(a.Path, b.Path) })
	r.reached = c.known
	if r.reached == nil {
		r.reached = make(map[manifest.Digest]int64, len(c.entries))
	}
	entries := c.entries
	if c.known != nil && c.seen.Load() == int64(len(c.entries)) {
		entries = nil // every entry seen: no deletion, and reached is known
	}
	for path, e := range entries {
		// The map is looked up only for an entry not seen, rare.
		if e.seenIn.Load() != c.epoch {
			if _, hashed := c.updates[path]; !hashed {
				r.dels = append(r.dels, path)
			}
		}
		if c.known == nil && e.hitIn.Load() == c.epoch {
			r.reached[e.digest] = e.stat.size
		}
	}
	return r
}

// saveRecords writes r, which records made of this cache, with the
// snapshot that w writes.
func (c *statCache) saveRecords(ctx context.Context, w pf.BlobWriter, r cacheRecords) error {
	c.resumeMu.Lock()
	c.dels, c.saved, c.whole = r.dels, true, r.whole
	c.resumeMu.Unlock()
	c.reached = r.reached
	return c.files.Save(ctx, w, r.puts, r.dels, r.reached)
}

// resumeStatCache returns the stat cache of root for a capture that
// follows the capture whose cache was prev, through the same watcher, in
// the same process (pf serve): the records prev's save left, kept in
// memory rather than read and decoded again (on a tree of 11,500 files,
// most of an unchanged snapshot's time in the server), if the store still
// holds exactly those (nothing else saved the directory's cache since,
// nothing was deleted from the store). Nil: load it.
func resumeStatCache(ctx context.Context, s *pf.Store, root string, prev *statCache) (*statCache, error) {
	if prev == nil {
		return nil, nil
	}
	prev.resumeMu.Lock()
	defer prev.resumeMu.Unlock()
	if !prev.exact {
		seal, ok := prev.files.Sealed()
		if !prev.saved || !ok {
			return nil, nil
		}
		// The save's commit wrote what it was given: apply the same
		// to entries. Records whose blob Load found missing went.
		for _, path := range prev.dels {
			if e := prev.entries[path]; e != nil {
				e.dropped.Store(true)
				delete(prev.entries, path)
			}
		}
		if !prev.whole && prev.unusable > 0 { // else entries are the records, as resumed
			for path, e := range prev.entries {
				if e.usable {
					continue // the lookup below only for the rare entry that is not
				}
				if _, hashed := prev.updates[path]; !hashed {
					e.dropped.Store(true)
					delete(prev.entries, path)
				}
			}
		}
		// What the commit that sealed them reached is known to be stored
		// for as long as the seals hold, and so are the blobs it put for
		// the records it replaced; a map grown well past the records
		// (blobs of files long gone) is made again by the next save.
		known := prev.reached
		if len(known) > 2*len(prev.entries)+1024 {
			known = nil
		}
		for path, e := range prev.updates {
			if old := prev.entries[path]; old != nil {
				old.dropped.Store(true)
			}
			prev.entries[path] = &loadedEntry{cacheEntry: e, usable: true}
			if known != nil {
				known[e.digest] = e.stat.size
			}
		}
		prev.known = known
		prev.updates, prev.dels = nil, nil
		prev.exact, prev.seal = true, seal
		// The entries not usable went, or were replaced by usable ones.
		prev.unusable = 0
	}
	files := s.FileCache(root)
	ok, err := files.LoadSealed(ctx, prev.seal)
	if err != nil || !ok {
		return nil, err
	}
	if prev.marks.used {
		prev.marks.epoch++
		prev.marks.used = false
		if prev.marks.epoch == 0 {
			// Wrapped: marks of 2^32 epochs ago would read as new.
			for _, e := range prev.entries {
				e.seenIn.Store(0)
				e.hitIn.Store(0)
			}
			prev.marks.epoch = 1
		}
	}
	return &statCache{files: files, root: root, entries: prev.entries, malformed: prev.malformed, updates: map[string]cacheEntry{}, marks: prev.marks, epoch: prev.marks.epoch, known: prev.known}, nil
}
