package worktree

import (
	"errors"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// noOpenat2 is set once the kernel has refused openat2 (before Linux
// 5.6, or under a seccomp filter that denies it): directories are then
// opened a component at a time.
var noOpenat2 atomic.Bool

// openDirBeneath opens the directory rel under the directory root as
// openDirStepwise does, in one openat2 call: RESOLVE_NO_SYMLINKS refuses
// a link in any component (ELOOP), O_DIRECTORY a component that is not a
// directory (ENOTDIR), and RESOLVE_BENEATH a path that would leave root.
// A restore opens the parent of every path it changes: a component a
// call, a file four deep took eight calls to reach, more than its write.
func openDirBeneath(root int, rel string) (int, error) {
	if !noOpenat2.Load() {
		fd, err := unix.Openat2(root, rel, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH,
		})
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM), errors.Is(err, unix.EINVAL), errors.Is(err, unix.E2BIG):
			noOpenat2.Store(true)
		case !errors.Is(err, unix.EAGAIN): // EAGAIN: a rename raced the lookup
			return -1, err
		}
	}
	return openDirStepwise(root, rel)
}
