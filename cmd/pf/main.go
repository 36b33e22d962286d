// Command pf stores, browses and restores ProcessFork images: snapshots of
// AI agents, kept in one store file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/processfork/pf"
	"github.com/urfave/cli/v2"
)

// Exit codes: each kind of failure has its own, so scripts can tell them
// apart.
const (
	exitOK        = 0
	exitFailed    = 1 // not found, bad input
	exitUsage     = 2 // unknown flag, malformed argument
	exitIntegrity = 4 // corrupt or missing data
	exitBusy      = 5 // store held by another process past the timeout
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "pf: %v\n", oneLine(err))
	return exitCode(err)
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:                 "pf",
		Usage:                "snapshot, browse and restore AI agents, all in one store file",
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:    "store",
				Usage:   "the store file (default: $PF_STORE, else store.pf in pf's folder of your data directory)",
				EnvVars: []string{"PF_STORE"},
			},
		},
		Commands: []*cli.Command{
			demoCommand(),
		},
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return usageError{err}
		},
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(c.App.ErrWriter, "pf: unknown command %q (see pf --help)\n", name)
			os.Exit(exitUsage)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run prints and exits
	}
}

// storePath is the store the command works on.
func storePath(c *cli.Context) (string, error) {
	if p := c.String("store"); p != "" {
		return p, nil
	}
	return pf.DefaultPath()
}

// usageError marks a malformed command line: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func exitCode(err error) int {
	var u usageError
	switch {
	case errors.As(err, &u):
		return exitUsage
	case errors.Is(err, pf.ErrBusy):
		return exitBusy
	case errors.Is(err, pf.ErrCorrupt):
		return exitIntegrity
	}
	return exitFailed
}

// oneLine keeps an error to the one line the CLI promises.
func oneLine(err error) string {
	s := err.Error()
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
