package worktree

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
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

// ShellNoise are variables a shell sets for itself, which say nothing of
// the agent's environment and change from one shell to the next: an
// env.v1 blob leaves them out.
var ShellNoise = []string{"SHLVL", "_", "OLDPWD", "PWD"}

// Credentials inside values, whatever the variable's name: a password in
// a URL, a bearer token, a webhook URL (whose path is its secret), a
// secret-named query parameter, and the prefixes of well-known tokens.
// The patterns compile on first use, not at start-up: every pf process
// links this package, few of them capture an environment.
var (
	urlPattern    = lazyRegexp(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)
	bearerPattern = lazyRegexp(`(?i)\b(bearer|token|basic)(\s+)[A-Za-z0-9._~+/=-]{8,}`)
	tokenPattern  = lazyRegexp(`\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}|sk-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|npm_[A-Za-z0-9]{36})\b`)
	webhookHosts  = []string{"hooks.slack.com", "discord.com", "discordapp.com", "webhook.office.com", "outlook.office.com", "chat.googleapis.com"}
)

// redactValue returns value with the credentials inside it replaced by
// Redacted, and whether it found any.
func redactValue(value string) (string, bool) {
	found := false
	value = urlPattern().ReplaceAllStringFunc(value, func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return raw
		}
		changed := false
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Redacted)
			changed = true
		}
		if isWebhook(u) {
			u.Path, u.RawPath, u.RawQuery = "/"+Redacted, "", ""
			changed = true
		}
		if q := u.Query(); len(q) > 0 {
			for name := range q {
				if IsSecretName(name) || isSecretParam(name) {
					q.Set(name, Redacted)
					changed = true
				}
			}
			if changed {
				u.RawQuery = q.Encode()
			}
		}
		if !changed {
			return raw
		}
		found = true
		s, _ := url.PathUnescape(u.String())
		return s
	})
	value = bearerPattern().ReplaceAllStringFunc(value, func(m string) string {
		found = true
		sub := bearerPattern().FindStringSubmatch(m)
		return sub[1] + sub[2] + Redacted
	})
	value = tokenPattern().ReplaceAllStringFunc(value, func(string) string {
		found = true
		return Redacted
	})
	return value, found
}

// isWebhook reports whether u is an incoming-webhook URL, which lets
// anyone who has it post.
func isWebhook(u *url.URL) bool {
	host := strings.ToLower(u.Hostname())
	for _, h := range webhookHosts {
		if host == h || strings.HasSuffix(host, "."+h) {
			return strings.Contains(strings.ToLower(u.Path), "hook") || strings.HasPrefix(u.Path, "/services/") || h == "chat.googleapis.com"
		}
	}
	return strings.Contains(strings.ToLower(u.Path), "webhook") && strings.Count(u.Path, "/") >= 3
}

// isSecretParam reports whether a URL's query parameter name holds a
// credential.
func isSecretParam(name string) bool {
	switch strings.ToLower(name) {
	case "token", "access_token", "refresh_token", "id_token", "key", "api_key", "apikey", "sig", "signature", "secret", "password", "pass", "auth", "code", "x-amz-signature", "x-amz-credential", "x-goog-signature":
		return true
	}
	return false
}

// encodeEnv returns the env.v1 blob of an environment:
//
//	{"kind":"env.v1","cwd":"/work","vars":{"HOME":"/root",...}}
//
// with names sorted, the first of duplicate names kept (as getenv does),
// entries without "=" or with an empty name dropped, ShellNoise dropped,
// the values of secret-looking names and of names scrub matches replaced
// by Redacted, and credentials inside other values (see redactValue)
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
		if _, dup := vars[name]; dup || slices.Contains(ShellNoise, name) {
			continue
		}
		if IsSecretName(name) || slices.ContainsFunc(scrub, func(re *regexp.Regexp) bool { return re.MatchString(name) }) {
			value = Redacted
		} else {
			value, _ = redactValue(value)
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

// lazyRegexp compiles expr on the first call of the function it returns.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
