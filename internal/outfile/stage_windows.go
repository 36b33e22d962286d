package outfile

import (
	"os"
	"path/filepath"
)

// tempPending stages a file beside its target; renameio does not build on
// Windows, where os.Rename replaces the target (MoveFileEx with
// MOVEFILE_REPLACE_EXISTING).
type tempPending struct {
	*os.File
	target string
}

func stage(target string) (pending, error) {
	f, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*.tmp")
	if err != nil {
		return nil, err
	}
	return &tempPending{f, target}, nil
}

func (p *tempPending) replace() error {
	err := p.Sync()
	if cerr := p.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(p.Name(), p.target)
	}
	if err != nil {
		os.Remove(p.Name())
	}
	return err
}

func (p *tempPending) discard() error {
	p.File.Close()
	return os.Remove(p.Name())
}
