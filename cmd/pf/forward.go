package main

import (
	"errors"
	"os"
	"slices"

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
	path = inv.abs(path)
	req := &serve.RunRequest{
		// The store as this process resolved it: the server's own
		// $PF_STORE and home must not choose it.
		Args:     append([]string{args[0], "--store", path}, args[1:]...),
		Dir:      inv.Dir,
		Env:      inv.Env,
		Terminal: inv.Terminal,
		Pid:      os.Getpid(),
	}
	code, err := serve.Forward(c.Context, serve.SocketPath(path), req, inv.Stdin, inv.Stdout, inv.Stderr)
	if errors.Is(err, serve.ErrNoServer) {
		return nil
	}
	if err != nil {
		return err
	}
	return forwardedExit(code)
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
	return !slices.ContainsFunc(args[1:], func(a string) bool {
		return a == "-h" || a == "--help" || a == "-help" || a == completionFlag
	})
}
