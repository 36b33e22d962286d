package worktree

import (
	"slices"
	"strings"
	"testing"
)

func TestReadEnvFile(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		err      string
	}{
		{"proc environ", "A=1\x00B=two words\x00\x00", []string{"A=1", "B=two words"}, ""},
		{"dotenv", "# comment\n\nexport A=1\nB = 'x # y'\nC=\"line\\nnext \\\"q\\\"\"\nD=bare # note\r\nE=\n",
			[]string{"A=1", "B=x # y", "C=line\nnext \"q\"", "D=bare", "E="}, ""},
		{"not an assignment", "A=1\njust words\n", nil, "line 2: not NAME=value"},
		{"unterminated", "A=\"open\n", nil, "line 1: unterminated double quote"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadEnvFile(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// FuzzReadEnvFile: any input gives entries with a name and "=", or an
// error; never a panic.
func FuzzReadEnvFile(f *testing.F) {
	for _, s := range []string{"A=1\x00B=2", "export A='x'\n# c\nB=\"y\\n\"", "A", "=", "A=\"", "A='"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		env, err := ReadEnvFile(strings.NewReader(string(in)))
		if err != nil {
			return
		}
		for _, kv := range env {
			if !strings.Contains(kv, "=") && !strings.Contains(string(in), "\x00") {
				t.Fatalf("entry %q has no '='", kv)
			}
		}
	})
}
