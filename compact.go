package pf

import (
	"context"
	"fmt"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
)

// Compact rewrites the store file at path to hold only what is in use,
// and returns its size before and after. First it writes the stored
// values again at zstd's strongest level, or against a zstd dictionary
// trained on the store's own small values (once, kept in the store),
// where that makes them smaller (a snapshot writes at the fastest, for
// speed), then copies what is in use into a new file. The store must not be open, in this process or
// another (ErrBusy); run GC first to drop unreached blobs. If anything
// fails, a full disk included, the store is left as it was: values are
// rewritten in transactions, each whole or not at all.
func Compact(ctx context.Context, path string, opts *Options) (before, after int64, err error) {
	if opts == nil {
		opts = &Options{}
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	s, err := OpenContext(ctx, path, &Options{Timeout: opts.Timeout, Waiting: opts.Waiting, NoCreate: true})
	if err != nil {
		return 0, 0, err
	}
	_, err = s.blobs.Recompress(ctx, cas.CompactLevel)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, 0, fmt.Errorf("compact %s: recompress: %w", path, err)
	}
	return db.Compact(ctx, path, db.Options{Timeout: opts.Timeout, Waiting: opts.Waiting})
}
