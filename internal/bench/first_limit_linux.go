//go:build linux

package bench

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/processfork/pf/internal/cas"
	"golang.org/x/sys/unix"
)

const canReadTree = true

// mapFrom is the size from which readTree hashes a file through a map of
// it rather than reading it: the copy of a read costs as much as hashing
// half the bytes (a 2 GiB file: 2.0 s read and hashed, 1.3 s mapped and
// hashed), while mapping a small file costs more than it spares.
const mapFrom = 1 << 20

// readTree reads the tree under root as any first checkpoint of it must
// at least, and as cheaply as this machine does it: every directory
// opened (openat, O_NOFOLLOW, from its open parent), its stat taken from
// the open directory, and listed, outside the directories skip names;
// every regular file opened the same way, its stat taken from the open
// file (a checkpoint keeps each file's mode and size), read to its end
// in one read into a buffer the worker reuses (a file of mapFrom or more
// mapped, MAP_POPULATE, instead of copied), one SHA-256 of its bytes (as
// pf's format keys a blob), closed; every symbolic link read (readlinkat)
// and never followed. Directories are spread over workers goroutines, a
// directory's files read by the worker that lists it. Nothing is stored
// or compared. With compress, each file a put would try to compress is
// also compressed as a put compresses it (compressFile), its bytes
// thrown away.
func readTree(root string, skip func(name string) bool, workers int, compress bool) (treeRead, error) {
	return walkTree(root, skip, workers, compress, false, nil, nil)
}

// readTreeStored is readTree, compressing, that also stores every file
// as a put would into sink (limitReadHashZstdBolt): each piece compressed
// or raw, as the put's rule says, and an entry per file. With cut, a
// file a put cuts into chunks is cut as a put cuts it, each chunk hashed
// too (limitReadCutHashZstdBolt, cutCompressFile).
func readTreeStored(root string, skip func(name string) bool, workers int, sink *valueSink, cut bool) (treeRead, error) {
	return walkTree(root, skip, workers, true, cut, nil, sink)
}

// readTreePacked is readTree, without compressing, that also keeps every
// file's bytes as a store built as pf's must before it commits them
// (treePacks.keep): it returns them in packs.
func readTreePacked(root string, skip func(name string) bool, workers int) (treeRead, *treePacks, error) {
	packs := &treePacks{}
	read, err := walkTree(root, skip, workers, false, false, packs, nil)
	return read, packs, err
}

// walkTree is readTree, cutting the files a put cuts if cut, keeping the
// bytes read in packs if not nil, and storing what it compresses into
// sink if not nil.
func walkTree(root string, skip func(name string) bool, workers int, compress, cut bool, packs *treePacks, sink *valueSink) (treeRead, error) {
	rootFD, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return treeRead{}, &fs.PathError{Op: "open", Path: root, Err: err}
	}
	w := &treeWalk{skip: skip, compress: compress, cut: cut, packs: packs, sink: sink, pending: []dirJob{{fd: rootFD, path: root}}, active: 1}
	w.cond.L = &w.mu
	results := make([]treeRead, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = w.work()
		}()
	}
	wg.Wait()
	var total treeRead
	for _, r := range results {
		total.add(r)
	}
	return total, w.err
}

// treeWorkers is how many goroutines readTree runs: as many as pf's own
// pools (max(4, 2×GOMAXPROCS)), measured a little faster than one a core
// on the 100,000 small files (a worker blocked in a call leaves its core
// to another).
func treeWorkers() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// A dirJob is an open directory to list; path is for errors.
type dirJob struct {
	fd   int
	path string
}

// treeWalk is the shared state of readTree's workers: the directories
// opened and not yet listed (a stack: depth first keeps few open), how
// many are pending or being listed, and the first error.
type treeWalk struct {
	skip     func(name string) bool
	compress bool
	cut      bool       // a file a put cuts into chunks is cut (cutCompressFile)
	packs    *treePacks // nil: the bytes read are thrown away
	sink     *valueSink // nil: nor are the compressed bytes stored

	mu      sync.Mutex
	cond    sync.Cond
	pending []dirJob
	active  int // directories pending or being listed
	err     error
}

// work lists directories until none is pending or being listed, or one
// failed, and returns what this worker read.
func (w *treeWalk) work() treeRead {
	ww := &treeWorker{walk: w, buf: make([]byte, mapFrom)}
	for {
		w.mu.Lock()
		for len(w.pending) == 0 && w.active > 0 && w.err == nil {
			w.cond.Wait()
		}
		if w.err != nil || w.active == 0 {
			for _, d := range w.pending {
				unix.Close(d.fd)
			}
			w.pending = nil
			w.mu.Unlock()
			if w.packs != nil {
				w.packs.handOff(&ww.pack)
			}
			return ww.read
		}
		d := w.pending[len(w.pending)-1]
		w.pending = w.pending[:len(w.pending)-1]
		w.mu.Unlock()

		err := ww.list(d)
		w.mu.Lock()
		w.active--
		if err != nil && w.err == nil {
			w.err = err
		}
		w.cond.Broadcast()
		w.mu.Unlock()
	}
}

