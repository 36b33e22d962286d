package db

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// bbolt's first page begins with a 16-byte page header, then the meta
// page: its magic number, format version and page size (native byte
// order; every platform pf builds for is little-endian).
const (
	boltMagic       = 0xED0CDAED
	boltMagicOffset = 16
	boltPageSizeOff = 24
	boltMinPageSize = 1024
)

// sniff tells a file that is not a store from a store cut short, before
// bbolt sees it: bbolt refuses any file shorter than two pages with a bare
// "file size too small", whether it is a truncated store or a stray file.
func sniff(path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	defer f.Close()
	var head [boltPageSizeOff + 4]byte
	n, err := io.ReadFull(f, head[:])
	if err != nil && err != io.ErrUnexpectedEOF {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	if n < boltPageSizeOff || binary.LittleEndian.Uint32(head[boltMagicOffset:]) != boltMagic {
		if size < 2*int64(os.Getpagesize()) {
			return notStore(path, fmt.Sprintf("not a bbolt file (%d bytes)", size))
		}
		return nil // bbolt reads a second meta page, or refuses the file itself
	}
	pageSize := int64(os.Getpagesize())
	if n == len(head) {
		if p := int64(binary.LittleEndian.Uint32(head[boltPageSizeOff:])); p >= boltMinPageSize {
			pageSize = p
		}
	}
	if size < 2*pageSize {
		return damaged(path, fmt.Sprintf("truncated: the file is %d bytes, a store has at least %d", size, 2*pageSize))
	}
	return nil
}
