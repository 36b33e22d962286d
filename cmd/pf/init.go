package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/processfork/pf"
	"github.com/urfave/cli/v2"
)

func initCommand() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create the store file (nothing happens if it exists)",
		Description: "Creates the store named by --store, $PF_STORE or the default, and the folders\n" +
			"above it, and says where it is. An existing store is left as it is (an older schema is upgraded).",
		Action: func(c *cli.Context) error {
			if err := wantArgs(c, 0, 0); err != nil {
				return err
			}
			path, err := storePath(c)
			if err != nil {
				return err
			}
			if s := servedStore(c, path); s != nil {
				return describeStore(c, s, path, true)
			}
			_, statErr := os.Stat(path)
			existed := statErr == nil
			if !existed && !errors.Is(statErr, os.ErrNotExist) {
				return statErr
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			s, err := pf.OpenContext(c.Context, path, openOptions(c))
			if err != nil {
				return err
			}
			err = describeStore(c, s, path, existed)
			if cerr := s.Close(); err == nil {
				err = cerr
			}
			return err
		},
	}
}

// describeStore says what pf init found or made.
func describeStore(c *cli.Context, s *pf.Store, path string, existed bool) error {
	st, err := s.Stats(c.Context)
	if err != nil {
		return err
	}
	if existed {
		_, err = fmt.Fprintf(c.App.Writer, "store %s exists: %s, schema %d\n", path, plural(int(st.Images), "image", "images"), st.Schema)
		return err
	}
	_, err = fmt.Fprintf(c.App.Writer, "created store %s\n", path)
	return err
}
