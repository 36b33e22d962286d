//go:build unix

package bench

import (
	"io/fs"
	"os"
	"runtime"
	"syscall"
)

// allocated is the space a file takes on disk: its allocated blocks.
func allocated(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return info.Size()
}

// mapFile maps a file read-only, so that the input of a workload sits
// outside the Go heap (the collector's pacing then reflects only what the
// system under test allocates) and is shared between the processes of a
// run. It touches every page, so that what follows does not fault them in.
func mapFile(path string) ([]byte, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if info.Size() == 0 {
		return nil, func() error { return nil }, nil
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(info.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	var sum byte
	for i := 0; i < len(b); i += 4096 {
		sum += b[i]
	}
	touchSink = sum
	return b, func() error { return syscall.Munmap(b) }, nil
}

var touchSink byte

// processPeakRSS is the peak resident size of a process that has ended.
func processPeakRSS(ps *os.ProcessState) int64 {
	if ps == nil {
		return 0
	}
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss) // bytes there
	}
	return int64(ru.Maxrss) * 1024 // KiB elsewhere
}

// syncAll flushes every file system's dirty pages, outside the timer:
// before each timed round that writes, and after building a history
// store, so that no round is timed against the writeback of the work
// before it (another system's, or the store a round before deleted).
func syncAll() { syscall.Sync() }
