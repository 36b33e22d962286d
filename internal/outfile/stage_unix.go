//go:build !windows

package outfile

import (
	"path/filepath"

	"github.com/google/renameio/v2"
)

// renamePending is a renameio pending file, staged in its target's
// directory.
type renamePending struct {
	*renameio.PendingFile
	dir string
}

func stage(target string) (pending, error) {
	dir := filepath.Dir(target)
	p, err := renameio.NewPendingFile(target,
		renameio.WithTempDir(dir), // never os.TempDir(): only where the user pointed
		renameio.WithPermissions(0o666),
		renameio.WithExistingPermissions())
	if err != nil {
		return nil, err
	}
	return &renamePending{p, dir}, nil
}

func (p *renamePending) replace() error {
	if err := p.CloseAtomicallyReplace(); err != nil {
		p.Cleanup()
		return err
	}
	return syncDir(p.dir)
}

func (p *renamePending) discard() error { return p.Cleanup() }
