package manifest

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The JSON readers of this package walk the input bytes with a scanner of
// their own instead of encoding/json. Decoder.Token, which the strict
// rules need (Unmarshal can refuse neither duplicate keys nor keys that
// differ only in case), costs an interface value per token and a string
// per key: hundreds of allocations for one manifest. The scanner below
// knows only the JSON grammar, RFC 8259 as encoding/json accepts it. It
// returns strings as slices of the input, decodes their escapes only when
// asked, and otherwise allocates only to report an error. reader.go builds
// the strict reader on it, peek.go the cheap look at a blob's kind.

// jsonMaxDepth is encoding/json's own bound on nesting, which peek.go
// keeps so that it accepts what a json.Decoder would.
const jsonMaxDepth = 10000

// A scanner reads JSON from a byte slice.
type scanner struct {
	b        []byte
	i        int // offset of the next byte to read
	depth    int // arrays and objects open around the next value
	maxDepth int // how deep they may nest
}

// A syntaxError is input that is not JSON. The wording follows
// encoding/json's.
type syntaxError struct {
	offset int
	msg    string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at offset %d: %s", e.offset, e.msg)
}

// errorAt reports the byte at offset i, which is not allowed in context,
// or the end of the input when i is there.
func (s *scanner) errorAt(i int, context string) error {
	if i >= len(s.b) {
		return &syntaxError{len(s.b), "unexpected EOF"}
	}
	return &syntaxError{i, "invalid character " + quoteChar(s.b[i]) + " " + context}
}

// tooDeep reports an array or object opened at offset i beyond maxDepth,
// in the words of checkDepth.
func (s *scanner) tooDeep(i int) error {
	return fmt.Errorf("nested deeper than %d at offset %d", s.maxDepth, i)
}

// quoteChar formats c for an error message as encoding/json does.
func quoteChar(c byte) string {
	switch c {
	case '\'':
		return `'\''`
	case '"':
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}

// peek skips white space and returns the next byte without consuming it;
// ok is false at the end of the input.
func (s *scanner) peek() (c byte, ok bool) {
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; c {
		case ' ', '\t', '\n', '\r':
		default:
			return c, true
		}
	}
	return 0, false
}

// A rawString is a JSON string as it appears in the input: the bytes
// between the quotes, and whether they hold escapes that unquoted must
// decode. It lets a reader compare a string, or parse a digest out of it,
// without allocating.
type rawString struct {
	b       []byte
	escaped bool
}

// quoted reads the string that starts at the current offset (a '"').
func (s *scanner) quoted() (rawString, error) {
	b := s.b // a local copy lets the compiler keep it in registers
	start := s.i + 1
	escaped := false
	for i := start; i < len(b); i++ {
		c := b[i]
		if !stringSpecial[c] {
			continue
		}
		switch {
		case c == '"':
			s.i = i + 1
			return rawString{b[start:i], escaped}, nil
		case c == '\\':
			escaped = true
			i++
			if i >= len(b) {
				return rawString{}, s.errorAt(i, "")
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for range 4 {
					i++
					if i >= len(b) || !isHex(b[i]) {
						return rawString{}, s.errorAt(i, `in \u hexadecimal character escape`)
					}
				}
			default:
				return rawString{}, s.errorAt(i, "in string escape code")
			}
		default: // a control character
			return rawString{}, s.errorAt(i, "in string literal")
		}
	}
	return rawString{}, s.errorAt(len(b), "")
}

// stringSpecial marks the bytes that end a string or need a closer look
// inside one: the quote, the backslash and the control characters.
var stringSpecial = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// number reads the number that starts at the current offset and returns
// its text: an optional minus, 0 or digits not starting with 0, an
// optional fraction and an optional exponent.
func (s *scanner) number() ([]byte, error) {
	start, b := s.i, s.b
	i := start
	if b[i] == '-' {
		i++
	}
	digits := func() {
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && isDigit(b[i]):
		digits()
	default:
		return nil, s.errorAt(i, "in numeric literal")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return nil, s.errorAt(i, "after decimal point in numeric literal")
		}
		digits()
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return nil, s.errorAt(i, "in exponent of numeric literal")
		}
		digits()
	}
	s.i = i
	return b[start:i], nil
}

// literal reads the word lit (true, false or null) at the current offset.
func (s *scanner) literal(lit string) error {
	for j := range len(lit) {
		i := s.i + j
		if i >= len(s.b) || s.b[i] != lit[j] {
			return s.errorAt(i, "in literal "+lit+" (expecting "+quoteChar(lit[j])+")")
		}
	}
	s.i += len(lit)
	return nil
}

