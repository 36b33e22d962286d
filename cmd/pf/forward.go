package main

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"

	"github.com/processfork/pf"

	"github.com/processfork/pf/internal/serve"
	"github.com/urfave/cli/v2"
)

// forwardedExit is the exit status of a command that pf serve ran.
type forwardedExit int

func (e forwardedExit) Error() string { return "pf serve ran the command" }

// forward runs the command line through pf serve when a server listens
// on the socket beside the store: the server runs it in process, for
// this invocation, against the store it holds. It returns a forwardedExit
// when it did, and nil to run the command here: no server (a socket that
// a killed server left behind included), or a command that needs none.
func forward(c *cli.Context, args []string) error {
	inv := invocationOf(c)
	if inv.served != nil || !forwards(c, args) {
		return nil
	}
	path, err := storePath(c)
	if err != nil {
		return nil // the command says what is wrong
	}
	code, err := forwardTo(c.Context, inv, args, inv.abs(path))
	if errors.Is(err, serve.ErrNoServer) {
		return nil
	}
	if err != nil {
		return err
	}
	return forwardedExit(code)
}

// forwardTo runs the command line args through the pf serve of the store
// at path, absolute, and returns its exit status; an error wrapping
// serve.ErrNoServer when no server ran it.
func forwardTo(ctx context.Context, inv *invocation, args []string, path string) (int, error) {
	req := &serve.RunRequest{
		// The store as this process resolved it: the server's own
		// $PF_STORE and home must not choose it.
		Args:     append([]string{args[0], "--store", path}, args[1:]...),
		Dir:      inv.Dir,
		Env:      inv.Env,
		Terminal: inv.Terminal,
		Pid:      os.Getpid(),
	}
	return serve.Forward(ctx, serve.SocketPath(path), req, inv.Stdin, inv.Stdout, inv.Stderr)
}

// forwards says whether a command line goes to the server: every command
// that may open the store, and not help, completion scripts or pf serve
// itself.
func forwards(c *cli.Context, args []string) bool {
	cmd := c.App.Command(c.Args().First())
	if cmd == nil {
		return false
	}
	switch cmd.Name {
	case "serve", "completion", "help":
		return false
	}
	return !asksHelp(args)
}

// asksHelp says whether a command line asks for help or completions,
// which the process answers itself, not the server.
func asksHelp(args []string) bool {
	return slices.ContainsFunc(args[1:], func(a string) bool {
		return a == "-h" || a == "--help" || a == "-help" || a == completionFlag
	})
}

// forwardedCommands are the commands forward sends to pf serve: every
// command but serve, completion and help (TestForwardedCommands keeps
// this list to newApp's).
var forwardedCommands = []string{
	"init", "put", "get", "has", "pin", "unpin", "pins", "snapshot", "checkout",
	"heads", "status", "restore", "fork", "log", "show", "diff", "tag", "tags",
	"stats", "verify", "gc", "prune", "compact", "export", "import", "push",
	"pull", "clone", "demo",
}

// quickForward forwards a plain command line to pf serve before the CLI
// is built: building every command's flags and parsing the line is a
// good part of what a forwarding process does in its own time. A plain
// line has no global flag before the command but --store (once, with its
// value), names a forwarded command, and has no help or completion flag
// and no global flag after the command (which the CLI would move before
// it). Such a line forward would send as is, with the same store: the
// server then parses and runs it as before. It reports whether it
// forwarded, or tried to once the server started the command; on a line
// that is not plain, or with no server, it leaves the command to run.
func quickForward(ctx context.Context, args []string, inv *invocation) (code int, forwarded bool, err error) {
	if inv.served != nil || len(args) < 2 {
		return 0, false, nil
	}
	store, storeSet := "", false
	i := 1
	for ; i < len(args) && isFlag(args[i]); i++ {
		name, inline := flagName(args[i])
		if name != "store" || storeSet {
			return 0, false, nil
		}
		storeSet = true
		if inline {
			_, store, _ = strings.Cut(args[i], "=")
			continue
		}
		if i+1 == len(args) {
			return 0, false, nil
		}
		i++
		store = args[i]
	}
	if i == len(args) || !slices.Contains(forwardedCommands, args[i]) {
		return 0, false, nil
	}
	for _, a := range args[i+1:] {
		if a == "--" {
			break
		}
		if !isFlag(a) {
			continue
		}
		switch name, _ := flagName(a); name {
		case "store", "timeout", "help", "h":
			return 0, false, nil
		}
	}
	if asksHelp(args) {
		return 0, false, nil
	}
	path := inv.path(store)
	if store == "" {
		if path, err = pf.DefaultPathFor(inv.getenv); err != nil {
			return 0, false, nil // the command says what is wrong
		}
		path = inv.path(path)
	}
	code, err = forwardTo(ctx, inv, args, inv.abs(path))
	if errors.Is(err, serve.ErrNoServer) {
		return 0, false, nil
	}
	return code, true, err
}
