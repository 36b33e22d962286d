//go:build !linux

package worktree

// renameNoReplace renames the staging directory into place unless
// something is already at newpath.
func renameNoReplace(oldpath, newpath string) error {
	return renameIfAbsent(oldpath, newpath)
}
