package worktree

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// Names of the files that hold ignore rules: in each directory the first
// of these that exists applies to that directory's subtree.
var ignoreFiles = []string{".pfignore", ".gitignore"}

// DefaultIgnores are the patterns a capture ignores unless told not to:
// build output, dependencies and caches that tools rebuild, and
// version-control data, which would only make images larger and snapshots
// slower. Each is a gitignore pattern that matches at any depth. They
// include the reference's defaults (pf-world/src/fs.rs, 1.0.13), each a
// whole path component, file or directory (target, not targeted), so
// that a workspace captured by both has the same tree; pf leaves out all
// of .git/ (the reference only .git/objects), .hg/ and .svn/ too.
var DefaultIgnores = []string{
	"target",
	"node_modules",
	".pfcid",
	"__pycache__",
	".pytest_cache",
	".mypy_cache",
	".ruff_cache",
	".tox",
	".coverage",
	".venv",
	".DS_Store",
	"*.pyc",
	"*.pyo",
	".git/",
	".hg/",
	".svn/",
}

// ignoreRules are the patterns in force in one directory of the walk, in
// increasing priority: the defaults, then the ignore files from the root
// down, then the caller's. They are immutable: a subdirectory with an
// ignore file of its own gets a new value.
type ignoreRules struct {
	base    []gitignore.Pattern // defaults and ignore files, lowest priority first
	extra   []gitignore.Pattern // Capture.Ignore, highest priority
	matcher gitignore.Matcher
}

func newIgnoreRules(base, extra []gitignore.Pattern) *ignoreRules {
	all := make([]gitignore.Pattern, 0, len(base)+len(extra))
	all = append(append(all, base...), extra...)
	return &ignoreRules{base: base, extra: extra, matcher: gitignore.NewMatcher(all)}
}

// rootIgnoreRules are the rules before any ignore file is read.
func rootIgnoreRules(noDefaults bool, extra []string) *ignoreRules {
	var base []gitignore.Pattern
	if !noDefaults {
		base = parsePatterns(DefaultIgnores, nil)
	}
	return newIgnoreRules(base, parsePatterns(extra, nil))
}

// with returns the rules for a directory whose ignore file holds
// patterns; domain is the directory's path from the root, in segments.
func (r *ignoreRules) with(patterns []string, domain []string) *ignoreRules {
	ps := parsePatterns(patterns, domain)
	if len(ps) == 0 {
		return r
	}
	base := make([]gitignore.Pattern, 0, len(r.base)+len(ps))
	base = append(append(base, r.base...), ps...)
	return newIgnoreRules(base, r.extra)
}

// ignored reports whether the entry at path (segments from the root) is
// ignored.
func (r *ignoreRules) ignored(path []string, isDir bool) bool {
	return r.matcher.Match(path, isDir)
}

// parsePatterns parses gitignore lines: blank lines and comments are
// skipped, "\#" stands for a literal leading "#", and a trailing "\r" of
// a file written on Windows is dropped.
func parsePatterns(lines []string, domain []string) []gitignore.Pattern {
	var ps []gitignore.Pattern
	for _, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, `\#`) {
			line = line[1:]
		}
		ps = append(ps, gitignore.ParsePattern(line, domain))
	}
	return ps
}

// maxIgnoreFile bounds how much of an ignore file is read: a "pattern
// file" of gigabytes is a mistake, not rules.
const maxIgnoreFile = 4 << 20

// readIgnoreFile reads the lines of an ignore file.
func readIgnoreFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxIgnoreFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxIgnoreFile {
		return nil, fmt.Errorf("%q: larger than %d bytes", path, maxIgnoreFile)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxIgnoreFile)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, sc.Err()
}
