package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/processfork/pf/internal/bench"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

func benchApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:            "pf-bench",
		Usage:           "measure pf beside the reference design, git, SQLite and the machine's limits",
		ArgsUsage:       " ",
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return usagef("%v (see pf-bench --help)", err)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run prints and exits
		Description: "Runs each workload on pf and on each peer, several rounds after a warm-up, and prints a\n" +
			"table of medians with the ratio of pf's figure to each other's: the reference fixture\n" +
			"(cold and warm snapshots, 12 forks), ingest and random reads of 10,000 blobs of 16 KiB\n" +
			"(random and JSON lines) and of 100 of 4 MiB, history queries in stores of 1,000 to\n" +
			"1,000,000 images, a 1 GiB blob stored again with 1% changed, and the checkpoints of an\n" +
			"agent's workspace: the pf binary against a shadow git repository, whole processes, on a\n" +
			"copy of $GOROOT/src, on 100,000 small files and on a 2 GiB file that grows at every turn;\n" +
			"and pf push and pf pull of 1 GiB (and of 4,096 blobs of 16 KiB) against oras-go alone\n" +
			"(oras.Copy of the same OCI layout), to a registry on loopback (skipped without one:\n" +
			"$PF_TEST_REGISTRY, or the one .ci/run builds).\n" +
			"The full run takes about 25 minutes on two cores once its history stores are kept under\n" +
			"--out; the first run into an empty DIR/cache also builds them (the stores of 1,000,000\n" +
			"images take the longest), and a change of pf's schema rebuilds pf's. --quick takes a few.\n" +
			"Stores go in a temporary directory, or under --out, which also keeps the inputs and history\n" +
			"stores between runs. Each job's time on each system is in bench.json (tasks).\n\n" +
			"--only takes jobs (fixture, ingest-16k-random, ingest-16k-jsonl, ingest-4m-random,\n" +
			"history-1k ... history-1m, bigblob, checkpoints-goroot, checkpoints-small,\n" +
			"checkpoints-growing, registry; or ingest, history, checkpoints) and systems (reference,\n" +
			"git, shadow-git, pf-serve, sqlite, oras, limits); pf always runs.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quick", Usage: "smaller stores and fewer rounds: about a minute"},
			&cli.StringFlag{Name: "out", TakesFile: true,
				Usage: "write bench.md, bench.json and plot.svg to `DIR`, and keep the inputs and history stores in DIR/cache"},
			&cli.StringSliceFlag{Name: "only", Usage: "run only these jobs and systems: `NAME,...`"},
			&cli.StringFlag{Name: "markdown", TakesFile: true,
				Usage: "also write the Markdown report to `FILE`, its plot beside it (FILE with .svg)"},
			&cli.StringFlag{Name: "pf", TakesFile: true,
				Usage: "the pf `BINARY` the checkpoints jobs run (default: built from the module here with go build)"},
			&cli.BoolFlag{Name: "child", Hidden: true, Usage: "run one job, given on standard input (pf-bench runs itself so)"},
		},
		Action: func(c *cli.Context) error {
			if c.Bool("child") {
				return bench.ChildMain(c.Context, os.Stdin, c.App.Writer, c.App.ErrWriter)
			}
			if c.NArg() > 0 {
				return usagef("pf-bench takes no arguments (see pf-bench --help)")
			}
			cfg := bench.Config{
				Quick:    c.Bool("quick"),
				Only:     c.StringSlice("only"),
				Out:      c.String("out"),
				Markdown: c.String("markdown"),
				Command:  benchCommandLine(c),
				PF:       c.String("pf"),
			}
			if exe, err := os.Executable(); err == nil {
				cfg.Self = []string{exe, "--child"}
			}
			if f, ok := c.App.ErrWriter.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				cfg.Progress = f
			}
			rep, err := bench.Run(c.Context, cfg)
			if errors.Is(err, bench.ErrUnknownName) {
				return usagef("%v", err)
			}
			if rep != nil {
				if werr := rep.WriteText(c.App.Writer); err == nil {
					err = werr
				}
			}
			if err != nil {
				return err
			}
			if len(rep.Failures) > 0 {
				return fmt.Errorf("%s", plural(len(rep.Failures), "job failed", "jobs failed"))
			}
			return nil
		},
	}
}

// benchCommandLine is the command as typed, for the report: pf-bench and
// its flags.
func benchCommandLine(c *cli.Context) string {
	parts := []string{"pf-bench"}
	if c.Bool("quick") {
		parts = append(parts, "--quick")
	}
	for _, name := range []string{"out", "markdown"} {
		if v := c.String(name); v != "" {
			parts = append(parts, "--"+name, v)
		}
	}
	if only := c.StringSlice("only"); len(only) > 0 {
		parts = append(parts, "--only", strings.Join(only, ","))
	}
	return strings.Join(parts, " ")
}
