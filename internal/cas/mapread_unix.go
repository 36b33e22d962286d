//go:build unix

package cas

import (
	"os"
	"sync"
	"sync/atomic"
	"unsafe"
)

// preadMin is the smallest value a streaming read (chunkReader) takes
// with pread rather than copies out of bbolt's memory map. Copying
// through the map faults every page of the chunk into the process, and
// dropMapped unmaps them again so that a large read does not grow the
// process: reading a 16 MiB blob that way took 25% more CPU time than
// pread, which copies straight from the page cache into the reader's
// buffer. Get of a blob stored whole copies it out of the map into the
// new buffer it returns: on this project's machines (paravirtualized)
// pread into fresh pages cost more than the map's faults there. A
// chunked Get reads its chunks with pread (getchunked.go), a piece at a
// time, each piece hashed while it is in the core's cache.
// Below this size the map is cheaper than the call.
const preadMin = 64 << 10

// faultAround is how much of a file mapping Linux maps at a fault, around
// the page that faulted (fault_around_bytes' default).
const faultAround = 64 << 10

// storeFile is a second descriptor of the store file, opened on the first
// large read, for pread.
type storeFile struct {
	once sync.Once
	f    *os.File // nil when it could not be opened as the same file
	mu   sync.RWMutex
	// leftMapped is about how much of the map reads have left mapped
	// since it was last dropped (leaveMapped).
	leftMapped atomic.Int64
}

// file returns the descriptor, opening it on first use. It is used only
// if it is the file bbolt has open: the one at the store's path, as the
// store holds its lock on that file while open.
func (s *Bolt) file() *os.File {
	s.sf.once.Do(func() {
		path := s.db.Path()
		f, err := os.Open(path)
		if err != nil {
			return
		}
		a, errA := f.Stat()
		b, errB := os.Stat(path)
		if errA != nil || errB != nil || !os.SameFile(a, b) {
			f.Close()
			return
		}
		s.sf.f = f
	})
	return s.sf.f
}

// appendMapped appends v, a value inside a read transaction's memory
// map [base, base+mapped), to dst (see copyMapped).
func (s *Bolt) appendMapped(dst, v []byte, base, mapped uintptr) []byte {
	n := len(dst)
	if cap(dst)-n < len(v) {
		dst = append(dst[:n:n], make([]byte, len(v))...)[:n]
	}
	dst = dst[:n+len(v)]
	s.copyMapped(dst[n:], v, true, base, mapped)
	return dst
}

// copyMapped copies v, a value or a part of one inside a read
// transaction's memory map [base, base+mapped), to dst, which is as long.
// A large one is read with pread from the file at its place in the map,
// which bbolt maps from the file's first byte; its pages are then never
// mapped into this process. Where pread falls short, it is copied out of
// the map and, if large, its pages dropped again. head says v starts at
// its value's first byte, which bbolt read through the map.
func (s *Bolt) copyMapped(dst, v []byte, head bool, base, mapped uintptr) {
	if len(v) >= preadMin && base != 0 {
		start := uintptr(unsafe.Pointer(&v[0]))
		if start >= base && start+uintptr(len(v)) <= base+mapped && s.pread(dst, int64(start-base)) {
			if head {
				// bbolt read the value's first page, its header, through
				// the map, and the kernel mapped the pages around it with
				// it (fault-around, 64 KiB by default).
				s.leaveMapped(v, base, mapped)
			}
			return
		}
	}
	copy(dst, v)
	if len(v) >= preadMin {
		dropMapped(v, base, mapped)
	}
}

// mappedBudget bounds what reads leave mapped of the store file: the
// pages the kernel maps around each large value's first page, which bbolt
// reads through the map (copyMapped). Each read dropped them at once, a
// madvise a chunk, and the flush of the other cores' TLBs that comes with
// it cost a 4 MiB Get of a chunked blob more than its bbolt look-ups: they
// are now left mapped and counted, and once reads have left this much,
// the whole map is dropped in one call. Its cost is that of the pages
// mapped then, and the faults of those read again (a few of bbolt's).
const mappedBudget = 16 << 20

// leaveMapped counts the pages around v's first page as left mapped, and
// drops the whole map [base, base+mapped) once they pass mappedBudget.
// The caller is inside the read transaction whose map holds v.
func (s *Bolt) leaveMapped(v []byte, base, mapped uintptr) {
	n := s.sf.leftMapped.Add(faultAround)
	if n < mappedBudget || !s.sf.leftMapped.CompareAndSwap(n, 0) {
		return
	}
	start := uintptr(unsafe.Pointer(&v[0]))
	whole := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(&v[0]), -int(start-base))), mapped)
	dropMapped(whole, base, mapped)
}

// pread fills p from the store file at off, and reports whether it could.
func (s *Bolt) pread(p []byte, off int64) bool {
	s.sf.mu.RLock()
	defer s.sf.mu.RUnlock()
	f := s.file()
	if f == nil {
		return false
	}
	_, err := f.ReadAt(p, off)
	return err == nil
}

// Close lets go of the descriptor reads use; the store file must be
// closed first, which waits for every read transaction.
func (s *Bolt) Close() error {
	s.sf.mu.Lock()
	defer s.sf.mu.Unlock()
	s.sf.once.Do(func() {})
	if s.sf.f == nil {
		return nil
	}
	err := s.sf.f.Close()
	s.sf.f = nil
	return err
}
