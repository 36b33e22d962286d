package worktree

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Redacted is what an env.v1 blob records instead of a secret's value.
const Redacted = "<redacted>"

// Secret-looking variable names, upper-cased: those ending in one of
// secretSuffixes or containing one of secretInfixes. The suffixes need
// their underscore so that, say, MONKEY or PWD (the working directory) are
// kept while API_KEY and DB_PWD are not.
var (
	secretSuffixes = []string{"_TOKEN", "_KEY", "_PAT", "_PASS", "_PWD", "_AUTH", "_CREDENTIALS"}
	secretInfixes  = []string{"SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "PRIVATE_KEY", "API_KEY", "APIKEY", "ACCESS_KEY", "COOKIE"}
)

// IsSecretName reports whether an environment variable's name looks like
// it holds a secret: *_TOKEN, *_KEY, *SECRET*, *PASSWORD* and the like,
// in any case.
func IsSecretName(name string) bool {
	upper := strings.ToUpper(name)
	for _, s := range secretSuffixes {
		if strings.HasSuffix(upper, s) {
			return true
		}
	}
	for _, s := range secretInfixes {
		if strings.Contains(upper, s) {
			return true
		}
	}
	return false
}

// hasURLPassword reports whether a value is a URL with a password in it
// (postgres://user:pass@host/db), which leaks a secret whatever the
// variable's name.
func hasURLPassword(value string) bool {
	if !strings.Contains(value, "://") {
		return false
	}
	u, err := url.Parse(value)
	if err != nil || u.User == nil {
		return false
	}
	_, ok := u.User.Password()
	return ok
}

// encodeEnv returns the env.v1 blob of an environment:
//
//	{"kind":"env.v1","cwd":"/work","vars":{"HOME":"/root",...}}
//
// with names sorted, the first of duplicate names kept (as getenv does),
// entries without "=" or with an empty name dropped, and the values of
// secret-looking names, of names scrub matches, and of URLs with passwords
// replaced by Redacted. Bytes that are not UTF-8 become U+FFFD: JSON
// cannot hold them.
func encodeEnv(cwd string, environ []string, scrub []*regexp.Regexp) []byte {
	vars := map[string]string{}
	var names []string
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		name = validUTF8(name) // so that two names cannot become one key below
		if _, dup := vars[name]; dup {
			continue
		}
		if IsSecretName(name) || hasURLPassword(value) || slices.ContainsFunc(scrub, func(re *regexp.Regexp) bool { return re.MatchString(name) }) {
			value = Redacted
		}
		vars[name] = value
		names = append(names, name)
	}
	slices.Sort(names)
	b := []byte(`{"kind":"env.v1","cwd":`)
	b = appendJSONString(b, cwd)
	b = append(b, `,"vars":{`...)
	for i, name := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, name)
		b = append(b, ':')
		b = appendJSONString(b, vars[name])
	}
	return append(b, "}}"...)
}

func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// appendJSONString appends s as a JSON string the way the format's
// reference writes strings (see the spec's "String escaping"): '"' and
// '\\' escaped, \b \f \n \r \t, \u00xx for other control characters,
// everything else raw UTF-8. Invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, "\uFFFD"...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				b = append(b, c)
			}
		}
		i++
	}
	return append(b, '"')
}
