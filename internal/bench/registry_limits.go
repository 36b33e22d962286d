package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/ociimage"
	"github.com/processfork/pf/internal/transfer/ociregistry"
	"github.com/processfork/pf/manifest"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/registry/remote"
)

// The registry job's limits: what any pull of the large image into a
// store of pf's format must do, measured in the same run on the same
// bytes, each as cheaply as this machine does it. Each is a row of the
// pull's workload:
//
//   - limitReceive: the image received from the same registry over
//     loopback, as pf's pull receives it (its manifest, config and
//     signature, then every layer through pf's own registry source,
//     which decodes the zstd frames with pf's decoder), receiveAtOnce
//     blobs at once as oras.Copy moves them, and on each blob the work
//     the format asks: its SHA-256, checked against its digest, and
//     FastCDC's cut with a SHA-256 of each chunk, on every core. Nothing
//     is stored: each blob lands in a buffer reused for the next.
//   - limitReceiveBolt: the image received the same way, receiveAtOnce
//     blobs at once, and its blobs' bytes written into a new bbolt file
//     opened with pf's options as they arrive, in values of boltPiece,
//     each in a bucket of its own under a random 32-byte key, as the
//     store keeps a chunk under its digest (so that bbolt never writes a
//     value's pages again when a later one lands in the same leaf), in
//     transactions of cas.DefaultSpillBytes, each committed (fsyncs
//     included) while the blobs go on arriving, one at a time, with at
//     most one more waiting, as a pull's early writes commit them
//     (boltWriter). No hash, no cut, no check, no compression: what a
//     pull that stores the bytes in pf's engine must do on the same two
//     cores, with nothing of the format's own work.
//   - limitReceiveAllBolt: both at once, the pull with nothing but what
//     the format asks: each blob received as limitReceive receives it,
//     hashed, checked and cut, each chunk hashed, and each chunk written
//     from the blob's buffer under its digest by the same boltWriter.
//     No copy of a chunk, no compression check, no provisional marks,
//     no flush commits, no image commit.
//   - limitCutHash, limitBolt, limitBoltWindows and limitWrite, as on the
//     ingest jobs (peer_limits.go), on the image's blobs in memory: the
//     cut and hashes alone, the store's engine writing the bytes (in one
//     transaction, and in commits of 8 MiB as a pull's early writes
//     commit them), and the disk making them durable.
const (
	limitReceive        = "limit: receive + cut + SHA-256 ×2"
	limitReceiveBolt    = "limit: receive + bbolt, 8 MiB commits"
	limitReceiveAllBolt = "limit: receive + cut + SHA-256 ×2 + bbolt"
)

// pullLimits are the limits that bound the registry job's large pull
// (boundWhy). limitBolt and limitBoltWindows are measured on its bytes too,
// but they write values under sequential keys in one bucket, as no store
// of pf's does (a chunk's value is a bucket of its own under its digest):
// bbolt then writes each leaf's values again whenever a later value lands
// in it (a leaf keeps 2 to 4 values of 1 MiB): measured, 1.5 GiB of pages
// allocated for 1 GiB in 8 MiB commits, 4 GiB with random keys, against
// 516 MiB written by a pf pull of 512 MiB. limitReceiveBolt writes
// as the store does and bounds what they stood for.
var pullLimits = []string{limitReceive, limitReceiveBolt, limitReceiveAllBolt, limitCutHash, limitWrite}

// receiveAtOnce is how many blobs the receive limit moves at once:
// oras.Copy's default (oras-go's CopyGraphOptions.Concurrency), the peer
// the pull is compared with.
const receiveAtOnce = 3

// receiveNote says, in the report, what the receive limit does.
var receiveNote = fmt.Sprintf("the image received as pf pull receives it (its registry source, its zstd decoder), %d blobs at once; "+
	"each blob hashed and checked, cut by FastCDC and each chunk hashed, on every core; nothing stored", receiveAtOnce)

// receiveAllBoltNote says, in the report, what the limit of the pull's
// whole work does.
const receiveAllBoltNote = "both limits above at once: each blob received as the first, hashed and checked, cut by FastCDC and each chunk hashed, " +
	"and each chunk written from the blob's buffer under its digest as the second writes; no copy of a chunk, no compression check, no image commit"

// receiveBoltNote says, in the report, what the receive and bbolt limit
// does.
var receiveBoltNote = fmt.Sprintf("the image received as pf pull receives it, %d blobs at once, its bytes written as they arrive "+
	"into a new bbolt file with pf's options, in values of %s each in a bucket of its own under a random key as pf keeps a chunk, in transactions of %s committed (fsyncs included) one at a time "+
	"while receiving goes on; no hash, no cut, no check", receiveAtOnce, sizeName(boltPiece), sizeName(cas.DefaultSpillBytes))

