//go:build unix && !linux

package worktree

// openDirBeneath opens the directory rel under the directory root, one
// component at a time: openat2 is Linux's alone.
func openDirBeneath(root int, rel string) (int, error) { return openDirStepwise(root, rel) }
