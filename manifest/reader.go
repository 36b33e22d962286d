package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// maxDepth bounds the nesting of every JSON document this package reads.
// No valid document nests deeper than 3; the bound keeps hostile input
// from costing stack or time before it is refused.
const maxDepth = 32

// A reader walks one JSON document strictly, on a scanner: exactly one
// object and nothing but white space after it, valid UTF-8, at most
// maxDepth deep, exact (case-sensitive) keys, no duplicate keys, required
// keys present and values of the JSON type asked for. Its errors name the
// place in the document ("model.diff", "entries[3].path") but not the kind
// of document; callers wrap them with their sentinel.
type reader struct {
	scanner
}

func newReader(b []byte) *reader {
	return &reader{scanner{b: b, maxDepth: maxDepth}}
}

// document reads the input as one object with the given keys, calling
// each for every known key (see object), and checks that only white space
// follows it.
func (r *reader) document(keys *keySet, each func(key string, at loc) error) error {
	b := r.b
	if len(bytes.TrimSpace(b)) == 0 {
		return errors.New("empty input")
	}
	if !utf8.Valid(b) {
		return fmt.Errorf("not valid UTF-8 (bad byte at offset %d)", invalidUTF8At(b))
	}
	err := r.object(loc{}, keys, each)
	if err == nil {
		err = r.end()
	}
	if err != nil {
		// A document nested too deep is refused for that, wherever the
		// walk stopped, as if the depth had been checked first. Checking
		// it only here spares valid documents a pass: the walk bounds the
		// depth of what it accepts itself.
		if derr := checkDepth(b, maxDepth); derr != nil {
			return derr
		}
	}
	return err
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// checkDepth refuses documents whose arrays and objects nest deeper than
// limit. It only counts brackets outside strings; whether the document is
// well-formed is the reader's business.
func checkDepth(b []byte, limit int) error {
	depth := 0
	inString, escaped := false, false
	for i, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > limit {
				return fmt.Errorf("nested deeper than %d at offset %d", limit, i)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// end checks that nothing but white space follows the document.
func (r *reader) end() error {
	off := r.i
	if _, ok := r.peek(); ok {
		return fmt.Errorf("trailing data after the JSON value ending at offset %d", off)
	}
	return nil
}

// A loc is where a value sits in the document, for error messages: a path
// such as "model.diff", "entries[3].path" or "parents[1]". It is a plain
// value so that naming the place of every value read costs nothing; the
// path is formatted only when an error is reported.
type loc struct {
	base     string // the path of an enclosing value; "" at the root
	index    int    // an array index within base, if hasIndex
	key      string // an object key within that, if hasKey
	hasIndex bool
	hasKey   bool
}

// field is the location of the value of key in the object at l.
func (l loc) field(key string) loc {
	if l.hasKey { // deeper than any path this package names on the way
		return loc{base: l.String(), key: key, hasKey: true}
	}
	l.key, l.hasKey = key, true
	return l
}

// elem is the location of element i of the array at l.
func (l loc) elem(i int) loc {
	return loc{base: l.String(), index: i, hasIndex: true}
}

func (l loc) String() string {
	s := l.base
	if l.hasIndex {
		s += "[" + strconv.Itoa(l.index) + "]"
	}
	if l.hasKey {
		s = join(s, l.key)
	}
	return s
}

// join names key inside the value at path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// syntax adds the location to a syntax error.
func (l loc) syntax(err error) error {
	if path := l.String(); path != "" {
		return fmt.Errorf("%s: %w", path, err)
	}
	return err
}

// typeError reports a value of the wrong JSON type at l.
func typeError(at loc, want, got string) error {
	if path := at.String(); path != "" {
		return fmt.Errorf("%s: want %s, got %s", path, want, got)
	}
	return fmt.Errorf("not a JSON object: want %s, got %s", want, got)
}

// value skips white space before a value at at and returns its first byte.
func (r *reader) value(at loc) (byte, error) {
	c, ok := r.peek()
	if !ok {
		return 0, at.syntax(r.errorAt(r.i, ""))
	}
	return c, nil
}

// wrongType reports the value at at, which is not of the JSON type want.
// As a token-by-token reader would, it reads a scalar to its end first,
// so that malformed JSON is reported as such.
func (r *reader) wrongType(at loc, want string) error {
	switch r.b[r.i] {
	case '{':
		return typeError(at, want, "an object")
	case '[':
		return typeError(at, want, "an array")
	}
	got, err := r.scalar()
	if err != nil {
		return at.syntax(err)
	}
	return typeError(at, want, got)
}

// open reads the '{' or '[' that starts an object or array at at.
func (r *reader) open(at loc, bracket byte, want string) error {
	c, err := r.value(at)
	if err != nil {
		return err
	}
	if c != bracket {
		return r.wrongType(at, want)
	}
	if r.depth >= r.maxDepth {
		return r.tooDeep(r.i)
	}
	r.i++
	r.depth++
	return nil
}

// A keySet is the keys a decoder knows in one kind of object. There are at
// most 64 of them.
type keySet struct {
	required []string // in the order a missing one is reported
	optional []string
	// keepOthers passes unknown keys to the caller too, which reads their
	// values with raw; otherwise they are skipped.
	keepOthers bool
}

// lookup returns the known key that k stands for and its number, or -1.
// Keys usually come in the order the format writes them, which is the
// order of required and then optional, so it tries the key after the
// previous one (number prev) first.
func (ks *keySet) lookup(k rawString, prev int) (string, int) {
	n := len(ks.required) + len(ks.optional)
	for j := range n {
		i := (prev + 1 + j) % n
		name := ks.name(i)
		if k.is(name) {
			return name, i
		}
	}
	return "", -1
}

// name returns known key number i.
func (ks *keySet) name(i int) string {
	if i < len(ks.required) {
		return ks.required[i]
	}
	return ks.optional[i-len(ks.required)]
}

// object reads an object at at. It calls each with the key and location
// of every known key, to read the value; it skips the values of unknown
// keys itself, so that later minor versions of the format still read,
// unless keys.keepOthers asks for them too.
// Duplicate keys are refused, unknown ones too: readers that keep the
// first and readers that keep the last would see different images under
// one id. After the object it checks that the required keys were all
// present.
func (r *reader) object(at loc, keys *keySet, each func(key string, at loc) error) error {
	if err := r.open(at, '{', "an object"); err != nil {
		return err
	}
	var (
		seen   uint64 // known keys, by number
		prev   = -1   // the number of the last known key
		others otherKeys
	)
	for n := 0; ; n++ {
		c, _ := r.peek()
		if c == '}' {
			r.i++
			break
		}
		if n > 0 {
			if c != ',' {
				return at.syntax(r.errorAt(r.i, "after object key:value pair"))
			}
			r.i++
			c, _ = r.peek()
		}
		if c != '"' {
			return at.syntax(r.errorAt(r.i, "looking for beginning of object key string"))
		}
		k, err := r.quoted()
		if err != nil {
			return at.syntax(err)
		}
		key, i := keys.lookup(k, prev)
		if i >= 0 {
			if seen&(1<<i) != 0 {
				return fmt.Errorf("%s: duplicate key", at.field(key))
			}
			seen |= 1 << i
			prev = i
		} else if others.add(k.unquoted()) {
			return fmt.Errorf("%s: duplicate key", at.field(k.String()))
		}
		if c, _ := r.peek(); c != ':' {
			return at.field(k.String()).syntax(r.errorAt(r.i, "after object key"))
		}
		r.i++
		switch {
		case i >= 0:
			err = each(key, at.field(key))
		case keys.keepOthers:
			other := k.String()
			err = each(other, at.field(other))
		default:
			if err = r.skip(); err != nil {
				err = at.field(k.String()).syntax(err)
			}
		}
		if err != nil {
			return err
		}
	}
	r.depth--
	for i, name := range keys.required {
		if seen&(1<<i) == 0 {
			return fmt.Errorf("%s: missing", at.field(name))
		}
	}
	return nil
}

// otherKeys are the unknown keys of one object, kept to refuse duplicates
// among them too. Objects rarely have any, so they are a short list of
// slices of the input; an object with many becomes a map, so that one
// with thousands of keys does not cost quadratic time.
type otherKeys struct {
	list [][]byte
	set  map[string]struct{}
}

const otherKeysListMax = 16

// add records k and reports whether it was there already.
func (o *otherKeys) add(k []byte) (dup bool) {
	if o.set == nil {
		for _, x := range o.list {
			if bytes.Equal(x, k) {
				return true
			}
		}
		if len(o.list) < otherKeysListMax {
			o.list = append(o.list, k)
			return false
		}
		o.set = make(map[string]struct{}, 2*otherKeysListMax)
		for _, x := range o.list {
			o.set[string(x)] = struct{}{}
		}
	}
	if _, dup := o.set[string(k)]; dup {
		return true
	}
	o.set[string(k)] = struct{}{}
	return false
}

// array reads an array at at, calling each with the index and location of
// every element; each must read the element.
func (r *reader) array(at loc, each func(i int, at loc) error) error {
	if err := r.open(at, '[', "an array"); err != nil {
		return err
	}
	for i := 0; ; i++ {
		// Where a token reader would report a problem: at the array
		// when it looks closed or ends, else where the element is due.
		c, ok := r.peek()
		if !ok || c == ']' || c == '}' {
			if c == ']' {
				r.i++
				break
			}
			if i == 0 {
				return at.syntax(r.errorAt(r.i, "looking for beginning of value"))
			}
			return at.syntax(r.errorAt(r.i, "after array element"))
		}
		if i > 0 {
			if c != ',' {
				return at.elem(i).syntax(r.errorAt(r.i, "after array element"))
			}
			r.i++
		}
		if err := each(i, at.elem(i)); err != nil {
			return err
		}
	}
	r.depth--
	return nil
}

// raw reads any JSON value at at and returns its bytes as they are in the
// input.
func (r *reader) raw(at loc) ([]byte, error) {
	if _, err := r.value(at); err != nil {
		return nil, err
	}
	start := r.i
	if err := r.skip(); err != nil {
		return nil, at.syntax(err)
	}
	return r.b[start:r.i], nil
}

// rawString reads a string value at at without decoding it.
func (r *reader) rawString(at loc) (rawString, error) {
	c, err := r.value(at)
	if err != nil {
		return rawString{}, err
	}
	if c != '"' {
		return rawString{}, r.wrongType(at, "a string")
	}
	s, err := r.quoted()
	if err != nil {
		return s, at.syntax(err)
	}
	return s, nil
}

// string reads a string value at at.
func (r *reader) string(at loc) (string, error) {
	s, err := r.rawString(at)
	if err != nil {
		return "", err
	}
	return s.String(), nil
}

// int reads a JSON number at at that is an integer, written without
// fraction or exponent, and fits in an int.
func (r *reader) int(at loc) (int64, error) {
	c, err := r.value(at)
	if err != nil {
		return 0, err
	}
	if c != '-' && !isDigit(c) {
		return 0, r.wrongType(at, "an integer")
	}
	num, err := r.number()
	if err != nil {
		return 0, at.syntax(err)
	}
	if n, ok := smallInt(num); ok {
		return n, nil
	}
	n, err := strconv.ParseInt(string(num), 10, strconv.IntSize)
	if err != nil {
		if bytes.ContainsAny(num, ".eE") {
			return 0, fmt.Errorf("%s: want an integer, got %s", at, quote(string(num)))
		}
		return 0, fmt.Errorf("%s: integer %s out of range", at, quote(string(num)))
	}
	return n, nil
}

// smallInt is int's fast path: a number of at most 18 digits, without
// fraction or exponent, which cannot overflow.
func smallInt(num []byte) (int64, bool) {
	digits := num
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range digits {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if num[0] == '-' {
		n = -n
	}
	return n, true
}

// nonNegative reads an integer that must be at least zero.
func (r *reader) nonNegative(at loc) (int64, error) {
	n, err := r.int(at)
	if err == nil && n < 0 {
		err = fmt.Errorf("%s: negative (%d)", at, n)
	}
	return n, err
}

// digest reads a digest in its text form at at.
func (r *reader) digest(at loc) (Digest, error) {
	s, err := r.rawString(at)
	if err != nil {
		return Digest{}, err
	}
	if !s.escaped {
		if d, ok := digestFromText(s.b); ok {
			return d, nil
		}
	}
	d, err := ParseDigest(s.String())
	if err != nil {
		return Digest{}, fmt.Errorf("%s: %w", at, err)
	}
	return d, nil
}

// stringFields reads an object at at whose keys are all required strings,
// into dst in the order of keys.required.
func (r *reader) stringFields(at loc, keys *keySet, dst ...*string) error {
	return r.object(at, keys, func(key string, at loc) (err error) {
		*dst[slices.Index(keys.required, key)], err = r.string(at)
		return err
	})
}

// digestFields reads an object at at whose keys are all required digests,
// into dst in the order of keys.required.
func (r *reader) digestFields(at loc, keys *keySet, dst ...*Digest) error {
	return r.object(at, keys, func(key string, at loc) (err error) {
		*dst[slices.Index(keys.required, key)], err = r.digest(at)
		return err
	})
}
