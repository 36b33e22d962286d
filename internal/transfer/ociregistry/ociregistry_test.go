package ociregistry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/ociimage"
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

var ctx = context.Background()

func ref(t *testing.T, reg *registrytest.Server, repoTag string) ociregistry.Ref {
	t.Helper()
	r, err := ociregistry.ParseRef("oci://" + reg.Addr + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// push pushes image id, with its ancestors, to the tag of r.
func push(t *testing.T, s *pf.Store, r ociregistry.Ref, id manifest.Digest, opts ociregistry.Options, obs transfer.Observer) (*transfer.Report, *ociregistry.Sink, error) {
	t.Helper()
	sink, err := ociregistry.Create(ctx, r, id, true, opts)
	if err != nil {
		return nil, nil, err
	}
	rep, err := transfer.Export(ctx, s, []manifest.Digest{id}, sink, transfer.ExportOptions{Ancestors: true, Observer: obs})
	if err == nil {
		err = rep.Err()
	}
	return rep, sink, err
}

func pull(t *testing.T, dst *pf.Store, r ociregistry.Ref, opts ociregistry.Options) (*transfer.Report, error) {
	t.Helper()
	src, err := ociregistry.Open(ctx, r, opts)
	if err != nil {
		return nil, err
	}
	rep, err := transfer.Import(ctx, dst, src, transfer.ImportOptions{Ancestors: true, Shallow: true})
	if err == nil {
		err = rep.Err()
	}
	return rep, err
}

// place pushes each image exported to a tag of its own, with its
// ancestors, and reads them back by those tags.
type place struct {
	reg   *registrytest.Server
	tags  []ociregistry.Ref
	sinks []*ociregistry.Sink
}

func (p *place) Export(ctx context.Context, s *pf.Store, ids []manifest.Digest, opts transfer.ExportOptions) (*transfer.Report, error) {
	all := &transfer.Report{}
	p.tags, p.sinks = nil, nil
	for i, id := range ids {
		r, _ := ociregistry.ParseRef(fmt.Sprintf("oci://%s/conformance:t%d", p.reg.Addr, i))
		sink, err := ociregistry.Create(ctx, r, id, true, ociregistry.Options{})
		if err != nil {
			return nil, err
		}
		rep, err := transfer.Export(ctx, s, []manifest.Digest{id}, sink, opts)
		if err != nil {
			return nil, err
		}
		p.tags, p.sinks = append(p.tags, r), append(p.sinks, sink)
		for _, img := range rep.Images {
			if !containsImage(all.Images, img.ID) {
				all.Images = append(all.Images, img)
			}
		}
		all.Blobs += rep.Blobs
	}
	return all, nil
}

func containsImage(imgs []transfer.ImageResult, id manifest.Digest) bool {
	for _, img := range imgs {
		if img.ID == id {
			return true
		}
	}
	return false
}

func (p *place) Source(t *testing.T) transfer.Source {
	var m multiSource
	for _, r := range p.tags {
		src, err := ociregistry.Open(ctx, r, ociregistry.Options{})
		if err != nil {
			t.Fatal(err)
		}
		m = append(m, src)
	}
	return m
}

func (p *place) blobFile(t *testing.T, d manifest.Digest) string {
	for _, s := range p.sinks {
		if l, ok := s.Layer(d); ok {
			return p.reg.BlobFile(l.Digest.Hex())
		}
	}
	t.Fatalf("no layer holds blob %s", d.Short())
	return ""
}

// Corrupt flips a byte in the middle of the blob's layer, in the
// registry's storage: the size stays, the bytes are wrong.
func (p *place) Corrupt(t *testing.T, d manifest.Digest) {
	path := p.blobFile(t, d)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (p *place) Remove(t *testing.T, d manifest.Digest) {
	if err := os.Remove(p.blobFile(t, d)); err != nil {
		t.Fatal(err)
	}
}

// multiSource reads several tags as one source.
type multiSource []*ociregistry.Source

func (m multiSource) Images(ctx context.Context) ([]transfer.Image, error) {
	var out []transfer.Image
	for _, s := range m {
		imgs, err := s.Images(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, imgs...)
	}
	return out, nil
}

func (m multiSource) Find(ctx context.Context, id manifest.Digest) (transfer.Image, bool, error) {
	return m[0].Find(ctx, id)
}

func (m multiSource) Open(ctx context.Context, d manifest.Digest) (io.ReadCloser, error) {
	var err error
	for _, s := range m {
		var r io.ReadCloser
		if r, err = s.Open(ctx, d); err == nil || !errors.Is(err, pf.ErrNotFound) || !strings.Contains(err.Error(), "no layer") {
			return r, err
		}
	}
	return nil, err
}

func (m multiSource) Close() error { return nil }

func TestRegistry_Conformance(t *testing.T) {
	if testing.Short() {
		t.Skip("the suite against a registry takes a minute; TestRegistry_OnlyWhatIsMissingMoves covers push and pull in -short")
	}
	reg := registrytest.Start(t, registrytest.Options{})
	transfertest.Run(t, transfertest.Traits{}, func(t *testing.T) transfertest.Place {
		return &place{reg: reg}
	})
}

// A push and a pull keep ids; a second push uploads no blob; a pull into a
// store that has some of the blobs fetches only the rest, and one of an
// image whose blobs are all here fetches only the manifest, its config
// and its signature.
func TestRegistry_OnlyWhatIsMissingMoves(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	src, im := transfertest.NewHistory(t)
	r := ref(t, reg, "agents/demo:v1")
	if _, _, err := push(t, src, r, im.Big, ociregistry.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	if n := reg.Requests("PUT", registrytest.BlobUploads); n == 0 {
		t.Fatalf("the first push uploaded nothing:\n%s", reg.Log())
	}
	reg.ResetLog()
	rep, _, err := push(t, src, r, im.Big, ociregistry.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := reg.Requests("PUT", registrytest.BlobUploads) + reg.Requests("POST", registrytest.BlobUploads) + reg.Requests("PATCH", registrytest.BlobUploads); n != 0 || rep.Blobs != 0 {
		t.Fatalf("the second push: %d upload requests, %d blobs sent; want none", n, rep.Blobs)
	}

	dst := transfertest.OpenStore(t)
	if rep, err := pull(t, dst, r, ociregistry.Options{}); err != nil || rep.Count(transfer.Imported) != 3 {
		t.Fatalf("pull: %v; %s", err, transfertest.Describe(rep))
	}
	for _, id := range []manifest.Digest{im.Root, im.Fork, im.Big} {
		transfertest.SameImage(t, src, dst, id)
	}

	// The root alone pulled first (by its id's tag), then the rest: only
	// the blobs the root lacks come.
	part := transfertest.OpenStore(t)
	if _, err := pull(t, part, ref(t, reg, "agents/demo:sha256-"+im.Root.Hex()), ociregistry.Options{}); err != nil {
		t.Fatal(err)
	}
	reg.ResetLog()
	rep, err = pull(t, part, r, ociregistry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PresentBlobs == 0 || rep.Blobs == 0 {
		t.Fatalf("pull into a store with the root: %d fetched, %d present", rep.Blobs, rep.PresentBlobs)
	}

	// Everything here: the pull reads the manifests, configs and
	// signatures, and no blob.
	other := ref(t, reg, "agents/copy:v1")
	if _, _, err := push(t, src, other, im.Big, ociregistry.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	fresh := transfertest.OpenStore(t)
	for _, id := range []manifest.Digest{im.Root, im.Fork, im.Big} {
		blobs, _ := src.Reached(ctx, id)
		for _, b := range blobs {
			data, _ := src.Blobs().Get(ctx, b.Digest)
			fresh.Blobs().PutBytes(ctx, data)
		}
	}
	reg.ResetLog()
	rep, err = pull(t, fresh, other, ociregistry.Options{})
	if err != nil || rep.Blobs != 0 {
		t.Fatalf("pull with every blob here: %d blobs fetched, %v", rep.Blobs, err)
	}
	if n := reg.Requests("GET", regexpOf(`/blobs/sha256:`)); n != 6 {
		t.Fatalf("pull with every blob here: %d blob GETs, want 6 (a config and a signature for each of 3 images)\n%s", n, reg.Log())
	}
}

// The registry killed in the middle of a push: the push fails; restarted,
// the same push completes and uploads only what had not arrived.
func TestRegistry_Push_KilledAndRunAgainCompletes(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a registry")
	}
	reg := registrytest.Start(t, registrytest.Options{})
	src, im := transfertest.NewHistory(t)
	r := ref(t, reg, "agents/demo:v1")
	var done atomic.Int64
	kill := &killAfter{n: 40, done: &done, kill: reg.Kill}
	if _, _, err := push(t, src, r, im.Big, ociregistry.Options{}, kill); err == nil {
		t.Fatal("the push went through a registry that was killed")
	}
	reg.Restart()
	reg.ResetLog()
	rep, _, err := push(t, src, r, im.Big, ociregistry.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	blobs, _ := src.Reached(ctx, im.Big)
	total := len(blobs)
	uploads := reg.Requests("PUT", registrytest.BlobUploads)
	if uploads == 0 || rep.Blobs == 0 || uploads >= total+6 {
		t.Fatalf("the push run again uploaded %d blobs (%d requests); the images reach more than %d", rep.Blobs, uploads, total)
	}
	dst := transfertest.OpenStore(t)
	if _, err := pull(t, dst, r, ociregistry.Options{}); err != nil {
		t.Fatal(err)
	}
	transfertest.SameImage(t, src, dst, im.Big)
}

// killAfter kills the registry once n blobs have moved.
type killAfter struct {
	n    int64
	done *atomic.Int64
	kill func()
}

func (k *killAfter) Planned(int, int64) {}
func (k *killAfter) Moving(manifest.Digest, int64) func(int64) {
	return func(n int64) {
		if n < 0 && k.done.Add(1) == k.n {
			k.kill()
		}
	}
}
func (k *killAfter) Done(transfer.ImageResult) {}

func TestRegistry_AuthAndTLS(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{Auth: true, TLS: true})
	src, im := transfertest.NewHistory(t)
	r := ref(t, reg, "private/demo:v1")
	env := func(user, pass string) func(string) string {
		return func(k string) string {
			return map[string]string{"OCI_USERNAME": user, "OCI_PASSWORD": pass}[k]
		}
	}
	good := ociregistry.Options{Client: reg.Client(), Getenv: env(registrytest.User, registrytest.Password)}
	if _, _, err := push(t, src, r, im.Fork, good, nil); err != nil {
		t.Fatal(err)
	}
	dst := transfertest.OpenStore(t)
	if _, err := pull(t, dst, r, good); err != nil {
		t.Fatal(err)
	}
	transfertest.SameImage(t, src, dst, im.Fork)

	bad := ociregistry.Options{Client: reg.Client(), Getenv: env(registrytest.User, "wrong")}
	_, err := pull(t, transfertest.OpenStore(t), r, bad)
	if err == nil || !strings.Contains(err.Error(), "refused the credentials (401") {
		t.Fatalf("pull with a wrong password: %v", err)
	}
	if _, _, err := push(t, src, r, im.Fork, bad, nil); err == nil || !strings.Contains(err.Error(), "refused the credentials") {
		t.Fatalf("push with a wrong password: %v", err)
	}
	// Without the certificate trusted, https fails: pf never falls back
	// to plain http for a server that speaks TLS.
	if _, err := pull(t, transfertest.OpenStore(t), r, ociregistry.Options{Getenv: good.Getenv}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("pull without trusting the certificate: %v", err)
	}
}

// A manifest that is not a pf image's is refused, and nothing is stored.
func TestRegistry_Pull_RefusesAnotherKindOfImage(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	repo, err := remote.NewRepository(reg.Addr + "/other/image")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	cdesc := ocispec.Descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: digest.FromBytes(config), Size: int64(len(config))}
	if err := repo.Push(ctx, cdesc, bytes.NewReader(config)); err != nil {
		t.Fatal(err)
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[]}`,
		ociimage.MediaTypeManifest, cdesc.MediaType, cdesc.Digest, cdesc.Size)
	mdesc := ocispec.Descriptor{MediaType: ociimage.MediaTypeManifest, Digest: digest.FromString(m), Size: int64(len(m))}
	if err := repo.PushReference(ctx, mdesc, strings.NewReader(m), "latest"); err != nil {
		t.Fatal(err)
	}
	dst := transfertest.OpenStore(t)
	_, err = pull(t, dst, ref(t, reg, "other/image"), ociregistry.Options{})
	if !errors.Is(err, ociimage.ErrNotPF) || !strings.Contains(err.Error(), "config media type") {
		t.Fatalf("pull of a container image: %v", err)
	}
	if st, _ := dst.Stats(ctx); st.Images != 0 || st.Blobs != 0 {
		t.Fatalf("the store took %d images, %d blobs", st.Images, st.Blobs)
	}
}

func TestParseRef(t *testing.T) {
	for in, want := range map[string]string{
		"oci://localhost:5000/alice/sess":    "oci://localhost:5000/alice/sess:latest",
		"oci://ghcr.io/manav/processfork:v1": "oci://ghcr.io/manav/processfork:v1",
	} {
		r, err := ociregistry.ParseRef(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseRef(%q) = %s, %v; want %s", in, r, err, want)
		}
	}
	for _, bad := range []string{"localhost:5000/x", "oci://", "oci://host", "oci://host/UPPER"} {
		if _, err := ociregistry.ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q) succeeded", bad)
		}
	}
}

func regexpOf(s string) *regexp.Regexp { return regexp.MustCompile(s) }

// oras copies a layout pf wrote to a registry, and pf pulls the image
// from there with its id: the layout is one other tools read.
func TestRegistry_OrasCopiesALayoutPfWrote(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	src, im := transfertest.NewHistory(t)
	dir := t.TempDir() + "/layout"
	sink, err := ocilayout.CreateDir(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Tag(ctx, "v1", im.Fork); err != nil {
		t.Fatal(err)
	}
	if rep, err := transfer.Export(ctx, src, []manifest.Digest{im.Fork}, sink, transfer.ExportOptions{Tags: true}); err != nil || rep.Err() != nil {
		t.Fatal(err, rep.Err())
	}
	layout, err := oci.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := remote.NewRepository(reg.Addr + "/copied/image")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	if _, err := oras.Copy(ctx, layout, "v1", repo, "v1", oras.DefaultCopyOptions); err != nil {
		t.Fatal(err)
	}
	dst := transfertest.OpenStore(t)
	if _, err := pull(t, dst, ref(t, reg, "copied/image:v1"), ociregistry.Options{}); err != nil {
		t.Fatal(err)
	}
	transfertest.SameImage(t, src, dst, im.Fork)
}

// largePages is a cache layer whose pages are random blobs of the sizes
// given, each over the size above which a push spools a blob's frame.
type largePages struct{ sizes []int64 }

func (c largePages) CaptureCache(ctx context.Context, bw pf.BlobWriter) (manifest.Cache, error) {
	src := rand.NewChaCha8([32]byte{7})
	cp := manifest.CachePages{Layout: manifest.DefaultCacheLayout, Dtype: manifest.DtypeBF16}
	empty, err := bw.PutBytes(ctx, nil)
	if err != nil {
		return manifest.Cache{}, err
	}
	for i, n := range c.sizes {
		k, err := bw.Put(ctx, io.LimitReader(src, n))
		if err != nil {
			return manifest.Cache{}, err
		}
		cp.Pages = append(cp.Pages, manifest.CachePage{Ix: i, K: k, V: empty})
	}
	pages, err := cp.Encode()
	if err != nil {
		return manifest.Cache{}, err
	}
	d, err := bw.PutBytes(ctx, pages)
	return manifest.Cache{Manifest: d}, err
}

// Large blobs go through spool files that a push reuses from blob to
// blob, a longer one before a shorter: each layer uploads whole, and no
// spool is left in the spool directory.
func TestRegistry_Push_SpooledBlobsComeBackWhole(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	src := transfertest.OpenStore(t)
	const mib = 1 << 20
	id, err := src.Snapshot(ctx, pf.Snapshot{
		Agent: manifest.Agent{Kind: "test", Version: "1"},
		// More blobs than move at once, so that spools are reused; sizes
		// that fall and rise, so that a spool is written shorter than it was.
		Cache: largePages{[]int64{9 * mib, 5*mib + 1, 12 * mib, 6 * mib, 5*mib + 7, 8 * mib, 4*mib + 3, 10 * mib}},
	})
	if err != nil {
		t.Fatal(err)
	}
	spoolDir := t.TempDir()
	r := ref(t, reg, "agents/spooled:v1")
	rep, _, err := push(t, src, r, id, ociregistry.Options{SpoolDir: spoolDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Blobs < 8 {
		t.Fatalf("the push sent %d blobs, want the 8 pages and more", rep.Blobs)
	}
	if left, _ := os.ReadDir(spoolDir); len(left) != 0 {
		t.Fatalf("the push left %d files in its spool directory", len(left))
	}
	dst := transfertest.OpenStore(t)
	if _, err := pull(t, dst, r, ociregistry.Options{}); err != nil {
		t.Fatal(err)
	}
	transfertest.SameImage(t, src, dst, id)
}
