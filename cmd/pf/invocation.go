package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/watch"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// An invocation is the process a command runs for: its working directory,
// environment, standard streams and terminal. A command may run on behalf
// of another process (pf serve runs the commands of every pf process that
// finds it), so commands take these from their invocation, never from
// package os: no os.Getwd, os.Getenv, os.Stdin or relative path handed to
// the file system.
type invocation struct {
	Dir      string   // absolute working directory
	Env      []string // KEY=VALUE, as os.Environ returns them
	Stdin    io.Reader
	Stdout   io.Writer
	Stderr   io.Writer
	Terminal bool // Stderr is a terminal: progress may be drawn there
	// Location is the time zone times are shown and read in.
	Location *time.Location
	// Context is cancelled when the process is interrupted; nil for
	// this process's own command line, which run cancels on SIGINT.
	Context context.Context

	// served is the store pf serve lends the commands it runs for other
	// processes: openStore hands it out instead of opening the file.
	served *pf.Store
	// watches are pf serve's watchers of the workspaces it captures:
	// a snapshot or status reads only what changed since the last.
	watches *watch.Roots

	// own is set when Dir is this process's working directory, so that a
	// relative path can be handed on as typed, and messages quote it so.
	own bool
}

// osInvocation is this process's own invocation.
func osInvocation() *invocation {
	dir, err := os.Getwd()
	if err != nil {
		dir = string(filepath.Separator)
	}
	return &invocation{
		Dir:      dir,
		Env:      os.Environ(),
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Terminal: term.IsTerminal(int(os.Stderr.Fd())),
		Location: time.Local,
		own:      err == nil,
	}
}

// path is a path the user typed, as this process must open it: against
// the invocation's working directory. "" stays "".
func (inv *invocation) path(p string) string {
	if inv.own || p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(inv.Dir, p)
}

// abs is a path the user typed, made absolute against the invocation's
// working directory.
func (inv *invocation) abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(inv.Dir, p)
}

// getenv is the invocation's value of the environment variable key.
func (inv *invocation) getenv(key string) string {
	prefix := key + "="
	for i := len(inv.Env) - 1; i >= 0; i-- {
		if strings.HasPrefix(inv.Env[i], prefix) {
			return inv.Env[i][len(prefix):]
		}
	}
	return ""
}

// locationOf is the time zone of a process whose environment is env, on
// this machine: $TZ as the Go runtime reads it ("" is UTC, a leading ':'
// is dropped), else the machine's local zone.
func locationOf(env []string) *time.Location {
	tz, ok := "", false
	for _, kv := range env {
		if k, v, found := strings.Cut(kv, "="); found && k == "TZ" {
			tz, ok = v, true
		}
	}
	if !ok {
		return machineLocation()
	}
	tz = strings.TrimPrefix(tz, ":")
	if tz == "" || tz == "UTC" {
		return time.UTC
	}
	if filepath.IsAbs(tz) {
		if b, err := os.ReadFile(tz); err == nil {
			if loc, err := time.LoadLocationFromTZData(tz, b); err == nil {
				return loc
			}
		}
		return time.UTC
	}
	if loc, err := time.LoadLocation(tz); err == nil {
		return loc
	}
	return time.UTC // as the runtime does with a zone it cannot find
}

// machineLocation is the machine's own zone, whatever this process's $TZ
// says: /etc/localtime where there is one.
func machineLocation() *time.Location {
	if _, set := os.LookupEnv("TZ"); !set {
		return time.Local
	}
	if b, err := os.ReadFile("/etc/localtime"); err == nil {
		if loc, err := time.LoadLocationFromTZData("Local", b); err == nil {
			return loc
		}
	}
	return time.UTC
}

const invocationKey = "invocation"

// invocationOf is the invocation the command runs for.
func invocationOf(c *cli.Context) *invocation {
	return c.App.Metadata[invocationKey].(*invocation)
}

// bufferedInvocation is an invocation in dir whose output goes to out
// and errs, with nothing on standard input: for tests and for commands
// that run pf in process.
func bufferedInvocation(dir string, out, errs io.Writer) *invocation {
	inv := &invocation{Dir: dir, Env: os.Environ(), Stdin: strings.NewReader(""), Stdout: out, Stderr: errs, Location: time.Local}
	if wd, err := os.Getwd(); err == nil && wd == dir {
		inv.own = true
	}
	return inv
}
