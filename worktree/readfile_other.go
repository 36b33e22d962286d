//go:build !linux

package worktree

// openToRead opens a file the walk found, as openForRead does.
func openToRead(path string) (readFile, error) {
	f, err := openForRead(path)
	if err != nil {
		return nil, err
	}
	return f, nil
}
