package manifest

import (
	"fmt"
)

// Kinds of the effects.ledger blob.
const (
	LedgerKind        = "effects.ledger.v1" // JSON lines, this kind in the header line
	MergedEffectsKind = "effects.merged.v1" // one object naming three ledgers
)

// MergedEffects is the effects.ledger blob of a merged image: instead of a
// ledger of its own it names the ledgers of the two parents and of their
// common ancestor, each again an effects.ledger blob (possibly merged too).
type MergedEffects struct {
	ParentA, ParentB, Ancestor Digest
}

// Encode returns the blob for e:
//
//	{"kind":"effects.merged.v1","parent_a":"sha256:..","parent_b":"sha256:..","ancestor":"sha256:.."}
func (e *MergedEffects) Encode() []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"kind":"effects.merged.v1","parent_a":`...)
	b = appendDigest(b, e.ParentA)
	b = append(b, `,"parent_b":`...)
	b = appendDigest(b, e.ParentB)
	b = append(b, `,"ancestor":`...)
	b = appendDigest(b, e.Ancestor)
	return append(b, '}')
}

// DecodeMergedEffects reads an effects.ledger blob that may be merged.
// When b is not a JSON object of kind effects.merged.v1 (a JSON-lines
// ledger, an empty blob, anything else) it returns ok false and no error.
// When b claims that kind it must be exactly one such object with valid
// parent_a, parent_b and ancestor digests; otherwise the error wraps
// ErrInvalidEffects.
func DecodeMergedEffects(b []byte) (e *MergedEffects, ok bool, err error) {
	if !hasKind(b, MergedEffectsKind) {
		return nil, false, nil
	}
	e, err = decodeMergedEffects(b)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %s: %w", ErrInvalidEffects, MergedEffectsKind, err)
	}
	return e, true, nil
}

var mergedEffectsKeys = keySet{required: []string{"kind", "parent_a", "parent_b", "ancestor"}}

func decodeMergedEffects(b []byte) (*MergedEffects, error) {
	r := newReader(b)
	e := new(MergedEffects)
	err := r.document(&mergedEffectsKeys, func(key string, at loc) (err error) {
		switch key {
		case "kind":
			// hasKind saw the first "kind"; duplicates are refused.
			_, err = r.rawString(at)
		case "parent_a":
			e.ParentA, err = r.digest(at)
		case "parent_b":
			e.ParentB, err = r.digest(at)
		case "ancestor":
			e.Ancestor, err = r.digest(at)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}
