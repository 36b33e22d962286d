package worktree

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/processfork/pf/manifest"
)

// ReadCID reads the image id in dir/.pfcid. ok is false, with no error,
// when there is no such file.
func ReadCID(dir string) (id manifest.Digest, ok bool, err error) {
	path := filepath.Join(dir, CIDFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return id, false, nil
	}
	if err != nil {
		return id, false, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return id, false, fmt.Errorf("%s: %w", path, err)
	}
	id, err = manifest.ParseDigest(string(bytes.TrimSpace(b)))
	if err != nil {
		return id, false, fmt.Errorf("%s: %w", path, err)
	}
	return id, true, nil
}

// WriteCID records id in dir/.pfcid, replacing the file whole (and a
// symbolic link there rather than its target), so that the next capture of
// dir names id as its parent.
func WriteCID(dir string, id manifest.Digest) error {
	f, err := os.CreateTemp(dir, CIDFile+".tmp-*")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(f, id)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, CIDFile))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", filepath.Join(dir, CIDFile), err)
	}
	return nil
}
