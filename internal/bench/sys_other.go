//go:build !unix

package bench

import (
	"io/fs"
	"os"
)

func allocated(info fs.FileInfo) int64 { return info.Size() }

func mapFile(path string) ([]byte, func() error, error) {
	b, err := os.ReadFile(path)
	return b, func() error { return nil }, err
}

func processPeakRSS(ps *os.ProcessState) int64 { return 0 }

func syncAll() {}
