package worktree

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestPatternSet_InDirAsGitignore: a directory's matcher decides every
// entry as the gitignore library's matcher does on the whole path, for
// the default ignores, the default secrets and rules of every kind from
// ignore files at several depths (negations, directory-only patterns,
// globs with "/" and "**", character classes, escapes), and paths that
// hold a glob's literal segment above the entry or as its name.
func TestPatternSet_InDirAsGitignore(t *testing.T) {
	names := []string{"a", "b", "src", "build", "node_modules", ".cache", ".git", "x.key", "id_rsa", "id_rsa.pub",
		".env", ".env.example", "keep.log", "debug.log", "lib", "Foo1", "foo2", "credentials", ".aws", "deep", " sp ", "#hash",
		"x.", "key", "*", "log"}
	sets := map[string]*patternSet{
		"defaults": newPatternSet(parsePatterns(DefaultIgnores, nil)),
		"secrets":  secretRules(),
		"files": newPatternSet(append(append(append(
			parsePatterns([]string{"*.log", "!keep.log", "build/", "/lib", "src/**/deep", `\#hash`, "[Ff]oo[0-9]", `\ sp\ `}, nil),
			parsePatterns([]string{"a/b", "!*.log", "**/x.key", "b/", "id_*"}, []string{"src"})...),
			parsePatterns([]string{"*", "!deep"}, []string{"src", "a"})...),
			parsePatterns([]string{"!.git/", "a"}, nil)...)),
		"paths": newPatternSet(parsePatterns([]string{"a/**", "!a/b/**/key", "/b/*/key", "**/log/", "deep/x.key/", "**/.aws/credentials",
			"!src/**/credentials", "[ab]/lib", "a/b/  ", "**/*", "!**/deep/**"}, nil)),
		"names": newPatternSet(parsePatterns([]string{"x.*", "*key", "!id_*", "lib/", "!b/", "*.", "*", "!\\*", "log  ", "!deep/  ", "x.*/"}, []string{"src"})),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for name, set := range sets {
		checked := 0
		for range 600 {
			dir := make([]string, rng.IntN(6))
			for i := range dir {
				dir[i] = names[rng.IntN(len(names))]
			}
			if rng.IntN(3) == 0 && len(dir) > 0 {
				dir[0] = "src"
			}
			m := set.inDir(dir)
			// Made a segment at a time from the root's, the same.
			down := set.inDir(nil)
			for i := range dir {
				down = down.inSubdir(dir[:i+1])
			}
			if !slices.Equal(down.patterns, m.patterns) {
				t.Fatalf("%s: in %v a segment at a time %+v, at once %+v", name, dir, down.patterns, m.patterns)
			}
			for _, entry := range names {
				path := append(dir[:len(dir):len(dir)], entry)
				for _, isDir := range []bool{false, true} {
					want := set.matcher.Match(path, isDir)
					if got := m.match(path, entry, isDir); got != want {
						t.Fatalf("%s: %s (dir %v): %v, the gitignore matcher says %v", name, strings.Join(path, "/"), isDir, got, want)
					}
					checked++
				}
			}
		}
		t.Log(name, fmt.Sprint(checked), "paths")
	}
}
