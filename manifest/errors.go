package manifest

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// Sentinel errors. Every error this package returns wraps exactly one of
// them, so callers can tell which kind of input was bad with errors.Is.
var (
	ErrInvalidDigest   = errors.New("invalid digest")
	ErrInvalidManifest = errors.New("invalid manifest")
	ErrInvalidTree     = errors.New("invalid fs.tree.v1")
	ErrInvalidCache    = errors.New("invalid cache page manifest")
	ErrInvalidEffects  = errors.New("invalid effects ledger")
)

// maxQuoted bounds how much of a bad input an error message repeats, so a
// megabyte of garbage does not become a megabyte of log line.
const maxQuoted = 80

// quote returns s as a Go-quoted string for an error message, cut short
// (at a rune boundary) when it is long.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}
