package main

import (
	"fmt"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// versionInfo is what pf --version reports, from the build information
// the Go toolchain embeds in the binary.
type versionInfo struct {
	Version  string `json:"version"`            // the module's version; "(devel)" when built from a checkout
	Revision string `json:"revision,omitempty"` // the VCS revision built, when the build recorded it
	Time     string `json:"time,omitempty"`     // that revision's commit time (RFC 3339)
	Modified bool   `json:"modified"`           // the working tree had changes not committed
	Go       string `json:"go"`                 // the toolchain that built pf
}

func buildVersion() versionInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return versionInfo{Version: "unknown"}
	}
	v := versionInfo{Version: bi.Main.Version, Go: bi.GoVersion}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is the one line pf --version prints: pf v1.2.0 (revision
// 1fb5506c..., 2026-12-04T04:00:00Z, modified; go1.24.0).
func (v versionInfo) String() string {
	var about []string
	if v.Revision != "" {
		about = append(about, "revision "+v.Revision)
	}
	if v.Time != "" {
		about = append(about, v.Time)
	}
	if v.Modified {
		about = append(about, "modified")
	}
	built := v.Go
	if len(about) > 0 {
		built = strings.Join(about, ", ") + "; " + built
	}
	return fmt.Sprintf("pf %s (%s)", v.Version, built)
}

// printVersion is urfave/cli's VersionPrinter for pf --version.
func printVersion(c *cli.Context) {
	fmt.Fprintln(c.App.Writer, buildVersion())
}

// wantsVersionJSON reports whether the command line is pf --version
// --json (in either order), which urfave/cli cannot parse: --json is a
// flag of the commands, not of pf itself.
func wantsVersionJSON(args []string) bool {
	rest := slices.Clone(args[1:])
	slices.Sort(rest)
	return slices.Equal(rest, []string{"--json", "--version"})
}
