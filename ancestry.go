package pf

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// maxAncestrySteps bounds the steps of one reference, and maxGenerations
// the count of one step: enough for any history a person types out, and
// a bound on the work a hostile argument can ask for.
const (
	maxAncestrySteps = 64
	maxGenerations   = 1 << 20
)

// ancestryStep is one ~N or ^N of a reference.
type ancestryStep struct {
	op byte // '~' or '^'
	n  int
}

// parseAncestry splits ref into the reference it starts with and its
// ancestry steps: "main~2^2" is "main", then ~2, then ^2.
func parseAncestry(ref string) (base string, steps []ancestryStep, err error) {
	i := strings.IndexAny(ref, "~^")
	if i < 0 {
		return ref, nil, nil
	}
	base, rest := ref[:i], ref[i:]
	if base == "" {
		return "", nil, fmt.Errorf("%w %s: ~ and ^ follow an image (a tag, an id or an id prefix)", ErrInvalidAncestry, strconv.Quote(ref))
	}
	for rest != "" {
		op := rest[0]
		if op != '~' && op != '^' {
			return "", nil, fmt.Errorf("%w %s: %q where ~ or ^ was expected", ErrInvalidAncestry, strconv.Quote(ref), rest[0])
		}
		end := 1
		for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
			end++
		}
		n := 1
		if end > 1 {
			n, err = strconv.Atoi(rest[1:end])
			if err != nil || n > maxGenerations {
				return "", nil, fmt.Errorf("%w %s: %c%s is too many generations (at most %d)", ErrInvalidAncestry, strconv.Quote(ref), op, rest[1:end], maxGenerations)
			}
		}
		if len(steps) == maxAncestrySteps {
			return "", nil, fmt.Errorf("%w %s: more than %d ~ and ^ steps", ErrInvalidAncestry, strconv.Quote(ref), maxAncestrySteps)
		}
		steps = append(steps, ancestryStep{op, n})
		rest = rest[end:]
	}
	return base, steps, nil
}

// follow takes the step from image id: ~N walks N first parents, ^N picks
// the Nth parent (^0 is id itself).
func (st ancestryStep) follow(tx *bolt.Tx, id manifest.Digest) (manifest.Digest, error) {
	if st.op == '^' {
		if st.n == 0 {
			return id, nil
		}
		img, err := imageTx(tx, id)
		if err != nil {
			return manifest.Digest{}, err
		}
		parents := img.Manifest.Parents
		if st.n > len(parents) {
			return manifest.Digest{}, fmt.Errorf("^%d: image %s has %s: %w", st.n, id, plural(len(parents), "parent", "parents"), ErrNotFound)
		}
		return parents[st.n-1], nil
	}
	for walked := 0; walked < st.n; walked++ {
		img, err := imageTx(tx, id)
		if err != nil {
			return manifest.Digest{}, err
		}
		parents := img.Manifest.Parents
		if len(parents) == 0 {
			return manifest.Digest{}, fmt.Errorf("~%d: image %s, %s back, is a root: %w", st.n, id, plural(walked, "generation", "generations"), ErrNotFound)
		}
		id = parents[0]
	}
	return id, nil
}
