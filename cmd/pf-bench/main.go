// Command pf-bench measures pf beside what its users would pick instead:
// the reference's directory design, git's object store, SQLite and the
// machine's own limits, on the same data in one run. It is a command of
// its own so that the pf binary links none of the peers.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
)

// Exit codes, as pf's: 1 failed, 2 usage.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
	exitSignal = 130
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	app := benchApp(stdout, stderr)
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "pf-bench: %v\n", err)
	var u usageError
	switch {
	case errors.As(err, &u):
		return exitUsage
	case ctx.Err() != nil:
		return exitSignal
	}
	return exitFailed
}

// usageError marks a malformed command line: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
