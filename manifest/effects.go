package manifest

import (
	"fmt"
	"slices"
	"strconv"
)

// Kinds of the effects.ledger blob.
const (
	LedgerKind        = "effects.ledger.v1" // JSON lines, this kind in the header line
	MergedEffectsKind = "effects.merged.v1" // one object naming three ledgers
)

// EmptyLedger is the ledger of an image that recorded no tool calls: its
// header line alone, as the reference's CLI writes it
// (pf-cli/src/commands/snapshot.rs), not the empty blob, which the
// reference cannot read as a ledger.
const EmptyLedger = `{"kind":"effects.ledger.v1","entries":0}` + "\n"

// sideEffectClasses are the side_effect_class values of ledger entries, as
// the reference names them (pf-effects' SideEffectClass).
var sideEffectClasses = []string{"pure", "idempotent", "irreversible", "network-only"}

// IsSideEffectClass reports whether s is a side_effect_class of a ledger
// entry: pure, idempotent, irreversible or network-only.
func IsSideEffectClass(s string) bool { return slices.Contains(sideEffectClasses, s) }

// MergedEffects is the effects.ledger blob of a merged image, as the
// reference's pf merge writes it (pf-merge/src/effects.rs): instead of a
// ledger of its own it names the ledgers of the two parents and of their
// common ancestor, each again an effects.ledger blob (possibly merged too),
// with the replay policy of the merge and its counts.
type MergedEffects struct {
	ParentA, ParentB, Ancestor Digest
	// ReplayWithNewKey lists the side-effect classes (see
	// IsSideEffectClass) whose calls from B may be issued again, with a
	// new idempotency key, on restore; B's other irreversible calls are
	// kept as facts.
	ReplayWithNewKey []string
	Summary          MergeSummary
}

// MergeSummary counts the entries of the merged ledgers: A's, B's, and
// B's irreversible ones that are kept as facts.
type MergeSummary struct {
	AEntries, BEntries, BIrreversibleCached int64
}

// Encode validates e and returns its blob, every field the reference's
// reader requires, in its order:
//
//	{"kind":"effects.merged.v1","parent_a":"sha256:..","parent_b":"sha256:..","ancestor":"sha256:..",
//	 "replay_with_new_key":[..],"summary":{"a_entries":N,"b_entries":N,"b_irreversible_cached":N}}
//
// Errors wrap ErrInvalidEffects.
func (e *MergedEffects) Encode() ([]byte, error) {
	for i, class := range e.ReplayWithNewKey {
		if !IsSideEffectClass(class) {
			return nil, fmt.Errorf("%w: %s: replay_with_new_key[%d]: %s is not a side-effect class", ErrInvalidEffects, MergedEffectsKind, i, quote(class))
		}
	}
	s := e.Summary
	if s.AEntries < 0 || s.BEntries < 0 || s.BIrreversibleCached < 0 {
		return nil, fmt.Errorf("%w: %s: summary: negative count", ErrInvalidEffects, MergedEffectsKind)
	}
	b := make([]byte, 0, 384)
	b = append(b, `{"kind":"effects.merged.v1","parent_a":`...)
	b = appendDigest(b, e.ParentA)
	b = append(b, `,"parent_b":`...)
	b = appendDigest(b, e.ParentB)
	b = append(b, `,"ancestor":`...)
	b = appendDigest(b, e.Ancestor)
	b = append(b, `,"replay_with_new_key":[`...)
	for i, class := range e.ReplayWithNewKey {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, class)
	}
	b = append(b, `],"summary":{"a_entries":`...)
	b = strconv.AppendInt(b, s.AEntries, 10)
	b = append(b, `,"b_entries":`...)
	b = strconv.AppendInt(b, s.BEntries, 10)
	b = append(b, `,"b_irreversible_cached":`...)
	b = strconv.AppendInt(b, s.BIrreversibleCached, 10)
	return append(b, "}}"...), nil
}

// DecodeMergedEffects reads an effects.ledger blob that may be merged.
// When b is not a JSON object of kind effects.merged.v1 (a JSON-lines
// ledger, an empty blob, anything else) it returns ok false and no error.
// When b claims that kind it must be exactly one such object with valid
// parent_a, parent_b and ancestor digests; replay_with_new_key and summary
// are read when present (merged blobs of earlier versions of pf lack
// them), and must then be what Encode writes. Otherwise the error wraps
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

var (
	mergedEffectsKeys = keySet{
		required: []string{"kind", "parent_a", "parent_b", "ancestor"},
		optional: []string{"replay_with_new_key", "summary"},
	}
	mergeSummaryKeys = keySet{required: []string{"a_entries", "b_entries", "b_irreversible_cached"}}
)

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
		case "replay_with_new_key":
			err = r.array(at, func(i int, at loc) error {
				s, err := r.rawString(at)
				if err != nil {
					return err
				}
				class := s.intern(sideEffectClasses...)
				if !IsSideEffectClass(class) {
					return fmt.Errorf("%s: %s is not a side-effect class", at, quote(class))
				}
				e.ReplayWithNewKey = append(e.ReplayWithNewKey, class)
				return nil
			})
		case "summary":
			err = r.object(at, &mergeSummaryKeys, func(key string, at loc) (err error) {
				switch key {
				case "a_entries":
					e.Summary.AEntries, err = r.nonNegative(at)
				case "b_entries":
					e.Summary.BEntries, err = r.nonNegative(at)
				case "b_irreversible_cached":
					e.Summary.BIrreversibleCached, err = r.nonNegative(at)
				}
				return err
			})
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}
