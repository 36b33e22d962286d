package worktree

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
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
	base  []rulePattern // defaults and ignore files, lowest priority first
	extra []rulePattern // Capture.Ignore, highest priority
	all   *patternSet
}

func newIgnoreRules(base, extra []rulePattern) *ignoreRules {
	all := make([]rulePattern, 0, len(base)+len(extra))
	all = append(append(all, base...), extra...)
	return &ignoreRules{base: base, extra: extra, all: newPatternSet(all)}
}

// rootIgnoreRules are the rules before any ignore file is read.
func rootIgnoreRules(noDefaults bool, extra []string) *ignoreRules {
	var base []rulePattern
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
	base := make([]rulePattern, 0, len(r.base)+len(ps))
	base = append(append(base, r.base...), ps...)
	return newIgnoreRules(base, r.extra)
}

// ignored reports whether the entry at path (segments from the root) is
// ignored.
func (r *ignoreRules) ignored(path []string, isDir bool) bool {
	return r.all.matcher.Match(path, isDir)
}

// A rulePattern is one parsed gitignore line and what the walk needs to
// know of it.
type rulePattern struct {
	gitignore.Pattern
	domain []string
	// simple: no "/" but a trailing one, so that the pattern matches a
	// path when it matches any one of its segments below the domain, as
	// gitignore.ParsePattern reads such a line.
	simple bool
	// name, for a simple pattern whose glob is a literal name, or one
	// "*" then a literal, or a literal then "*": a match on one name by
	// string comparison, which gives filepath.Match's verdict at a
	// fraction of its cost (a walk asks every pattern about every name).
	name nameMatch
	// need, for a pattern that is not simple, is one of its segments
	// with no glob in it: gitignore matches it only against a segment
	// equal to it, so a path holding no such segment is not matched,
	// which a walk knows without a glob (most paths, for "**/.aws/credentials").
	need string
}

// A nameMatch decides a simple pattern on one name without a glob.
type nameMatch struct {
	kind      nameMatchKind
	text      string
	dirOnly   bool
	inclusion bool
}

type nameMatchKind uint8

const (
	nameGlob   nameMatchKind = iota // no shortcut: filepath.Match decides
	nameEqual                       // name == text
	nameSuffix                      // "*" text
	namePrefix                      // text "*"
)

// newNameMatch reads a simple pattern's line as gitignore.ParsePattern
// does: "!" includes, trailing spaces go unless escaped, a trailing "/"
// matches directories only.
func newNameMatch(line string) nameMatch {
	var m nameMatch
	p := line
	if strings.HasPrefix(p, "!") {
		m.inclusion, p = true, p[1:]
	}
	if !strings.HasSuffix(p, "\\ ") {
		p = strings.TrimRight(p, " ")
	}
	if strings.HasSuffix(p, "/") {
		m.dirOnly, p = true, p[:len(p)-1]
	}
	const meta = `*?[\`
	switch {
	case !strings.ContainsAny(p, meta):
		m.kind, m.text = nameEqual, p
	case len(p) > 1 && p[0] == '*' && !strings.ContainsAny(p[1:], meta):
		m.kind, m.text = nameSuffix, p[1:]
	case len(p) > 1 && p[len(p)-1] == '*' && !strings.ContainsAny(p[:len(p)-1], meta):
		m.kind, m.text = namePrefix, p[:len(p)-1]
	}
	return m
}

// match is what the pattern makes of an entry called name directly in
// its domain, as gitignore's Match on the domain and name says; ok is
// false for a pattern with no shortcut. A name holds no separator, so a
// "*" matches any part of it.
func (m nameMatch) match(name string, isDir bool) (r gitignore.MatchResult, ok bool) {
	var hit bool
	switch m.kind {
	case nameGlob:
		return gitignore.NoMatch, false
	case nameEqual:
		hit = name == m.text
	case nameSuffix:
		hit = strings.HasSuffix(name, m.text)
	case namePrefix:
		hit = strings.HasPrefix(name, m.text)
	}
	switch {
	case !hit || m.dirOnly && !isDir:
		return gitignore.NoMatch, true
	case m.inclusion:
		return gitignore.Include, true
	}
	return gitignore.Exclude, true
}

// parsePatterns parses gitignore lines: blank lines and comments are
// skipped, "\#" stands for a literal leading "#", and a trailing "\r" of
// a file written on Windows is dropped.
func parsePatterns(lines []string, domain []string) []rulePattern {
	var ps []rulePattern
	for _, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, `\#`) {
			line = line[1:]
		}
		p := rulePattern{Pattern: gitignore.ParsePattern(line, domain), domain: domain, simple: isSimplePattern(line)}
		if p.simple {
			p.name = newNameMatch(line)
		} else {
			p.need = neededSegment(line)
		}
		ps = append(ps, p)
	}
	return ps
}

