package pf

import (
	"errors"

	"github.com/processfork/pf/internal/db"
)

// The sentinel errors of package pf. Every error the store returns for one
// of these reasons wraps the sentinel with %w, with the detail around it
// (which image, which blob, which file), so callers test with errors.Is.
var (
	// ErrNotFound: no such image, blob, tag, pin or head; or, opened with
	// Options.NoCreate or ReadOnly, no store at the path.
	ErrNotFound = db.ErrNotFound
	// ErrCorrupt: stored bytes that do not hash to their digest, a value
	// or bucket that does not parse, a file shorter than its pages.
	ErrCorrupt = db.ErrCorrupt
	// ErrBusy: another process held the store past Options.Timeout.
	ErrBusy = db.ErrBusy
	// ErrNotStore: the file is not a pf store.
	ErrNotStore = db.ErrNotStore
	// ErrSchemaTooNew: the store was written by a newer pf.
	ErrSchemaTooNew = db.ErrSchemaTooNew
	// ErrReadOnly: a write to a store opened with Options.ReadOnly.
	ErrReadOnly = db.ErrReadOnly
	// ErrClosed: a store used after Close.
	ErrClosed = db.ErrClosed

	// ErrAmbiguous: an id prefix that more than one image or blob starts
	// with.
	ErrAmbiguous = errors.New("ambiguous id prefix")
	// ErrInvalidCursor: a LogQuery.Cursor that no listing returned, or that
	// a listing in the other order did.
	ErrInvalidCursor = errors.New("invalid cursor")
	// ErrInvalidAncestry: an image reference whose ~N and ^N steps do not
	// parse, such as "main~x" or "~1".
	ErrInvalidAncestry = errors.New("invalid ancestry steps")
	// ErrInvalidTagName: a tag name that ValidateTagName refuses.
	ErrInvalidTagName = errors.New("invalid tag name")
	// ErrInvalidSession: a session name that ValidateSessionName refuses.
	ErrInvalidSession = errors.New("invalid session name")
	// ErrNoPolicy: Prune given neither KeepLast nor KeepWithin, which
	// would remove every untagged image.
	ErrNoPolicy = errors.New("prune without a policy: keep the last N images, or those within a span")
)
