package bench

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/ociimage"
	"github.com/processfork/pf/internal/transfer"
	"github.com/processfork/pf/internal/transfer/ociregistry"
	"github.com/processfork/pf/internal/transfer/ociregistry/registrytest"
	"github.com/processfork/pf/manifest"
)

// The pull's receive limit receives a pushed image from a real registry
// and checks every blob against its digest; the limits that store what
// they receive into bbolt store every byte of the image's blobs; the blobs made again in memory
// are the image's, and blobs made with other sizes are refused.
func TestRegistryLimits_ReceiveAndMakeAgain(t *testing.T) {
	ctx := context.Background()
	ri := RegistryImages{Blobs: 3, BlobSize: 3 << 20, SmallBlobs: 2, SmallSize: 1 << 10}
	path := filepath.Join(t.TempDir(), "src.pf")
	if err := writeRegistryImages(ctx, path, ri); err != nil {
		t.Fatal(err)
	}
	s, err := pf.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := s.ResolveImage(ctx, tagLarge)
	if err != nil {
		t.Fatal(err)
	}
	reg := registrytest.Start(t, registrytest.Options{})
	const repo = "bench/limits"
	ref, err := ociregistry.ParseRef("oci://" + reg.Addr + "/" + repo + ":" + tagLarge)
	if err != nil {
		t.Fatal(err)
	}
	opts := ociregistry.Options{PlainHTTP: true}
	sink, err := ociregistry.Create(ctx, ref, id, false, opts)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := transfer.Export(ctx, s, []manifest.Digest{id}, sink, transfer.ExportOptions{})
	if err == nil {
		err = rep.Err()
	}
	if err != nil {
		t.Fatal(err)
	}

	layers, err := imageLayers(ctx, reg.Addr, repo, tagLarge)
	if err != nil {
		t.Fatal(err)
	}
	buffers := make(chan *bytes.Buffer, receiveAtOnce)
	for range receiveAtOnce {
		buffers <- new(bytes.Buffer)
	}
	for round := range 2 { // the second reuses the buffers
		if d, err := receiveImage(ctx, ref, layers, buffers); err != nil || d <= 0 {
			t.Fatalf("round %d: receive = %v, %v", round, d, err)
		}
	}

	var want int64 // the bytes of every layer's blob
	for _, l := range layers {
		info, err := s.Blobs().Stat(ctx, l.Blob)
		if err != nil {
			t.Fatal(err)
		}
		want += info.Size
	}
	for _, limit := range []struct {
		name    string
		receive func(context.Context, ociregistry.Ref, []ociimage.Layer, string) (time.Duration, int64, error)
	}{{"receive into bbolt", receiveIntoBolt}, {"receive, cut, hash into bbolt", receiveCutHashIntoBolt}} {
		for round := range 2 { // a new file each round
			d, stored, err := limit.receive(ctx, ref, layers, t.TempDir())
			if err != nil || d <= 0 || stored != want {
				t.Fatalf("%s, round %d: %v, %d bytes stored, %v; want %d bytes", limit.name, round, d, stored, err, want)
			}
		}
	}

	blobs, err := registryBlobs(ri, layers)
	if err != nil || len(blobs) != ri.Blobs {
		t.Fatalf("made again: %d blobs, %v", len(blobs), err)
	}
	other := ri
	other.BlobSize = 2 << 20
	if _, err := registryBlobs(other, layers); err == nil || !strings.Contains(err.Error(), "does not name") {
		t.Fatalf("blobs of another size made again: %v, want refused", err)
	}
}

// cutAndHash returns the blob's SHA-256 whether a put keeps it whole or
// cuts it.
func TestCutAndHash_DigestOfTheBlob(t *testing.T) {
	for _, size := range []int{0, 1000, 1 << 20, 1<<20 + 1, 5 << 20} {
		b := bytes.Repeat([]byte{byte(size), 7, 1, 3, 5}, size/5+1)[:size]
		for i := range b {
			b[i] ^= byte(i * 31 >> 3)
		}
		d, err := cutAndHash(b, func([32]byte, []byte) error { return nil })
		if err != nil || d != manifest.Sum(b) {
			t.Errorf("%d bytes: %s, %v; want %s", size, d, err, manifest.Sum(b))
		}
	}
}
