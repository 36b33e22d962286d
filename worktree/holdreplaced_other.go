//go:build unix && !linux

package worktree

// holdReplaced holds nothing where there is no O_PATH: opening the entry
// to hold it could open a device or a pipe.
func holdReplaced(dirfd int, name string) int { return -1 }
