package bench

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/transfer"
	"github.com/processfork/pf/internal/transfer/ociregistry"
	"github.com/processfork/pf/internal/transfer/ociregistry/registrytest"
	"github.com/processfork/pf/manifest"
)

// The pull's receive limit receives a pushed image from a real registry
// and checks every blob against its digest; the blobs made again in
// memory are the image's, and blobs made with other sizes are refused.
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

// hashAndCut returns the blob's SHA-256 whether a put keeps it whole or
// cuts it.
func TestHashAndCut_DigestOfTheBlob(t *testing.T) {
	for _, size := range []int{0, 1000, 1 << 20, 1<<20 + 1, 5 << 20} {
		b := bytes.Repeat([]byte{byte(size), 7, 1, 3, 5}, size/5+1)[:size]
		for i := range b {
			b[i] ^= byte(i * 31 >> 3)
		}
		d, _, err := hashAndCut(b)
		if err != nil || d != manifest.Sum(b) {
			t.Errorf("%d bytes: %s, %v; want %s", size, d, err, manifest.Sum(b))
		}
	}
}