// push hands directories a worker opened to all of them.
func (w *treeWalk) push(dirs []dirJob) {
	w.mu.Lock()
	w.pending = append(w.pending, dirs...)
	w.active += len(dirs)
	w.cond.Broadcast()
	w.mu.Unlock()
}

// A treeWorker is one of readTree's goroutines, with its own buffers.
type treeWorker struct {
	walk *treeWalk
	buf  []byte // a file read whole
	zbuf []byte // what zstd made of a file or piece, thrown away
	link [unix.PathMax]byte
	dirs []dirJob
	read treeRead
	pack workerPack // the pack this worker fills, if the walk keeps the bytes
}

// list reads the directory d and every file in it, and pushes its
// subdirectories, open; d is closed, and on an error the subdirectories
// opened too.
func (ww *treeWorker) list(d dirJob) (err error) {
	dir := os.NewFile(uintptr(d.fd), d.path) // closes d.fd
	defer dir.Close()
	ww.dirs = ww.dirs[:0]
	defer func() {
		if err != nil {
			for _, sub := range ww.dirs {
				unix.Close(sub.fd)
			}
		}
	}()
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return &fs.PathError{Op: "stat", Path: d.path, Err: err}
	}
	ww.read.Dirs++
	entries, err := dir.ReadDir(-1)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		switch typ := e.Type(); {
		case typ.IsDir():
			if ww.walk.skip(name) {
				continue
			}
			fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return &fs.PathError{Op: "open", Path: filepath.Join(d.path, name), Err: err}
			}
			ww.dirs = append(ww.dirs, dirJob{fd: fd, path: filepath.Join(d.path, name)})
		case typ.IsRegular():
			if err := ww.file(d.fd, name); err != nil {
				return &fs.PathError{Op: "read", Path: filepath.Join(d.path, name), Err: err}
			}
		case typ&fs.ModeSymlink != 0:
			if _, err := unix.Readlinkat(d.fd, name, ww.link[:]); err != nil {
				return &fs.PathError{Op: "readlink", Path: filepath.Join(d.path, name), Err: err}
			}
			ww.read.Links++
		}
	}
	if len(ww.dirs) > 0 {
		ww.walk.push(ww.dirs)
	}
	return nil
}

// file reads and hashes the regular file name of the open directory
// dirFD.
func (ww *treeWorker) file(dirFD int, name string) error {
	fd, err := unix.Openat(dirFD, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("not a regular file now")
	}
	var data []byte
	if st.Size >= mapFrom {
		m, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return err
		}
		defer unix.Munmap(m)
		data = m
	} else {
		// A read of a regular file that returns less than it asked for
		// is at the file's end: a file smaller than the buffer is read
		// with one call.
		n := 0
		for {
			if n == len(ww.buf) {
				return fmt.Errorf("grew past %d bytes while read", len(ww.buf))
			}
			k, err := unix.Read(fd, ww.buf[n:])
			if err != nil {
				return err
			}
			n += k
			if k == 0 || k < len(ww.buf)-(n-k) && n >= int(st.Size) {
				break
			}
		}
		data = ww.buf[:n]
	}
	var sum [32]byte
	var locs []valueLoc
	if ww.walk.compress && ww.walk.cut && len(data) > cas.InlineMax {
		var err error
		if sum, locs, err = ww.cutCompressFile(data); err != nil {
			return err
		}
	} else if ww.walk.compress && len(data) > cas.InlineMax {
		// A put hashes a large file whole while its chunks are cut and
		// compressed on the other cores: so does the floor.
		hashed := make(chan struct{})
		go func() {
			defer close(hashed)
			sum = sha256.Sum256(data)
		}()
		locs = ww.compressFile(data)
		<-hashed
	} else {
		sum = sha256.Sum256(data)
		if ww.walk.compress {
			locs = ww.compressFile(data)
		}
	}
	if ww.walk.sink != nil {
		ww.walk.sink.index(sum, locs)
	}
	if ww.walk.packs != nil {
		ww.walk.packs.keep(&ww.pack, sum, data)
	}
	ww.read.Files++
	ww.read.Bytes += int64(len(data))
	if len(data) > cas.InlineMax {
		ww.read.Cut += int64(len(data))
	}
	for i := range sum {
		ww.read.Sum[i] ^= sum[i]
	}
	return nil
}

