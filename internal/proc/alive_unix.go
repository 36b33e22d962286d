//go:build !windows

package proc

import (
	"errors"
	"syscall"
)

// Alive reports whether a process with id pid exists. A process that
// exists but belongs to another user is alive (EPERM).
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
