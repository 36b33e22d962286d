package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/processfork/pf/worktree"
	"github.com/urfave/cli/v2"
)

// fsRootDescription is the part of pf snapshot's help about --fs-root.
const fsRootDescription = "--fs-root DIR snapshots an agent's workspace: the files, directories, symbolic links (their\n" +
	"targets, never followed) and modes under DIR, with the ignore rules of .pfignore (else\n" +
	".gitignore) in each directory, the default ignores (.git/, node_modules, target, __pycache__,\n" +
	".venv, *.pyc, ... as whole names; --no-default-ignores keeps them) and --ignore PATTERN; the\n" +
	"environment and working directory, values of secret-like names (*_TOKEN, *_KEY, *SECRET*,\n" +
	"*PASSWORD*, ... and --scrub-env REGEX) and credentials inside values (passwords in URLs, Bearer\n" +
	"tokens, webhook URLs) recorded as <redacted>, and shell noise (SHLVL, _, PWD, OLDPWD) left out;\n" +
	"the recorded working directory is DIR; the trace and effects ledger from JSON-lines files, each\n" +
	"line checked. The layers not given (model, cache, effects) are what the reference's pf snapshot\n" +
	"writes for them. The new image becomes DIR's head (per --session; pf heads lists them), kept in\n" +
	"the store: nothing is written into DIR. The parent is --parent, else DIR's head, else the image\n" +
	"DIR/.pfcid names (the reference's checkout leaves one). Without --parent, a workspace unchanged\n" +
	"since that parent (the same files, directories, links, modes, environment and other layers) is\n" +
	"that image: pf snapshot prints its id, makes it the head, and commits nothing. Files unchanged\n" +
	"since the last snapshot of DIR are not read again. Files that usually hold credentials (.env, .env.*, *.pem, *.key,\n" +
	"id_rsa*, .npmrc, .netrc, credentials.json, ...; not .env.example) are not stored, named in one\n" +
	"warning (--include-secrets stores them). A file that keeps changing while it is read (a log) is\n" +
	"stored as read, with a warning (--strict fails instead); sockets, devices, unreadable files and\n" +
	"files that vanish are skipped with a warning."

// fsRootFlags are pf snapshot's flags for --fs-root.
func fsRootFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "fs-root", TakesFile: true, Usage: "snapshot the workspace `DIR`"},
		&cli.StringFlag{Name: "trace-from-jsonl", TakesFile: true, Usage: `with --fs-root, the trace: a JSON-lines FILE of {"role":..,"content":..} messages`},
		&cli.StringFlag{Name: "effects-from-jsonl", TakesFile: true, Usage: "with --fs-root, the effects ledger: a JSON-lines `FILE` of tool calls, with or without its header line"},
		&cli.StringFlag{Name: "agent-kind", Value: "workspace", Usage: "with --fs-root, the agent runtime's `KIND` (claude-code, langgraph, ...)"},
		&cli.StringFlag{Name: "agent-version", Usage: "with --fs-root, the agent runtime's `VERSION`"},
		&cli.StringFlag{Name: "name", Usage: "with --fs-root, tag the new image `NAME`"},
		&cli.StringFlag{Name: "session", Usage: "with --fs-root, keep the workspace's head in session `NAME` (one per task, say), apart from the default session's"},
		&cli.StringSliceFlag{Name: "ignore", Usage: "with --fs-root, also ignore gitignore `PATTERN`, over every ignore file (!PATTERN keeps; repeatable)"},
		&cli.BoolFlag{Name: "no-default-ignores", Usage: "with --fs-root, capture .git/, node_modules, target and the other default ignores too"},
		&cli.BoolFlag{Name: "include-secrets", Usage: "with --fs-root, store .env, *.pem, id_rsa and the other files that usually hold credentials too"},
		&cli.BoolFlag{Name: "strict", Usage: "with --fs-root, fail on a file that keeps changing while it is read, instead of storing the bytes read"},
		&cli.StringSliceFlag{Name: "scrub-env", Usage: "with --fs-root, also redact variables whose names match `REGEX` (repeatable)"},
		&cli.StringFlag{Name: "env-file", TakesFile: true, Usage: "with --fs-root, record the environment in `FILE` (NAME=value lines, or NUL-separated as /proc/PID/environ) instead of pf's own"},
		&cli.BoolFlag{Name: "no-env", Usage: "with --fs-root, record no environment variables"},
		&cli.StringFlag{Name: "model-diff", TakesFile: true, Usage: `with --fs-root, the model diff: a JSON FILE {"layout":..,"diff":..}`},
		&cli.StringFlag{Name: "cache-manifest", TakesFile: true, Usage: "with --fs-root, the KV-cache page manifest `FILE`, whose pages are in the store"},
	}
}

