package transfer_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/cas/castest"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/transfer"
	"github.com/processfork/pf/internal/transfer/transfertest"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// bundle is a pf store file written by ExportBundle.
type bundle struct{ path string }

func (b bundle) Export(ctx context.Context, s *pf.Store, ids []manifest.Digest, opts transfer.ExportOptions) (*transfer.Report, error) {
	dst, err := pf.Open(b.path, nil)
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	return transfer.ExportBundle(ctx, s, ids, dst, opts.Tags, nil)
}

func (b bundle) Source(t *testing.T) transfer.Source {
	src, err := transfer.OpenBundle(b.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func (b bundle) damage(t *testing.T, fn func(tx *bolt.Tx) error) {
	t.Helper()
	bdb, err := bolt.Open(b.path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	if err := bdb.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func (b bundle) Corrupt(t *testing.T, d manifest.Digest) {
	b.damage(t, func(tx *bolt.Tx) error { return castest.Damage(tx, db.BucketBlobs, d) })
}

func (b bundle) Remove(t *testing.T, d manifest.Digest) {
	b.damage(t, func(tx *bolt.Tx) error { return castest.Remove(tx, db.BucketBlobs, d) })
}

func TestBundle_Conformance(t *testing.T) {
	transfertest.Run(t, transfertest.Traits{Tags: true}, func(t *testing.T) transfertest.Place {
		return bundle{filepath.Join(t.TempDir(), "export.pf")}
	})
}
