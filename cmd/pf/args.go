package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// completionFlag is the flag urfave/cli appends to ask for completions.
const completionFlag = "--generate-bash-completion"

// interspersed lets flags follow arguments, as people type them
// (`pf get ID -o FILE`, `pf log main -n 5`): urfave/cli v2, like the flag
// package, stops reading flags at the first argument. It moves each flag
// of the command, with its value, in front of the command's arguments, and
// each of the app's own flags (--store) in front of the command's name.
// Everything after "--" stays an argument.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 || args[len(args)-1] == completionFlag {
		return args
	}
	global := valueFlags(app.Flags)
	out := []string{args[0]}
	i := 1
	for ; i < len(args) && isFlag(args[i]); i++ {
		out = append(out, args[i])
		if name, inline := flagName(args[i]); global[name] && !inline && i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
	}
	if i == len(args) || args[i] == "--" {
		return args
	}
	cmd := app.Command(args[i])
	if cmd == nil {
		return args
	}
	local := valueFlags(cmd.Flags)
	var flags, operands []string
	dashes := false
	rest := args[i+1:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" {
			operands, dashes = append(operands, rest[j+1:]...), true
			break
		}
		if !isFlag(a) {
			operands = append(operands, a)
			continue
		}
		name, inline := flagName(a)
		takesValue, isLocal := local[name]
		dst := &flags
		if globalTakes, isGlobal := global[name]; !isLocal && isGlobal {
			dst, takesValue = &out, globalTakes
		}
		*dst = append(*dst, a)
		if takesValue && !inline && j+1 < len(rest) {
			j++
			*dst = append(*dst, rest[j])
		}
	}
	out = append(append(out, args[i]), flags...)
	if dashes || slices.ContainsFunc(operands, isFlag) {
		out = append(out, "--")
	}
	return append(out, operands...)
}

// valueFlags maps every name of the flags (and of the help flag) to
// whether the flag takes a value.
func valueFlags(flags []cli.Flag) map[string]bool {
	m := map[string]bool{"help": false, "h": false}
	for _, f := range flags {
		takes := true
		if d, ok := f.(cli.DocGenerationFlag); ok {
			takes = d.TakesValue()
		}
		for _, name := range f.Names() {
			m[name] = takes
		}
	}
	return m
}

func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

// flagName returns the name in -name, --name or --name=value, and whether
// the value came with it.
func flagName(a string) (name string, inline bool) {
	name = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	name, _, inline = strings.Cut(name, "=")
	return name, inline
}
