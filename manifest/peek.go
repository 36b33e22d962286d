package manifest

// hasKey and hasKind look at the top level of a blob that may or may not
// be JSON, to tell whether a decoder should read it: Refs asks whether a
// cache.manifest blob has pages, IsTree and DecodeMergedEffects what kind
// a blob claims to be. They read no further than the key they look for and
// check only the syntax of what they pass, as a json.Decoder reading token
// by token would: no UTF-8 check, no duplicate keys, no trailing data, and
// encoding/json's own depth limit on the values they skip.

// hasKey reports whether the JSON object at the start of b has the
// top-level key.
func hasKey(b []byte, key string) bool {
	_, ok := findKey(b, key)
	return ok
}

// hasKind reports whether the JSON object at the start of b has a
// top-level "kind" whose value, the first such key's, is the string kind.
// Trailing data is not looked at: a JSON-lines ledger has the kind of its
// header line.
func hasKind(b []byte, kind string) bool {
	s, ok := findKey(b, "kind")
	if !ok {
		return false
	}
	if c, _ := s.peek(); c != ':' {
		return false
	}
	s.i++
	if c, _ := s.peek(); c != '"' {
		return false
	}
	v, err := s.quoted()
	return err == nil && v.is(kind)
}

// findKey walks the object at the start of b as far as the first
// top-level key equal to key and returns a scanner just after that key,
// before its colon. ok is false when b is not an object, breaks the JSON
// syntax on the way, or has no such key.
func findKey(b []byte, key string) (s scanner, ok bool) {
	s = scanner{b: b, maxDepth: jsonMaxDepth}
	if c, _ := s.peek(); c != '{' {
		return s, false
	}
	s.i++
	for n := 0; ; n++ {
		c, _ := s.peek()
		if n > 0 {
			if c != ',' {
				return s, false
			}
			s.i++
			c, _ = s.peek()
		}
		if c != '"' {
			return s, false
		}
		k, err := s.quoted()
		if err != nil {
			return s, false
		}
		if k.is(key) {
			return s, true
		}
		if c, _ := s.peek(); c != ':' {
			return s, false
		}
		s.i++
		if s.skip() != nil {
			return s, false
		}
	}
}
