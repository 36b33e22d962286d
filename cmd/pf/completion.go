package main

import (
	"io"

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
			"  fish: pf completion fish | source",
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
				_, err = io.WriteString(w, script)
				return err
			default:
				return usagef("completion: unknown shell %q: want bash, zsh or fish", shell)
			}
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
