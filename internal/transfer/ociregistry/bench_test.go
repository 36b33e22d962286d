package ociregistry_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/transfer"
	"github.com/processfork/pf/internal/transfer/ocilayout"
	"github.com/processfork/pf/internal/transfer/ociregistry"
	"github.com/processfork/pf/internal/transfer/ociregistry/registrytest"
	"github.com/processfork/pf/internal/transfer/transfertest"
	"github.com/processfork/pf/manifest"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/registry/remote"
)

// randomBlobs is a cache layer of n random pages of size bytes each.
type randomBlobs struct{ n, size int }

func (r randomBlobs) CaptureCache(ctx context.Context, w pf.BlobWriter) (manifest.Cache, error) {
	src := rand.NewChaCha8([32]byte{9})
	pages := fmt.Appendf(nil, `{"layout":"paged-batchinvariant-v1","page_size_tokens":16,"n_layers":1,"n_heads":1,"head_dim":1,"dtype":"bf16","pages":[`)
	for i := range r.n {
		k, err := w.Put(ctx, io.LimitReader(src, int64(r.size)))
		if err != nil {
			return manifest.Cache{}, err
		}
		v, err := w.PutBytes(ctx, nil)
		if err != nil {
			return manifest.Cache{}, err
		}
		if i > 0 {
			pages = append(pages, ',')
		}
		pages = fmt.Appendf(pages, `{"ix":%d,"k":"%s","v":"%s"}`, i, k, v)
	}
	pages = append(pages, `],"logical_seqs":[]}`...)
	d, err := w.PutBytes(ctx, pages)
	return manifest.Cache{Layout: manifest.DefaultCacheLayout, Manifest: d}, err
}

// benchBytes is what the registry benchmarks move: 1 GiB by default,
// $PF_BENCH_REGISTRY_MIB otherwise.
func benchBytes() int64 {
	if n, err := strconv.Atoi(os.Getenv("PF_BENCH_REGISTRY_MIB")); err == nil && n > 0 {
		return int64(n) << 20
	}
	return 1 << 30
}

// BenchmarkRegistry moves an image of random blobs (64 of 1/64 of the
// total) to and from a registry on loopback: pf push and pull against
// oras-go alone copying the same image as an OCI layout (oras.Copy), in
// the same run. Compare the MB/s of pf to oras's:
//
//	go test ./internal/transfer/ociregistry -run '^$' -bench Registry -benchtime 1x -count 3
func BenchmarkRegistry(b *testing.B) {
	total := benchBytes()
	s := transfertest.OpenStore(b)
	id, err := s.Snapshot(context.Background(), pf.Snapshot{Agent: manifest.Agent{Kind: "bench", Version: "1", Fingerprint: "f"}, Cache: randomBlobs{64, int(total / 64)}})
	if err != nil {
		b.Fatal(err)
	}
	layoutDir := filepath.Join(b.TempDir(), "layout")
	sink, err := ocilayout.CreateDir(layoutDir, "")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Tag(ctx, "v1", id); err != nil {
		b.Fatal(err)
	}
	if rep, err := transfer.Export(ctx, s, []manifest.Digest{id}, sink, transfer.ExportOptions{Tags: true}); err != nil || rep.Err() != nil {
		b.Fatal(err, rep.Err())
	}
	layout, err := oci.New(layoutDir)
	if err != nil {
		b.Fatal(err)
	}
	reg := registrytest.Start(b, registrytest.Options{})
	n := 0
	newRepo := func() string { n++; return fmt.Sprintf("%s/bench/r%d", reg.Addr, n) }
	orasRepo := func(name string) *remote.Repository {
		repo, err := remote.NewRepository(name)
		if err != nil {
			b.Fatal(err)
		}
		repo.PlainHTTP = true
		return repo
	}
	pfPush := func(name string) {
		r, _ := ociregistry.ParseRef("oci://" + name + ":v1")
		sink, err := ociregistry.Create(ctx, r, id, false, ociregistry.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if rep, err := transfer.Export(ctx, s, []manifest.Digest{id}, sink, transfer.ExportOptions{}); err != nil || rep.Err() != nil {
			b.Fatal(err, rep.Err())
		}
	}
	b.Run("push/pf", func(b *testing.B) {
		b.SetBytes(total)
		for range b.N {
			pfPush(newRepo())
		}
	})
	b.Run("push/oras", func(b *testing.B) {
		b.SetBytes(total)
		for range b.N {
			if _, err := oras.Copy(ctx, layout, "v1", orasRepo(newRepo()), "v1", oras.DefaultCopyOptions); err != nil {
				b.Fatal(err)
			}
		}
	})
	pulled := newRepo()
	pfPush(pulled)
	b.Run("pull/pf", func(b *testing.B) {
		b.SetBytes(total)
		for range b.N {
			b.StopTimer()
			dst := transfertest.OpenStore(b)
			r, _ := ociregistry.ParseRef("oci://" + pulled + ":v1")
			b.StartTimer()
			src, err := ociregistry.Open(ctx, r, ociregistry.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if rep, err := transfer.Import(ctx, dst, src, transfer.ImportOptions{Shallow: true}); err != nil || rep.Err() != nil {
				b.Fatal(err, rep.Err())
			}
		}
	})
	b.Run("pull/oras", func(b *testing.B) {
		b.SetBytes(total)
		for range b.N {
			b.StopTimer()
			dst, err := oci.New(filepath.Join(b.TempDir(), "pulled"))
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := oras.Copy(ctx, orasRepo(pulled), "v1", dst, "v1", oras.DefaultCopyOptions); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A pull of an image whose blobs are all here moves only the
	// manifest, its config and its signature.
	b.Run("pull-present/pf", func(b *testing.B) {
		r, _ := ociregistry.ParseRef("oci://" + pulled + ":v1")
		for range b.N {
			src, err := ociregistry.Open(ctx, r, ociregistry.Options{})
			if err != nil {
				b.Fatal(err)
			}
			rep, err := transfer.Import(ctx, s, src, transfer.ImportOptions{Shallow: true})
			if err != nil || rep.Err() != nil || rep.Blobs != 0 {
				b.Fatal(err, rep.Err(), rep.Blobs)
			}
		}
	})
}