// scalar reads a string, number, boolean or null at the current offset,
// which is not white space, and returns what it was in the words of a type
// error ("a string", ...).
func (s *scanner) scalar() (what string, err error) {
	switch c := s.b[s.i]; {
	case c == '"':
		_, err = s.quoted()
		return "a string", err
	case c == '-' || isDigit(c):
		_, err = s.number()
		return "a number", err
	case c == 't':
		return "a boolean", s.literal("true")
	case c == 'f':
		return "a boolean", s.literal("false")
	case c == 'n':
		return "null", s.literal("null")
	}
	return "", s.errorAt(s.i, "looking for beginning of value")
}

// key reads an object key and the colon after it.
func (s *scanner) key() (rawString, error) {
	if c, _ := s.peek(); c != '"' {
		return rawString{}, s.errorAt(s.i, "looking for beginning of object key string")
	}
	k, err := s.quoted()
	if err != nil {
		return k, err
	}
	if c, _ := s.peek(); c != ':' {
		return k, s.errorAt(s.i, "after object key")
	}
	s.i++
	return k, nil
}

// skip reads one value of any type. It keeps the open arrays and objects
// on a stack of its own rather than recursing, so that what stack a
// hostile input costs is bounded by maxDepth.
func (s *scanner) skip() error {
	var buf [maxDepth]byte
	closers := buf[:0] // the closing bracket of each open array or object
	for {
		// A value starts here.
		c, ok := s.peek()
		if !ok {
			return s.errorAt(s.i, "")
		}
		if c == '{' || c == '[' {
			if s.depth+len(closers) >= s.maxDepth {
				return s.tooDeep(s.i)
			}
			s.i++
			closer := c + 2 // '{'+2 is '}', '['+2 is ']'
			if next, _ := s.peek(); next != closer {
				closers = append(closers, closer)
				if c == '{' {
					if _, err := s.key(); err != nil {
						return err
					}
				}
				continue
			}
			s.i++ // an empty array or object
		} else if _, err := s.scalar(); err != nil {
			return err
		}

		// A value ended: close what it ends, then go on to the next
		// element, if any.
		for {
			if len(closers) == 0 {
				return nil
			}
			closer := closers[len(closers)-1]
			c, _ := s.peek()
			if c == closer {
				s.i++
				closers = closers[:len(closers)-1]
				continue
			}
			if c != ',' {
				if closer == '}' {
					return s.errorAt(s.i, "after object key:value pair")
				}
				return s.errorAt(s.i, "after array element")
			}
			s.i++
			if closer == '}' {
				if _, err := s.key(); err != nil {
					return err
				}
			}
			break
		}
	}
}

// unquoted returns the bytes that s stands for, decoding escapes as
// encoding/json does: \uXXXX pairs that form a UTF-16 surrogate pair
// become one rune, any other surrogate becomes U+FFFD. Without escapes it
// returns the input's own bytes and does not allocate. Bytes that are
// not valid UTF-8 are kept as they are, where encoding/json would replace
// them: the strict reader has refused such input already, and peek.go
// compares only with ASCII, which neither form equals.
func (s rawString) unquoted() []byte {
	if !s.escaped {
		return s.b
	}
	b := make([]byte, 0, len(s.b))
	in := s.b
	for i := 0; i < len(in); {
		c := in[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		switch in[i+1] { // the scanner has checked every escape
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := hex4(in[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(in) && in[i] == '\\' && in[i+1] == 'u' {
					if pair := utf16.DecodeRune(r, hex4(in[i+2:i+6])); pair != utf8.RuneError {
						r = pair
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
			continue
		default: // '"', '\\', '/'
			b = append(b, in[i+1])
		}
		i += 2
	}
	return b
}

// hex4 decodes the four hex digits of a \u escape.
func hex4(h []byte) rune {
	var r rune
	for _, c := range h {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// String returns the string s stands for.
func (s rawString) String() string {
	return string(s.unquoted())
}

// is reports whether s stands for want, without allocating unless s has
// escapes.
func (s rawString) is(want string) bool {
	if !s.escaped {
		return string(s.b) == want
	}
	return string(s.unquoted()) == want
}

// intern returns s as a string: the one of common that it equals, which
// costs no allocation, or else a new string.
func (s rawString) intern(common ...string) string {
	for _, c := range common {
		if s.is(c) {
			return c
		}
	}
	return s.String()
}
