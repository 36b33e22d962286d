package ocilayout_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/transfer"
	"github.com/processfork/pf/internal/transfer/ocilayout"
	"github.com/processfork/pf/internal/transfer/transfertest"
	"github.com/processfork/pf/manifest"
)

type place struct {
	path string // a directory, or a tar file
	tar  bool
	sink *ocilayout.Sink
}

func (p *place) Export(ctx context.Context, s *pf.Store, ids []manifest.Digest, opts transfer.ExportOptions) (*transfer.Report, error) {
	var err error
	if !p.tar {
		if p.sink, err = ocilayout.CreateDir(p.path, ""); err != nil {
			return nil, err
		}
		return transfer.Export(ctx, s, ids, p.sink, opts)
	}
	f, err := os.Create(p.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if p.sink, err = ocilayout.CreateTar(f, "", ""); err != nil {
		return nil, err
	}
	return transfer.Export(ctx, s, ids, p.sink, opts)
}

func (p *place) Source(t *testing.T) transfer.Source {
	src, err := ocilayout.Open(p.path, "")
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func (p *place) name(t *testing.T, d manifest.Digest) string {
	l, ok := p.sink.Layer(d)
	if !ok {
		t.Fatalf("no layer of blob %s", d.Short())
	}
	return "blobs/sha256/" + l.Digest.Hex()
}

// edit rewrites the file name of the layout with fn (nil removes it).
func (p *place) edit(t *testing.T, name string, fn func([]byte) []byte) {
	if !p.tar {
		path := filepath.Join(p.path, name)
		if fn == nil {
			os.Remove(path)
			return
		}
		b, _ := os.ReadFile(path)
		os.WriteFile(path, fn(b), 0o644)
		return
	}
	old, _ := os.ReadFile(p.path)
	var out bytes.Buffer
	tr, tw := tar.NewReader(bytes.NewReader(old)), tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		b, _ := io.ReadAll(tr)
		if h.Name == name {
			if fn == nil {
				continue
			}
			b = fn(b)
		}
		h.Size = int64(len(b))
		tw.WriteHeader(h)
		tw.Write(b)
	}
	tw.Close()
	os.WriteFile(p.path, out.Bytes(), 0o644)
}

func (p *place) Corrupt(t *testing.T, d manifest.Digest) {
	p.edit(t, p.name(t, d), func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b })
}

func (p *place) Remove(t *testing.T, d manifest.Digest) { p.edit(t, p.name(t, d), nil) }

func TestLayoutDir_Conformance(t *testing.T) {
	transfertest.Run(t, transfertest.Traits{Tags: true}, func(t *testing.T) transfertest.Place {
		return &place{path: filepath.Join(t.TempDir(), "layout")}
	})
}

func TestLayoutTar_Conformance(t *testing.T) {
	transfertest.Run(t, transfertest.Traits{Tags: true, Anew: true}, func(t *testing.T) transfertest.Place {
		return &place{path: filepath.Join(t.TempDir(), "layout.tar"), tar: true}
	})
}
