// Command pf stores, browses and restores ProcessFork images: snapshots of
// AI agents, kept in one store file.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/heaplimit"
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

	exitInterrupted = 130 // SIGINT: 128 + its number, as shells report it
)

func main() {
	// A pf process runs one command and exits; pf serve, which runs on,
	// takes this back (serve.go).
	heaplimit.SetHugeHeap(true)
	os.Exit(run(os.Args, osInvocation()))
}

// run runs the command line args for inv and returns the exit status.
// When pf serve serves the store, the command runs there (forward.go).
func run(args []string, inv *invocation) int {
	ctx := inv.Context
	interrupted := func() bool { return false }
	if ctx == nil {
		// SIGINT cancels the work, which cleans up and exits 130 as
		// shells expect; a second SIGINT kills at once.
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		go func() { <-ctx.Done(); stop() }()
		interrupted = func() bool { return ctx.Err() != nil }
	}
	stderr := inv.Stderr
	if wantsVersionJSON(args) {
		writeJSON(inv.Stdout, buildVersion())
		return exitOK
	}
	// A plain command line goes to pf serve without the CLI built.
	served, quick, err := quickForward(ctx, args, inv)
	if quick && err == nil {
		return served
	}
	if !quick {
		err = runApp(ctx, args, inv)
	}
	if err == nil {
		return exitOK
	}
	var forwarded forwardedExit
	if errors.As(err, &forwarded) {
		return int(forwarded)
	}
	code := exitCode(err)
	if interrupted() {
		code, err = exitInterrupted, errors.New("interrupted")
	}
	switch {
	case errors.As(err, new(quietError)):
	case wantsJSON(args):
		writeJSON(stderr, errorJSON{Error: oneLine(err), Exit: code})
	default:
		fmt.Fprintf(stderr, "pf: %v\n", oneLine(err))
	}
	return code
}

// runApp runs the command line args for inv through the CLI: forwarded
// to pf serve (forward), else here.
func runApp(ctx context.Context, args []string, inv *invocation) error {
	app := newApp(inv)
	if n := len(args); n > 2 && args[n-1] == completionFlag {
		app.Metadata[completionWordKey] = args[n-2]
	}
	app.Before = func(c *cli.Context) error { return forward(c, args) }
	var unknown string
	app.CommandNotFound = func(c *cli.Context, name string) { unknown = name }
	err := app.RunContext(ctx, interspersed(app, args))
	if err == nil && unknown != "" {
		err = usagef("unknown command %q (see pf --help)", unknown)
	}
	return err
}

// errorJSON is how a command given --json reports its failure on stderr,
// so that a tool parsing its output never scrapes a sentence.
type errorJSON struct {
	Error string `json:"error"` // the one line pf would print, without "pf: "
	Exit  int    `json:"exit"`  // the exit status
}

// wantsJSON reports whether the command line asks for JSON output
// (--json, before any "--"), which makes errors JSON too: even those of a
// command line that does not parse.
func wantsJSON(args []string) bool {
	for _, a := range args[1:] {
		if a == "--" {
			return false
		}
		if name, inline := flagName(a); isFlag(a) && name == "json" {
			if !inline {
				return true
			}
			_, v, _ := strings.Cut(a, "=")
			b, err := strconv.ParseBool(v)
			return err == nil && b
		}
	}
	return false
}

func newApp(inv *invocation) *cli.App {
	app := &cli.App{
		Metadata: map[string]any{invocationKey: inv},
		Reader:   inv.Stdin,
		Name:     "pf",
		Version:  buildVersion().Version,
		Usage:    "snapshot, browse and restore AI agents, all in one store file",
		Description: "Wherever an image is taken, a tag, a full id (sha256:...) or a unique prefix of at least\n" +
			"6 hex digits works, and HEAD (or @) is the head of the workspace in the current directory\n" +
			"(pf restore: its --to DIR; --session); as in git ID~N names its Nth first-parent ancestor,\n" +
			"ID^N its Nth parent (pf restore HEAD~1 undoes a turn); blobs likewise by digest or prefix.\n" +
			"Flags may follow arguments.\n\n" +
			"Exit status: 0 ok; 1 failed (not found, ambiguous, bad input, \"not a pf store\"); 2 usage\n" +
			"(unknown command or flag, malformed argument); 4 integrity (corrupt or missing data, a\n" +
			"\"damaged store\" file); 5 the store is held by another process past --timeout (10s by\n" +
			"default; on a terminal pf says whom it waits for; commands that write nothing share the\n" +
			"store with each other); 130 interrupted (SIGINT), after cleaning up. With --json, an\n" +
			"error is one JSON object on stderr: {\"error\": \"...\", \"exit\": N}.",
		Writer:               inv.Stdout,
		ErrWriter:            inv.Stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:      "store",
				TakesFile: true,
				Usage:     "the store `FILE` (default: $PF_STORE, else store.pf in pf's folder of your data directory)",
			},
			&cli.GenericFlag{
				Name:        "timeout",
				Value:       &timeoutValue{defaultTimeout},
				DefaultText: defaultTimeout.String(),
				Usage:       "how long to wait for another process that holds the store, then exit 5: a `DURATION` such as 500ms, 30s or 2m, or seconds (0: do not wait)",
			},
		},
		Commands: []*cli.Command{
			initCommand(),
			putCommand(),
			getCommand(),
			hasCommand(),
			pinCommand(),
			unpinCommand(),
			pinsCommand(),
			snapshotCommand(),
			checkoutCommand(),
			headsCommand(),
			statusCommand(),
			restoreCommand(),
			forkCommand(),
			logCommand(),
			showCommand(),
			diffCommand(),
			tagCommand(),
			tagsCommand(),
			statsCommand(),
			verifyCommand(),
			gcCommand(),
			pruneCommand(),
			compactCommand(),
			exportCommand(),
			importCommand(),
			pushCommand(),
			pullCommand(),
			cloneCommand(),
			demoCommand(),
			serveCommand(),
			completionCommand(),
			helpCommand(),
		},
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return usagef("%v (see pf --help)", err)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run prints and exits
	}
	// urfave/cli adds the help flag only to an app without a command named
	// help; pf has its own (helpCommand).
	app.Flags = append(app.Flags, cli.HelpFlag)
	for _, cmd := range app.Commands {
		cmd.HideHelpCommand = true // see urfave.go
		if takesImages(cmd) {
			cmd.BashComplete = completeImages(cmd)
		}
		// Without this, urfave/cli prints the command's help on stdout
		// and fails with exit 1.
		cmd.OnUsageError = func(c *cli.Context, err error, isSubcommand bool) error {
			return usagef("%s: %v (see pf %s --help)", cmd.Name, err, cmd.Name)
		}
	}
	return app
}

// storePath is the store the command works on.
func storePath(c *cli.Context) (string, error) {
	inv := invocationOf(c)
	if p := c.String("store"); p != "" {
		return inv.path(p), nil
	}
	p, err := pf.DefaultPathFor(inv.getenv)
	return inv.path(p), err
}

// usageError marks a malformed command line: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// quietError fails without a message (pf has -q): the exit status says it.
type quietError struct{ err error }

func (e quietError) Error() string { return e.err.Error() }
func (e quietError) Unwrap() error { return e.err }

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