// registryLimits measures the pull's limits on the large image, which a
// pf push put under tag into repository repo of the registry at addr.
func (j *job) registryLimits(addr, repo, tag string) ([]Row, error) {
	layers, err := imageLayers(j.ctx, addr, repo, tag)
	if err != nil {
		return nil, fmt.Errorf("read the image's manifest: %w", err)
	}
	ref, err := ociregistry.ParseRef("oci://" + addr + "/" + repo + ":" + tag)
	if err != nil {
		return nil, err
	}
	// The buffers the blobs land in serve every round: grown and
	// faulted in once, as a store's buffers are.
	buffers := make(chan *bytes.Buffer, receiveAtOnce)
	for range receiveAtOnce {
		buffers <- new(bytes.Buffer)
	}
	receive := Row{Workload: wlRegPull, System: limitReceive, Note: receiveNote}
	receive.Seconds, err = j.rounds(limitReceive, j.Policy.Transfer, func() (time.Duration, error) {
		return receiveImage(j.ctx, ref, layers, buffers)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", limitReceive, err)
	}
	receiveBolt := Row{Workload: wlRegPull, System: limitReceiveBolt, Note: receiveBoltNote}
	receiveBolt.Seconds, err = j.rounds(limitReceiveBolt, j.Policy.Transfer, func() (time.Duration, error) {
		d, stored, err := receiveIntoBolt(j.ctx, ref, layers, j.Work)
		// The image's other layers (its tree, its ledgers) are a few
		// bytes more.
		if err == nil && stored < j.Sizes.Registry.bytes() {
			err = fmt.Errorf("the file holds %d bytes, short of the image's %d", stored, j.Sizes.Registry.bytes())
		}
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", limitReceiveBolt, err)
	}
	receiveAllBolt := Row{Workload: wlRegPull, System: limitReceiveAllBolt, Note: receiveAllBoltNote}
	receiveAllBolt.Seconds, err = j.rounds(limitReceiveAllBolt, j.Policy.Transfer, func() (time.Duration, error) {
		d, stored, err := receiveCutHashIntoBolt(j.ctx, ref, layers, j.Work)
		if err == nil && stored < j.Sizes.Registry.bytes() {
			err = fmt.Errorf("the file holds %d bytes, short of the image's %d", stored, j.Sizes.Registry.bytes())
		}
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", limitReceiveAllBolt, err)
	}

	// The same bytes in memory, made again from the seed that made them,
	// and checked to be the image's.
	j.progress("making the image's blobs again")
	blobs, err := registryBlobs(j.Sizes.Registry, layers)
	if err != nil {
		return nil, err
	}
	rows, err := j.limitRows(wlRegPull, j.Policy.Transfer, blobs, limitCutHash, limitBolt, limitBoltWindows, limitWrite)
	if err != nil {
		return nil, err
	}
	return append([]Row{receive, receiveBolt, receiveAllBolt}, rows...), nil
}

// imageLayers reads the layers of the pf image under tag in repo.
func imageLayers(ctx context.Context, addr, repo, tag string) ([]ociimage.Layer, error) {
	r, err := remote.NewRepository(addr + "/" + repo)
	if err != nil {
		return nil, err
	}
	r.PlainHTTP = true
	_, rc, err := r.FetchReference(ctx, tag)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, ociimage.MaxManifestSize+1))
	if err != nil {
		return nil, err
	}
	p, err := ociimage.Parse(b)
	if err != nil {
		return nil, err
	}
	return p.Layers, nil
}

// receiveImage receives the image ref names, as pf pull does, and does the
// format's work on every blob, storing nothing, each blob received into a
// buffer taken from buffers (one a blob moving at once); it returns the
// time it took, from opening the source to the last blob's last hash.
func receiveImage(ctx context.Context, ref ociregistry.Ref, layers []ociimage.Layer, buffers chan *bytes.Buffer) (time.Duration, error) {
	start := time.Now()
	var sink atomic.Uint32
	err := receiveEach(ctx, ref, layers, func(ctx context.Context, src *ociregistry.Source, _ int, l ociimage.Layer) error {
		buf := <-buffers
		defer func() { buffers <- buf }()
		if err := receiveLayer(ctx, src, l, buf); err != nil {
			return err
		}
		// The chunks' digests are folded into sink, so that none is
		// left unused.
		got, err := cutAndHash(buf.Bytes(), func(key [32]byte, _ []byte) error {
			sink.Add(uint32(key[0]))
			return nil
		})
		if err != nil {
			return err
		}
		if got != l.Blob {
			return fmt.Errorf("blob %s: its bytes hash to %x", l.Blob, got)
		}
		return nil
	})
	limitSink ^= byte(sink.Load())
	return time.Since(start), err
}

// receiveEach opens the image ref names as pf pull does (openPulled) and
// runs receive on each of its layers (the ith of layers is l), receiveAtOnce
// at once, as oras.Copy moves blobs; the first error ends the others'
// context and is returned.
func receiveEach(ctx context.Context, ref ociregistry.Ref, layers []ociimage.Layer,
	receive func(ctx context.Context, src *ociregistry.Source, i int, l ociimage.Layer) error) error {
	src, err := openPulled(ctx, ref)
	if err != nil {
		return err
	}
	defer src.Close()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(receiveAtOnce)
	for i, l := range layers {
		g.Go(func() error { return receive(gctx, src, i, l) })
	}
	return g.Wait()
}

// cutAndHash does the format's work on one blob b in memory: its
// SHA-256 (returned) and, for a blob a put cuts into chunks, that hash on
// a goroutine of its own while this one cuts b as a put does and hashes
// each chunk; each chunk goes to chunk with its digest, a slice of b (no
// copy). The first chunk's digest is taken from the whole hash's state
// once it has read that chunk, as a put takes it (cas's chunk pipeline),
// so its bytes are hashed once, and chunk gets it on the hashing
// goroutine. A blob a put keeps whole is one chunk, hashed once. The cut
// stops handing chunks on after chunk's first error, which is returned.
func cutAndHash(b []byte, chunk func(key [32]byte, c []byte) error) ([32]byte, error) {
	if len(b) <= cas.InlineMax {
		d := sha256.Sum256(b)
		return d, chunk(d, b)
	}
	var (
		digest   [32]byte
		whole    sync.WaitGroup
		wholeErr error
		cutErr   error
	)
	first := true
	err := cas.Cut(b, func(c []byte) {
		if cutErr != nil {
			return
		}
		if first {
			first = false
			whole.Add(1)
			go func() {
				defer whole.Done()
				h := sha256.New()
				h.Write(c)
				var key [32]byte
				h.Sum(key[:0]) // Sum leaves the state as it was
				wholeErr = chunk(key, c)
				h.Write(b[len(c):])
				h.Sum(digest[:0])
			}()
			return
		}
		cutErr = chunk(sha256.Sum256(c), c)
	})
	whole.Wait()
	return digest, errors.Join(err, cutErr, wholeErr)
}

// registryBlobs makes the large image's blobs again, as
// writeRegistryImages made them (randomPages), and checks that each is a
// blob of the image's layers.
func registryBlobs(ri RegistryImages, layers []ociimage.Layer) ([][]byte, error) {
	pages := largePages(ri)
	src := rand.NewChaCha8([32]byte{pages.seed})
	inImage := map[manifest.Digest]bool{}
	for _, l := range layers {
		inImage[l.Blob] = true
	}
	blobs := make([][]byte, pages.n)
	for i := range blobs {
		blobs[i] = make([]byte, pages.size)
		if _, err := io.ReadFull(src, blobs[i]); err != nil {
			return nil, err
		}
		if d := manifest.Sum(blobs[i]); !inImage[d] {
			return nil, fmt.Errorf("blob %d made again hashes to %s, which the image does not name", i, d)
		}
	}
	return blobs, nil
}

// openPulled opens the image ref names as pf pull does: pf's registry
// source, the image's manifests read first.
func openPulled(ctx context.Context, ref ociregistry.Ref) (*ociregistry.Source, error) {
	src, err := ociregistry.Open(ctx, ref, ociregistry.Options{PlainHTTP: true})
	if err != nil {
		return nil, err
	}
	if _, err := src.Images(ctx); err != nil {
		src.Close()
		return nil, err
	}
	return src, nil
}

// receiveLayer reads layer l from src whole into buf, emptied first.
func receiveLayer(ctx context.Context, src *ociregistry.Source, l ociimage.Layer, buf *bytes.Buffer) error {
	buf.Reset()
	// A layer of random bytes is its blob's size and a few bytes: the
	// buffer takes it without growing on the way.
	buf.Grow(int(l.Size))
	rc, err := src.Open(ctx, l.Blob)
	if err != nil {
		return err
	}
	_, err = buf.ReadFrom(rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("blob %s: %w", l.Blob, err)
	}
	return nil
}
