package pf

import (
	"context"

	"github.com/processfork/pf/internal/db"
)

// Compact rewrites the store file at path to hold only what is in use,
// and returns its size before and after. The store must not be open, in
// this process or another (ErrBusy); run GC first to drop unreached blobs.
// If anything fails, a full disk included, the store is left as it was.
func Compact(ctx context.Context, path string, opts *Options) (before, after int64, err error) {
	if opts == nil {
		opts = &Options{}
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	return db.Compact(ctx, path, db.Options{Timeout: opts.Timeout, Waiting: opts.Waiting})
}
