package main

import (
	"github.com/processfork/pf/internal/outfile"
	"github.com/urfave/cli/v2"
)

// outputHelp says, in a command's help, how a FILE it writes is written.
const outputHelp = "FILE: - is standard output; a device, FIFO or socket (/dev/null, /dev/stdout) is\n" +
	"written in place; a symbolic link is followed and its target replaced; a regular file\n" +
	"is replaced whole, through a temporary file in its own directory, once all is written."

// createOutput opens the file the user named for a command's output (see
// package outfile): "" and "-" are the command's standard output.
func createOutput(c *cli.Context, name string) (*outfile.File, error) {
	if name == "" {
		name = "-"
	}
	if name != "-" {
		name = invocationOf(c).path(name)
	}
	return outfile.Create(name, c.App.Writer)
}
