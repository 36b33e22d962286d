package serve

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// serveBlob serves blob d with Range, HEAD and conditional requests. The
// bytes are read from the store as the client reads them, verified as
// the store verifies every read. contentType "" means text/plain when the
// blob starts as UTF-8 text, else application/octet-stream: stored bytes
// are never served as HTML or script, and a sandbox policy keeps a
// browser from running anything in them.
func (s *Server) serveBlob(w http.ResponseWriter, r *http.Request, d manifest.Digest, contentType string) {
	ctx := r.Context()
	info, err := s.Store.Blobs().Stat(ctx, d)
	if err != nil {
		storeError(w, err)
		return
	}
	rs := &blobSeeker{ctx: ctx, s: s.Store, d: d, size: info.Size}
	if contentType == "" {
		contentType = "application/octet-stream"
		head := make([]byte, 512)
		n, err := io.ReadFull(rs, head)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			storeError(w, err)
			return
		}
		if looksLikeText(head[:n]) {
			contentType = "text/plain; charset=utf-8"
		}
		rs.Seek(0, io.SeekStart)
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Docker-Content-Digest", d.String())
	h.Set("ETag", `"`+d.String()+`"`)
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, rs)
	rs.Close()
}

// looksLikeText says whether b, a file's start, is text: UTF-8 (a rune
// cut at the end aside) without NUL bytes, as git judges.
func looksLikeText(b []byte) bool {
	for i := 0; i < len(b); {
		if b[i] == 0 {
			return false
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 && len(b)-i >= utf8.UTFMax {
			return false
		}
		i += n
	}
	return true
}

// blobSeeker reads a blob from any offset: a seek away from where the
// open reader is reopens the blob at the offset, which for a chunked blob
// starts at the chunk that holds it (values are compressed and checked
// chunk by chunk, so there is no reading inside one without it).
type blobSeeker struct {
	ctx  context.Context
	s    *pf.Store
	d    manifest.Digest
	size int64
	off  int64 // where Read reads next
	r    io.ReadCloser
	at   int64 // where r is
}

func (b *blobSeeker) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += b.off
	case io.SeekEnd:
		offset += b.size
	}
	if offset < 0 {
		return 0, errors.New("seek before the start")
	}
	b.off = offset
	return offset, nil
}

func (b *blobSeeker) Read(p []byte) (int, error) {
	if b.off >= b.size {
		return 0, io.EOF
	}
	if b.r == nil || b.at != b.off {
		b.Close()
		r, err := b.s.Blobs().OpenAt(b.ctx, b.d, b.off)
		if err != nil {
			return 0, err
		}
		b.r, b.at = r, b.off
	}
	n, err := b.r.Read(p)
	b.off += int64(n)
	b.at += int64(n)
	return n, err
}

func (b *blobSeeker) Close() error {
	if b.r == nil {
		return nil
	}
	err := b.r.Close()
	b.r = nil
	return err
}
