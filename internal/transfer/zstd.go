package transfer

import (
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/processfork/pf"
)

// The reference keeps every blob, in its directory store and in its
// registries, as one zstd frame of the blob's bytes. Any frame reads; pf
// writes its frames with fixed options, so that the same blob always
// becomes the same bytes: an OCI layer is named by the digest of those
// bytes, and a second push must find the layer the first one wrote.

// frameOptions fix the frames pf writes. Fastest passes random and tensor
// data through as raw blocks at memory speed and costs 9 MiB an encoder
// (measured on this project's machines); one goroutine an encoder keeps the output the same
// however the input is cut into writes. Changing any of these changes the
// digest of every layer pf pushes.
var frameOptions = []zstd.EOption{
	zstd.WithEncoderLevel(zstd.SpeedFastest),
	zstd.WithEncoderConcurrency(1),
	zstd.WithWindowSize(1 << 22),
	zstd.WithEncoderCRC(true),
	zstd.WithZeroFrames(true), // an empty blob is a frame too
}

// idleEncoders keep the encoders of the blobs that moved at once, for the
// next ones: building one again clears and faults in its 9 MiB.
var idleEncoders = NewIdle[*zstd.Encoder](DefaultConcurrency)

func newEncoder() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, frameOptions...)
	if err != nil {
		panic(err) // only for invalid options, which are constant
	}
	return e
}

// WriteFrame writes what r yields to w as one zstd frame and returns how
// many bytes it read.
func WriteFrame(w io.Writer, r io.Reader) (int64, error) {
	e := idleEncoders.Get(newEncoder)
	defer idleEncoders.Put(e)
	e.Reset(w)
	var n int64
	var err error
	if wt, ok := r.(io.WriterTo); ok {
		// A store's blob reader that hands over the whole blob proves it
		// by its digest alone (cas.chunkReader.WriteTo).
		n, err = wt.WriteTo(e)
	} else {
		n, err = e.ReadFrom(r)
	}
	if err != nil {
		e.Reset(nil)
		return n, err
	}
	return n, e.Close()
}

// maxWindow bounds the memory a frame's decoding may take: the reference
// writes level 19, whose window is 8 MiB.
const maxWindow = 64 << 20

// idleDecoders are kept as idleEncoders are, and for the same reason.
var idleDecoders = NewIdle[*zstd.Decoder](DefaultConcurrency)

func newDecoder() *zstd.Decoder {
	d, err := zstd.NewReader(nil,
		// Every blob that comes in is checked against its SHA-256 after
		// decompression (Source.Open), which proves it: the frame's own
		// checksum would hash every byte once more.
		zstd.IgnoreChecksum(true),
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(maxWindow))
	if err != nil {
		panic(err)
	}
	return d
}

// ReadFrames streams the bytes that the zstd frames r yields decode to.
// Closing it closes r (if r is an io.Closer) and gives the decoder back.
// Bytes that are not zstd are an error wrapping pf.ErrCorrupt; an error of
// r's own is passed on as it is.
func ReadFrames(r io.Reader) (io.ReadCloser, error) {
	d := idleDecoders.Get(newDecoder)
	f := &frameReader{d: d, src: r, rec: &errRecorder{r: r}}
	if err := d.Reset(f.rec); err != nil {
		idleDecoders.Put(d)
		return nil, f.wrap(err)
	}
	return f, nil
}

type frameReader struct {
	d   *zstd.Decoder
	src io.Reader
	rec *errRecorder
}

// errRecorder remembers the error its reader returned, so that a decoder's
// error can be told from the source's.
type errRecorder struct {
	r   io.Reader
	err error
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

func (f *frameReader) wrap(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	if f.rec.err != nil {
		return f.rec.err
	}
	return fmt.Errorf("zstd: %w (%w)", err, pf.ErrCorrupt)
}

func (f *frameReader) Read(p []byte) (int, error) {
	if f.d == nil {
		return 0, io.ErrClosedPipe
	}
	n, err := f.d.Read(p)
	return n, f.wrap(err)
}

func (f *frameReader) Close() error {
	if f.d != nil {
		f.d.Reset(nil)
		idleDecoders.Put(f.d)
		f.d = nil
	}
	if c, ok := f.src.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
