package pf_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// sendImage receives image id of src into dst as an import does: every
// blob the image reaches, then its manifest's bytes.
func sendImage(t *testing.T, src, dst *pf.Store, id manifest.Digest) (manifest.Digest, error) {
	t.Helper()
	img, err := src.Image(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := src.Reached(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	r := dst.Receive(nil)
	for _, b := range blobs {
		rd, err := src.Blobs().Open(ctx, b.Digest)
		if err != nil {
			t.Fatal(err)
		}
		n, err := r.Put(ctx, b.Digest, rd)
		rd.Close()
		if err != nil || n != b.Size {
			t.Fatalf("put %s: %d bytes, %v; want %d", b.Digest.Short(), n, err, b.Size)
		}
	}
	return r.Commit(ctx, img.Raw)
}

func TestReceiver_Commit_KeepsTheImageAndItsId(t *testing.T) {
	src, dst := openStore(t), openStore(t)
	id, err := src.Snapshot(ctx, pf.Snapshot{Agent: agent, World: files(3, 20)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := sendImage(t, src, dst, id)
	if err != nil || got != id {
		t.Fatalf("received as %s, %v; want %s", got.Short(), err, id.Short())
	}
	srcBlobs, _ := src.Reached(ctx, id)
	dstBlobs, err := dst.Reached(ctx, id)
	if err != nil || len(dstBlobs) != len(srcBlobs) || len(srcBlobs) < 20 {
		t.Fatalf("the received image reaches %d blobs (%v), the sent one %d", len(dstBlobs), err, len(srcBlobs))
	}
	// Received again: a no-op.
	if again, err := sendImage(t, src, dst, id); err != nil || again != id {
		t.Fatalf("second receive: %s, %v", again.Short(), err)
	}
}

func TestReceiver_Commit_KeepsBytesThatAreNotCanonical(t *testing.T) {
	src, dst := openStore(t), openStore(t)
	id, err := src.Snapshot(ctx, pf.Snapshot{Agent: agent, World: files(4, 2)})
	if err != nil {
		t.Fatal(err)
	}
	img, _ := src.Image(ctx, id)
	// As another writer may lay it out: spaces and a newline.
	raw := append(bytes.ReplaceAll(img.Raw, []byte(`,"`), []byte(`, "`)), '\n')
	blobs, _ := src.Reached(ctx, id)
	r := dst.Receive(nil)
	for _, b := range blobs {
		data, _ := src.Blobs().Get(ctx, b.Digest)
		if err := r.PutBytes(ctx, b.Digest, data); err != nil {
			t.Fatal(err)
		}
	}
	got, err := r.Commit(ctx, raw)
	if err != nil || got != manifest.Sum(raw) || got == id {
		t.Fatalf("committed as %s, %v; want the digest of the bytes given", got.Short(), err)
	}
	back, err := dst.Image(ctx, got)
	if err != nil || !bytes.Equal(back.Raw, raw) {
		t.Fatalf("read back %q, %v", back.Raw, err)
	}
}

func TestReceiver_Put_RefusesBytesOfAnotherDigest(t *testing.T) {
	s := openStore(t)
	r := s.Receive(nil)
	defer r.Abort()
	want := manifest.Sum([]byte("what was promised"))
	_, err := r.Put(ctx, want, strings.NewReader("what came"))
	if !errors.Is(err, pf.ErrCorrupt) || !strings.Contains(err.Error(), want.String()) {
		t.Fatalf("Put of other bytes = %v, want ErrCorrupt naming %s", err, want)
	}
	if err := r.PutBytes(ctx, want, []byte("what came")); !errors.Is(err, pf.ErrCorrupt) {
		t.Fatalf("PutBytes of other bytes = %v, want ErrCorrupt", err)
	}
}

func TestReceiver_Commit_NamesTheBlobThatDidNotArrive(t *testing.T) {
	src, dst := openStore(t), openStore(t)
	id, err := src.Snapshot(ctx, pf.Snapshot{Agent: agent, World: files(5, 3)})
	if err != nil {
		t.Fatal(err)
	}
	img, _ := src.Image(ctx, id)
	blobs, _ := src.Reached(ctx, id)
	r := dst.Receive(nil)
	skipped := blobs[len(blobs)-1].Digest // a file of the tree
	for _, b := range blobs[:len(blobs)-1] {
		data, _ := src.Blobs().Get(ctx, b.Digest)
		if err := r.PutBytes(ctx, b.Digest, data); err != nil {
			t.Fatal(err)
		}
	}
	_, err = r.Commit(ctx, img.Raw)
	if !errors.Is(err, pf.ErrNotFound) || !strings.Contains(err.Error(), skipped.String()) {
		t.Fatalf("commit without blob %s = %v, want ErrNotFound naming it", skipped.Short(), err)
	}
	if ok, _ := dst.HasImage(ctx, id); ok {
		t.Fatal("the image was committed without a blob it reaches")
	}
}

// What arrived before a Receiver ended without its image stays, flushed,
// for an import run again; what arrived since the last flush goes.
func TestReceiver_Abort_KeepsWhatWasFlushed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.pf")
	s, err := pf.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := s.Receive(nil)
	var early []manifest.Digest
	for i := uint64(0); i < pf.ReceiverFlushBytes/(1<<20); i++ {
		b := payloadOf(i, 1<<20)
		if err := r.PutBytes(ctx, manifest.Sum(b), b); err != nil {
			t.Fatal(err)
		}
		early = append(early, manifest.Sum(b))
	}
	late := payloadOf(999, 1000)
	if err := r.PutBytes(ctx, manifest.Sum(late), late); err != nil {
		t.Fatal(err)
	}
	r.Abort()
	s.Close()
	if s, err = pf.Open(path, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, d := range early {
		if ok, _ := s.Blobs().Has(ctx, d); !ok {
			t.Fatalf("blob %s, flushed, is gone", d.Short())
		}
	}
	if ok, _ := s.Blobs().Has(ctx, manifest.Sum(late)); ok {
		t.Fatal("a blob that arrived after the last flush stayed")
	}
}

func payloadOf(seed uint64, n int) []byte {
	b := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// A child received without its parent: refused unless Shallow; then the
// store verifies clean, its history ends at the child, and the parent,
// received later, joins it.
func TestReceiver_Commit_Shallow(t *testing.T) {
	src, dst := openStore(t), openStore(t)
	parent, err := src.Snapshot(ctx, pf.Snapshot{Agent: agent, World: files(6, 2)})
	if err != nil {
		t.Fatal(err)
	}
	child, err := src.Snapshot(ctx, pf.Snapshot{Agent: agent, World: files(7, 2), Parents: []manifest.Digest{parent}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sendImage(t, src, dst, child); !errors.Is(err, pf.ErrNotFound) || !strings.Contains(err.Error(), parent.String()) {
		t.Fatalf("a child without its parent: %v, want ErrNotFound naming the parent", err)
	}
	img, _ := src.Image(ctx, child)
	blobs, _ := src.Reached(ctx, child)
	r := dst.Receive(&pf.ReceiveOptions{Shallow: true})
	for _, b := range blobs {
		data, _ := src.Blobs().Get(ctx, b.Digest)
		if err := r.PutBytes(ctx, b.Digest, data); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := r.Commit(ctx, img.Raw); err != nil || got != child {
		t.Fatalf("shallow commit: %s, %v", got.Short(), err)
	}
	history := func() []manifest.Digest {
		t.Helper()
		entries, _, err := dst.Ancestry(ctx, []manifest.Digest{child}, pf.LogQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []manifest.Digest
		for _, e := range entries {
			ids = append(ids, e.ID)
		}
		return ids
	}
	if h := history(); len(h) != 1 || h[0] != child {
		t.Fatalf("history of the shallow child: %v", h)
	}
	if rep, err := dst.Verify(ctx, pf.VerifyOptions{}); err != nil || len(rep.Problems) != 0 {
		t.Fatalf("verify of a store with a shallow image: %v, %v", rep.Problems, err)
	}
	if _, err := sendImage(t, src, dst, parent); err != nil {
		t.Fatal(err)
	}
	if h := history(); len(h) != 2 {
		t.Fatalf("history once the parent arrived: %v", h)
	}
	if rep, err := dst.Verify(ctx, pf.VerifyOptions{}); err != nil || len(rep.Problems) != 0 {
		t.Fatalf("verify: %v, %v", rep.Problems, err)
	}
}