// withFSRootFlags adds fsRootFlags to flags. The two sets share no name
// (the flag package panics on a name defined twice as soon as pf
// snapshot parses its flags), so no set of names is built here: Names
// runs a regular expression for each flag, and every pf process builds
// this command's flags, whatever it runs.
func withFSRootFlags(flags []cli.Flag) []cli.Flag {
	return append(flags, fsRootFlags()...)
}

// checkNoFSRootFlags refuses the --fs-root options on a snapshot of
// something else (--fixture, --manifest), where they would be ignored.
func checkNoFSRootFlags(c *cli.Context) error {
	for _, f := range fsRootFlags() {
		if name := f.Names()[0]; name != "fs-root" && c.IsSet(name) {
			return usagef("--%s is for --fs-root", name)
		}
	}
	return nil
}

// snapshotJSON is pf snapshot --json.
type snapshotJSON struct {
	ID      manifest.Digest   `json:"id"`
	Parents []manifest.Digest `json:"parents"`
	// New is false when the workspace was unchanged since its head,
	// which ID then names (with --fs-root).
	New *bool `json:"new,omitempty"`
	// With --fs-root.
	Dir       string        `json:"dir,omitempty"`
	Session   *string       `json:"session,omitempty"`
	Files     *int          `json:"files,omitempty"`
	Bytes     *int64        `json:"bytes,omitempty"`
	Read      *int          `json:"read,omitempty"`
	ReadBytes *int64        `json:"read_bytes,omitempty"`
	Unchanged *int          `json:"unchanged,omitempty"`
	Secrets   []string      `json:"secrets"`
	Warnings  []warningJSON `json:"warnings"`
}

