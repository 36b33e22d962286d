package fileregistry_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/transfer"
	"github.com/processfork/pf/internal/transfer/fileregistry"
	"github.com/processfork/pf/internal/transfer/refdir"
	"github.com/processfork/pf/internal/transfer/transfertest"
	"github.com/processfork/pf/manifest"
)

var ctx = context.Background()

type place struct{ root, key string }

func (p place) Export(ctx context.Context, s *pf.Store, ids []manifest.Digest, opts transfer.ExportOptions) (*transfer.Report, error) {
	sink, err := fileregistry.Create(p.root, p.key)
	if err != nil {
		return nil, err
	}
	return transfer.Export(ctx, s, ids, sink, opts)
}

func (p place) Source(t *testing.T) transfer.Source { return fileregistry.Open(p.root, p.key) }

func (p place) Corrupt(t *testing.T, d manifest.Digest) {
	if err := os.WriteFile(refdir.BlobPath(p.root, d), []byte("not zstd"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (p place) Remove(t *testing.T, d manifest.Digest) {
	if err := os.Remove(refdir.BlobPath(p.root, d)); err != nil {
		t.Fatal(err)
	}
}

func TestFileRegistry_Conformance(t *testing.T) {
	transfertest.Run(t, transfertest.Traits{OneImage: true}, func(t *testing.T) transfertest.Place {
		return place{root: filepath.Join(t.TempDir(), "reg"), key: "shared-secret"}
	})
}

// The signature is checked before anything is parsed: a manifest changed
// after the push, or a pull under another key, stores nothing.
func TestFileRegistry_Pull_RefusesABadSignature(t *testing.T) {
	src, im := transfertest.NewHistory(t)
	root := filepath.Join(t.TempDir(), "reg")
	p := place{root: root}
	if rep, err := p.Export(ctx, src, []manifest.Digest{im.Root}, transfer.ExportOptions{}); err != nil || rep.Err() != nil {
		t.Fatal(err, rep.Err())
	}
	for _, tt := range []struct {
		name, key string
		damage    func()
	}{
		{"another key", "not the key", func() {}},
		{"a manifest changed", "", func() {
			b, _ := os.ReadFile(filepath.Join(root, "manifest.json"))
			os.WriteFile(filepath.Join(root, "manifest.json"), append(b, ' '), 0o644)
		}},
		{"no signature", "", func() { os.Remove(filepath.Join(root, "manifest.json.sig")) }},
	} {
		tt.damage()
		dst := transfertest.OpenStore(t)
		_, err := transfer.Import(ctx, dst, fileregistry.Open(root, tt.key), transfer.ImportOptions{Shallow: true})
		if !errors.Is(err, pf.ErrCorrupt) || !strings.Contains(err.Error(), "sig") {
			t.Errorf("%s: %v, want ErrCorrupt about the signature", tt.name, err)
		}
		if st, _ := dst.Stats(ctx); st.Images != 0 || st.Blobs != 0 {
			t.Errorf("%s: the store took %d images, %d blobs", tt.name, st.Images, st.Blobs)
		}
	}
}
