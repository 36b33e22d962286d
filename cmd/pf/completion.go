package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/processfork/pf"
	"github.com/urfave/cli/v2"
)

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script for bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: "Load it in your shell's start-up file:\n" +
			"  bash: source <(pf completion bash)\n" +
			"  zsh:  source <(pf completion zsh)   (after compinit)\n" +
			"  fish: pf completion fish | source\n" +
			"They complete commands, flags, and where an image is taken the tags and the 20 newest\n" +
			"image ids, read from the store (never waiting for it).",
		Action: func(c *cli.Context) error {
			if err := wantArgs(c, 1, 1); err != nil {
				return err
			}
			w := c.App.Writer
			switch shell := c.Args().First(); shell {
			case "bash":
				_, err := io.WriteString(w, bashCompletion)
				return err
			case "zsh":
				_, err := io.WriteString(w, zshCompletion)
				return err
			case "fish":
				script, err := c.App.ToFishCompletion()
				if err != nil {
					return err
				}
				_, err = io.WriteString(w, script+fishImages(c.App))
				return err
			default:
				return usagef("completion: unknown shell %q: want bash, zsh or fish", shell)
			}
		},
	}
}

// completionWordKey is the app's Metadata key for the word being
// completed, when the shell asks (run sets it): "-" and more is a flag.
const completionWordKey = "pf.completing"

// recentImages is how many of the newest image ids completion offers,
// beside every tag: enough for the ids in sight in pf log.
const recentImages = 20

// completeImages is the completion of a command that takes images: while
// a flag is typed, the command's flags; else HEAD when the current
// directory has a head, the tags and the newest image ids of the store,
// which the shell filters by what is typed. It
// never waits for the store: a store busy, missing or damaged completes
// nothing.
func completeImages(cmd *cli.Command) cli.BashCompleteFunc {
	flags := cli.DefaultCompleteWithFlags(cmd)
	return func(c *cli.Context) {
		if word, _ := c.App.Metadata[completionWordKey].(string); strings.HasPrefix(word, "-") {
			flags(c)
			return
		}
		path, err := storePath(c)
		if err != nil {
			return
		}
		s, err := pf.OpenContext(c.Context, path, &pf.Options{ReadOnly: true, NoCreate: true, Timeout: -1})
		if err != nil {
			return
		}
		defer s.Close()
		w := c.App.Writer
		if ws, err := workspaceOf(c, invocationOf(c).Dir); err == nil {
			if _, ok, _ := headOfWorkspace(c, s, ws, invocationOf(c).Dir); ok {
				io.WriteString(w, "HEAD\n")
			}
		}
		if tags, err := s.Tags(c.Context); err == nil {
			for _, t := range tags {
				io.WriteString(w, t.Name+"\n")
			}
		}
		if recent, _, err := s.Log(c.Context, pf.LogQuery{Limit: recentImages}); err == nil {
			for _, e := range recent {
				io.WriteString(w, e.ID.Short()+"\n")
			}
		}
	}
}

// fishImages completes images in fish, whose script urfave/cli writes
// from the commands and flags alone: each command that takes images asks
// pf for them, as bash and zsh do for every word.
func fishImages(app *cli.App) string {
	var b strings.Builder
	b.WriteString("\n# Tags and the newest image ids, where a command takes images.\n")
	for _, cmd := range app.Commands {
		if takesImages(cmd) {
			fmt.Fprintf(&b, "complete -c pf -n '__fish_seen_subcommand_from %[1]s' -a '(pf %[1]s --generate-bash-completion 2>/dev/null)'\n", cmd.Name)
		}
	}
	return b.String()
}

// takesImages reports whether a command's arguments name images.
func takesImages(cmd *cli.Command) bool {
	return strings.Contains(cmd.ArgsUsage, "IMAGE") || cmd.Name == "diff"
}

// helpCommand is pf help [COMMAND]: pf --help, or pf COMMAND --help. It
// is pf's own, not urfave/cli's, which is shared between apps (see
// urfave.go) and which each command would offer again as a subcommand.
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Usage:     "show the help of pf, or of a command",
		ArgsUsage: "[COMMAND]",
		BashComplete: func(c *cli.Context) {
			for _, cmd := range c.App.VisibleCommands() {
				io.WriteString(c.App.Writer, cmd.Name+"\n")
			}
		},
		Action: func(c *cli.Context) error {
			if err := wantArgs(c, 0, 1); err != nil {
				return err
			}
			name := c.Args().First()
			if name == "" {
				return cli.ShowAppHelp(c)
			}
			if c.App.Command(name) == nil {
				return usagef("help: unknown command %q (see pf --help)", name)
			}
			return cli.ShowCommandHelp(c, name)
		},
	}
}

// The bash and zsh scripts ask pf itself for the words that may follow
// (urfave/cli's --generate-bash-completion), so they know every command
// and flag of the pf that runs them.

const bashCompletion = `# bash completion for pf
_pf_complete() {
  local cur words
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=("${COMP_WORDS[@]:0:COMP_CWORD}")
  if [[ "$cur" == -* ]]; then
    words+=("$cur")
  fi
  local IFS=$'\n'
  COMPREPLY=($(compgen -W "$("${words[@]}" --generate-bash-completion 2>/dev/null)" -- "$cur"))
}
complete -o bashdefault -o default -F _pf_complete pf
`

const zshCompletion = `#compdef pf
# zsh completion for pf
_pf() {
  local -a opts
  local cur=${words[CURRENT]}
  if [[ "$cur" == -* ]]; then
    opts=("${(@f)$(${words[@]:0:CURRENT-1} $cur --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:CURRENT-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ -n "${opts[1]}" ]]; then
    _describe 'pf' opts
  else
    _files
  fi
}
if [[ "$funcstack[1]" = "_pf" ]]; then
  _pf "$@"
else
  compdef _pf pf
fi
`
