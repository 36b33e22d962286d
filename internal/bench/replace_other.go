//go:build !linux

package bench

import (
	"errors"
	"time"
)

// canReplaceFiles: the restore's limit row is measured on Linux only,
// where pf restore's calls (openat2, O_PATH) are the ones timed.
const canReplaceFiles = false

func replaceFiles(string, []fileState, int) (time.Duration, error) {
	return 0, errors.New("not on this system")
}