// neededSegment reads a line with a "/" as gitignore.ParsePattern does and
// returns its last segment that holds no glob, "" if none does.
func neededSegment(line string) string {
	p := strings.TrimPrefix(line, "!")
	if !strings.HasSuffix(p, "\\ ") {
		p = strings.TrimRight(p, " ")
	}
	segs := strings.Split(strings.TrimSuffix(p, "/"), "/")
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i] != "" && !strings.ContainsAny(segs[i], `*?[\`) {
			return segs[i]
		}
	}
	return ""
}

// isSimplePattern reads a line as gitignore.ParsePattern does to tell
// whether it matches path segments one at a time.
func isSimplePattern(line string) bool {
	p := strings.TrimPrefix(line, "!")
	if !strings.HasSuffix(p, "\\ ") {
		p = strings.TrimRight(p, " ")
	}
	return !strings.Contains(strings.TrimSuffix(p, "/"), "/")
}

// A patternSet matches paths as gitignore.Matcher does: the last pattern
// that matches decides. In a walk, inDir does the work that depends on the
// directory once for all its entries.
type patternSet struct {
	patterns []rulePattern
	matcher  gitignore.Matcher
}

func newPatternSet(ps []rulePattern) *patternSet {
	plain := make([]gitignore.Pattern, len(ps))
	for i, p := range ps {
		plain[i] = p.Pattern
	}
	return &patternSet{patterns: ps, matcher: gitignore.NewMatcher(plain)}
}

// dirMatch is a patternSet in one directory: a simple pattern matches an
// entry there if it matches one of the directory's segments (found once
// here, the same for every entry) or the entry's name.
type dirMatch struct {
	set      *patternSet
	dir      []string
	patterns []patternInDir // one for each pattern of set, in one block (a walk makes two dirMatches a directory: ignore rules and secret patterns)
	name     []string       // scratch: a domain and one name
}

// patternInDir is what a dirMatch knows of one pattern in its directory.
type patternInDir struct {
	inDir  bool                  // the pattern's domain is the directory or above it
	held   bool                  // other patterns: the directory has a segment equal to need
	prefix gitignore.MatchResult // simple patterns: what the directory's own segments make of them
}

func (s *patternSet) inDir(dir []string) *dirMatch {
	m := &dirMatch{set: s, dir: dir, patterns: make([]patternInDir, len(s.patterns))}
	for i := range s.patterns {
		m.patterns[i] = s.patterns[i].inDir(dir)
	}
	return m
}

// inSubdir is m's set's inDir(dir) for dir, a subdirectory of m's
// directory (its segments and one more): what a pattern makes of the
// segments above is known from m, so only the new segment is matched.
// Down a tree 20 levels deep, inDir matched every pattern against every
// segment of every directory again: 5% of a first capture's CPU.
func (m *dirMatch) inSubdir(dir []string) *dirMatch {
	name := dir[len(dir)-1]
	c := &dirMatch{set: m.set, dir: dir, patterns: make([]patternInDir, len(m.set.patterns))}
	var one []string // a glob's domain and name
	for i := range m.set.patterns {
		p, above, here := &m.set.patterns[i], m.patterns[i], &c.patterns[i]
		switch {
		case !above.inDir:
			// dir may be the pattern's domain itself.
			*here = p.inDir(dir)
		case p.simple:
			here.inDir, here.prefix = true, above.prefix
			if above.prefix != gitignore.NoMatch {
				break
			}
			if p.name.kind == nameGlob {
				// A simple pattern matches each segment on its own: none
				// above did, so the new one decides.
				one = append(append(one[:0], p.domain...), name)
				here.prefix = p.Match(one, true)
			} else {
				here.prefix, _ = p.name.match(name, true)
			}
		default:
			here.inDir, here.held = true, above.held || name == p.need
		}
	}
	return c
}

// dirMatches are a walked directory's ignore rules and secret patterns,
// matched in it: its subdirectories' are made from them (inSubdir). They
// are read, never changed, once made: a subdirectory walked on another
// goroutine reads them while the directory's own walk goes on.
type dirMatches struct{ ignored, secret *dirMatch }

// below returns the matches of directory dir, whose ignore rules are
// ignore: made from up's, those of its parent, where up is that parent's
// and holds the same rules; else anew. up may be nil.
func (up *dirMatches) below(ignore *patternSet, dir []string) dirMatches {
	if up == nil || len(dir) != len(up.secret.dir)+1 {
		return dirMatches{ignored: ignore.inDir(dir), secret: secretRules().inDir(dir)}
	}
	m := dirMatches{secret: up.secret.inSubdir(dir)}
	if up.ignored.set == ignore {
		m.ignored = up.ignored.inSubdir(dir)
	} else {
		m.ignored = ignore.inDir(dir) // an ignore file of its own
	}
	return m
}

// inDir is what a dirMatch knows of p in directory dir.
func (p *rulePattern) inDir(dir []string) (here patternInDir) {
	here.inDir = len(dir) >= len(p.domain) && slices.Equal(dir[:len(p.domain)], p.domain)
	switch {
	case !here.inDir:
	case p.simple:
		here.prefix = p.matchSegments(dir)
	default:
		here.held = p.need == "" || slices.Contains(dir[len(p.domain):], p.need)
	}
	return here
}

// matchSegments is what simple pattern p makes of directory dir (which
// is in p's domain): whether one of dir's segments below the domain
// matches it.
func (p *rulePattern) matchSegments(dir []string) gitignore.MatchResult {
	if p.name.kind == nameGlob {
		return p.Match(dir, true)
	}
	for _, seg := range dir[len(p.domain):] {
		if r, _ := p.name.match(seg, true); r != gitignore.NoMatch {
			return r
		}
	}
	return gitignore.NoMatch
}

// match reports whether the entry name of the directory matches; path is
// the directory's segments and name, which glob patterns need whole.
func (m *dirMatch) match(path []string, name string, isDir bool) bool {
	for i := len(m.set.patterns) - 1; i >= 0; i-- {
		here := &m.patterns[i]
		if !here.inDir {
			continue
		}
		p := m.set.patterns[i]
		r := gitignore.NoMatch
		switch {
		case !p.simple:
			if here.held || name == p.need {
				r = p.Match(path, isDir)
			}
		case here.prefix != gitignore.NoMatch:
			r = here.prefix
		default:
			var ok bool
			if r, ok = p.name.match(name, isDir); !ok {
				m.name = append(append(m.name[:0], p.domain...), name)
				r = p.Match(m.name, isDir)
			}
		}
		if r != gitignore.NoMatch {
			return r == gitignore.Exclude
		}
	}
	return false
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