// snapshotFSRoot is pf snapshot --fs-root DIR: it captures the workspace,
// commits the image as DIR's head, and tags it --name. parents are the
// --parent images; without --parent, the parent is DIR's head.
func snapshotFSRoot(c *cli.Context, s *pf.Store, parents []manifest.Digest) (*snapshotJSON, error) {
	inv := invocationOf(c)
	dir := inv.path(c.String("fs-root"))
	name := c.String("name")
	if name != "" {
		if err := pf.ValidateTagName(name); err != nil {
			return nil, usagef("--name: %v", err)
		}
	}
	var scrub []*regexp.Regexp
	for _, expr := range c.StringSlice("scrub-env") {
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, usagef("--scrub-env %q: %v", expr, err)
		}
		scrub = append(scrub, re)
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("--fs-root: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("--fs-root: %s is not a directory", dir)
	}
	ws, err := workspaceOf(c, dir)
	if err != nil {
		return nil, err
	}
	if !c.IsSet("parent") {
		if parents, err = workspaceParent(c, s, ws, dir); err != nil {
			return nil, err
		}
	}

	environ := inv.Env
	switch f := c.String("env-file"); {
	case f != "" && c.Bool("no-env"):
		return nil, usagef("--env-file and --no-env: choose one")
	case f != "":
		file, err := os.Open(inv.path(f))
		if err != nil {
			return nil, fmt.Errorf("--env-file: %w", err)
		}
		environ, err = worktree.ReadEnvFile(file)
		file.Close()
		if err != nil {
			return nil, fmt.Errorf("--env-file %s: %w", f, err)
		}
	case c.Bool("no-env"):
		environ = []string{}
	}

	stderr := c.App.ErrWriter
	draw := newProgress(c, "snapshot")
	warned := newWarner(c, draw)
	world := &worktree.Capture{
		Root:             dir,
		Ignore:           c.StringSlice("ignore"),
		NoDefaultIgnores: c.Bool("no-default-ignores"),
		IncludeSecrets:   c.Bool("include-secrets"),
		Strict:           c.Bool("strict"),
		Store:            s,
		Changes:          inv.watches.For(dir),
		Environ:          environ,
		ScrubEnv:         scrub,
		Warn:             warned.warn,
		Progress:         draw.files(),
	}
	// The layers not given are filled as the reference's CLI fills them;
	// a trace without a file is the empty blob there too.
	spec := pf.Snapshot{
		Agent:   manifest.Agent{Kind: c.String("agent-kind"), Version: c.String("agent-version")},
		Parents: parents,
		Head:    ws,
		World:   world,
		Model:   worktree.ModelFile{Diff: inv.path(c.String("model-diff")), Agent: c.String("agent-kind")},
		Cache:   worktree.CacheFile{Manifest: inv.path(c.String("cache-manifest"))},
		Effects: worktree.EffectsFile{Path: inv.path(c.String("effects-from-jsonl"))},
	}
	if f := c.String("trace-from-jsonl"); f != "" {
		spec.Trace = worktree.TraceFile{Path: inv.path(f)}
	}
	// A workspace unchanged since its head, with the same layers, is its
	// head: no image is committed. An explicit --parent always gets a
	// child.
	spec.SkipUnchanged = !c.IsSet("parent")
	id, err := s.Snapshot(c.Context, spec)
	draw.clear()
	if err != nil {
		return nil, err
	}
	isNew := len(parents) == 0 || id != parents[0]
	if !isNew {
		img, err := s.Image(c.Context, id)
		if err != nil {
			return nil, err
		}
		parents = img.Manifest.Parents
	}
	st := world.Stats()
	if secrets := world.Secrets(); len(secrets) > 0 {
		fmt.Fprintln(stderr, secretsNote(secrets, "not stored", "stores"))
	}
	if draw != nil {
		same := ""
		if !isNew {
			same = ": the workspace is its head, " + id.Short()
		}
		fmt.Fprintf(stderr, "%d files, %s: %d read (%s), %d unchanged%s\n",
			st.Files, humanBytes(st.Bytes), st.Hashed, humanBytes(st.HashedBytes), st.CacheHits, same)
	}
	if name != "" {
		if _, err := s.Tag(c.Context, name, id); err != nil {
			return nil, fmt.Errorf("image %s committed, but tagging it %s failed: %w", id.Short(), name, err)
		}
	}
	if parents == nil {
		parents = []manifest.Digest{}
	}
	secrets := world.Secrets()
	if secrets == nil {
		secrets = []string{}
	}
	return &snapshotJSON{
		ID: id, Parents: parents, New: &isNew, Dir: ws.Dir, Session: &ws.Session,
		Files: &st.Files, Bytes: &st.Bytes, Read: &st.Hashed, ReadBytes: &st.HashedBytes, Unchanged: &st.CacheHits,
		Secrets: secrets, Warnings: warned.warnings(),
	}, nil
}

// workspaceOf is the head that the command's --session keeps for dir.
func workspaceOf(c *cli.Context, dir string) (*pf.HeadRef, error) {
	session := c.String("session")
	if err := pf.ValidateSessionName(session); err != nil {
		return nil, usagef("--session: %v", err)
	}
	wsDir, err := pf.WorkspaceDir(invocationOf(c).abs(dir))
	if err != nil {
		return nil, err
	}
	return &pf.HeadRef{Dir: wsDir, Session: session}, nil
}

// workspaceParent is the parent of the next snapshot of the workspace ws:
// its head, else the image that dir/.pfcid names (the reference's
// checkout leaves one), else none.
func workspaceParent(c *cli.Context, s *pf.Store, ws *pf.HeadRef, dir string) ([]manifest.Digest, error) {
	h, ok, err := s.Head(c.Context, ws.Dir, ws.Session)
	if err != nil || ok {
		return []manifest.Digest{h.ID}, err
	}
	id, ok, err := worktree.ReadCID(dir)
	if err != nil || !ok {
		return nil, err
	}
	has, err := s.HasImage(c.Context, id)
	if err != nil {
		return nil, err
	}
	if !has {
		fmt.Fprintf(c.App.ErrWriter, "pf: warning: %s names image %s, which this store does not have: the snapshot has no parent\n", dirFile(dir, worktree.CIDFile), id.Short())
		return nil, nil
	}
	return []manifest.Digest{id}, nil
}

// quotePath shows a path as it is, unless it holds characters that would
// garble the line (a newline, a control character): then Go-quoted.
func quotePath(p string) string {
	if strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Sprintf("%q", p)
	}
	return p
}

func dirFile(dir, name string) string {
	return strings.TrimSuffix(dir, string(os.PathSeparator)) + string(os.PathSeparator) + name
}