// compressFile compresses data as a put of it would: not at all unless
// the store's rule says zstd may pay (cas.WorthCompressingAt, at the
// store's level), with an encoder set up as the store's. A file longer
// than one value is compressed in pieces of cas.InlineMax, standing in
// for the chunks a put cuts it into, on every core at once, as a put
// compresses its chunks (one core for a 2 GiB file took 13 s, where pf's
// whole first checkpoint of it took 7.5 s). If the walk stores what it
// reads (treeWalk.sink), every piece is stored, compressed or raw, and
// compressFile returns where, in order; otherwise nil.
func (ww *treeWorker) compressFile(data []byte) []valueLoc {
	sink := ww.walk.sink
	if !cas.WorthCompressingAt(cas.DefaultLevel, data) {
		if sink == nil {
			return nil
		}
		return sink.keepRaw(data)
	}
	ww.read.Compressed += int64(len(data))
	if len(data) <= cas.InlineMax {
		if sink == nil {
			ww.zbuf = pipelineEncoder().EncodeAll(data, ww.zbuf[:0])
			ww.read.Packed += int64(len(ww.zbuf))
			return nil
		}
		z := pipelineEncoder().EncodeAll(data, sink.buffer())
		ww.read.Packed += int64(len(z))
		return []valueLoc{sink.keepPiece(data, z)}
	}
	pieces := (len(data) + cas.InlineMax - 1) / cas.InlineMax
	var locs []valueLoc
	if sink != nil {
		locs = make([]valueLoc, pieces)
	}
	var next, packed atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), pieces) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for {
				i := int(next.Add(1) - 1)
				if i >= pieces {
					return
				}
				piece := data[i*cas.InlineMax : min(len(data), (i+1)*cas.InlineMax)]
				if sink != nil {
					buf = sink.buffer()
				}
				buf = pipelineEncoder().EncodeAll(piece, buf[:0])
				packed.Add(int64(len(buf)))
				if sink != nil {
					locs[i] = sink.keepPiece(piece, buf)
				}
			}
		}()
	}
	wg.Wait()
	ww.read.Packed += packed.Load()
	return locs
}

// cutCompressFile is compressFile for a file a put cuts into chunks, as
// limitReadCutHashZstdBolt does it, with the work spread over the cores
// as well as it can be: the file hashed whole on a goroutine of its own
// from the start (its bytes are all mapped), beside the cut, which does
// nothing else; each chunk handed to one of a goroutine a core, which
// hashes it and compresses it as a put does, or keeps it raw as the
// put's rule says, then stores it into the sink if there is one. A cut
// that also hashed each chunk held the compressing goroutines back. It
// returns the file's SHA-256 and where its chunks lie, in order.
func (ww *treeWorker) cutCompressFile(data []byte) ([32]byte, []valueLoc, error) {
	sink := ww.walk.sink
	compress := cas.WorthCompressingAt(cas.DefaultLevel, data)
	var sum [32]byte
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		sum = sha256.Sum256(data)
	}()
	type cutChunk struct {
		i int
		c []byte
	}
	// The chunks are slices of the mapped file, not buffers: the cut may
	// run as far ahead of the compressing goroutines as it can, so that
	// none of them waits for it. A chunk but the last is half an
	// InlineMax or more (the chunker's least), which bounds how many.
	chunks := make(chan cutChunk, len(data)/(cas.InlineMax/2)+1)
	var (
		mu      sync.Mutex
		byChunk [][]valueLoc
		packed  atomic.Int64
		wg      sync.WaitGroup
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			var buf []byte
			for ch := range chunks {
				// The chunk's digest is its key in pf's store: this
				// floor keys chunks by number, but takes it.
				sha256.Sum256(ch.c)
				var locs []valueLoc
				if compress {
					if sink != nil {
						buf = sink.buffer()
					}
					buf = pipelineEncoder().EncodeAll(ch.c, buf[:0])
					packed.Add(int64(len(buf)))
					if sink != nil {
						locs = []valueLoc{sink.keepPiece(ch.c, buf)}
					}
				} else if sink != nil {
					locs = sink.keepRaw(ch.c)
				}
				mu.Lock()
				for len(byChunk) <= ch.i {
					byChunk = append(byChunk, nil)
				}
				byChunk[ch.i] = locs
				mu.Unlock()
			}
		})
	}
	next := 0
	err := cas.Cut(data, func(c []byte) {
		chunks <- cutChunk{next, c}
		next++
	})
	close(chunks)
	wg.Wait()
	<-hashed
	if compress {
		ww.read.Compressed += int64(len(data))
		ww.read.Packed += packed.Load()
	}
	var locs []valueLoc
	for _, l := range byChunk {
		locs = append(locs, l...)
	}
	return sum, locs, err
}
