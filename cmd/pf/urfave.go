package main

import (
	"flag"

	"github.com/urfave/cli/v2"
)

// urfave/cli v2 shares its help and version flags and its help command
// between apps and writes to them as it parses a command line (BoolFlag's
// Apply records its default). pf serve runs many command lines at once,
// each in an app of its own, so pf gives urfave/cli help and version flags
// that parsing leaves as they are, and hides the help subcommand of each
// command (newApp): `pf log help` meant `pf log --help` and nothing else,
// while `pf show help` may mean the tag.
type sharedBoolFlag struct{ cli.BoolFlag }

func (f *sharedBoolFlag) Apply(set *flag.FlagSet) error {
	for _, name := range f.Names() {
		set.Bool(name, false, f.Usage)
	}
	return nil
}

func init() {
	cli.HelpFlag = &sharedBoolFlag{cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"}}
	// --version only: -v means verbose to most people.
	cli.VersionFlag = &sharedBoolFlag{cli.BoolFlag{Name: "version", Usage: "print pf's version and VCS revision (with --json, as JSON)"}}
	cli.VersionPrinter = printVersion
}
