package worktree

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// maxEnvFile bounds an environment file: an environment of more is a
// mistake, not an agent's.
const maxEnvFile = 16 << 20

// ReadEnvFile reads an environment as "NAME=value" strings, for
// Capture.Environ, from either form a tool has at hand: the NUL-separated
// entries of /proc/PID/environ, or the lines of a dotenv file ("NAME=value",
// "export NAME=value", values in single quotes taken as they are, in
// double quotes with \n, \t, \" and \\ escapes; blank lines and "#"
// comments skipped). A line that is none of these is an error naming it.
func ReadEnvFile(r io.Reader) ([]string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxEnvFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxEnvFile {
		return nil, fmt.Errorf("larger than %d bytes", maxEnvFile)
	}
	if bytes.IndexByte(b, 0) >= 0 {
		var env []string
		for entry := range bytes.SplitSeq(b, []byte{0}) {
			if len(entry) > 0 {
				env = append(env, string(entry))
			}
		}
		return env, nil
	}
	var env []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxEnvFile)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		name, value, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\"'") {
			return nil, fmt.Errorf("line %d: not NAME=value", n)
		}
		value, err := envValue(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		env = append(env, name+"="+value)
	}
	return env, sc.Err()
}

// envValue reads a dotenv value: quoted, or bare up to a " #" comment.
func envValue(v string) (string, error) {
	switch {
	case strings.HasPrefix(v, "'"):
		end := strings.IndexByte(v[1:], '\'')
		if end < 0 {
			return "", fmt.Errorf("unterminated single quote")
		}
		return v[1 : 1+end], nil
	case strings.HasPrefix(v, `"`):
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			switch c := v[i]; {
			case c == '"':
				return b.String(), nil
			case c == '\\' && i+1 < len(v):
				i++
				switch v[i] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case 'r':
					b.WriteByte('\r')
				default:
					b.WriteByte(v[i])
				}
			default:
				b.WriteByte(c)
			}
		}
		return "", fmt.Errorf("unterminated double quote")
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return v, nil
}
