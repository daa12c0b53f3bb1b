package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// runCompletion prints a completion script: hopwire completion
// bash|zsh|fish. It completes the command names, then each command's
// flags (gathered from the same FlagSets the commands parse with), then
// file names. Each script works both sourced and installed where its
// shell looks for completions (make install puts them there).
func runCompletion(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: completion bash|zsh|fish (for example: source <(hopwire completion bash))", errUsage)
	}
	var script string
	switch args[0] {
	case "bash":
		script = bashCompletion()
	case "zsh":
		script = zshCompletion()
	case "fish":
		script = fishCompletion()
	default:
		return fmt.Errorf("%w: completion bash|zsh|fish, not %q (for example: source <(hopwire completion bash))", errUsage, args[0])
	}
	_, err := io.WriteString(stdout, script)
	return err
}

// bashCompletion is sourced, or installed in bash-completion's
// completions directory as "hopwire".
func bashCompletion() string {
	var names []string
	var cases strings.Builder
	for _, c := range commands() {
		names = append(names, c.name)
		if c.run == nil {
			continue
		}
		fmt.Fprintf(&cases, "    %s) opts=%q ;;\n", c.name, strings.Join(commandFlags(c), " "))
	}
	return fmt.Sprintf(`# hopwire completion (bash): source it, e.g. in ~/.bashrc:
#   source <(hopwire completion bash)
_hopwire() {
  local cur cmd opts
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W %[1]q -- "$cur") )
    return
  fi
  cmd="${COMP_WORDS[1]}"
  case "$cmd" in
%[2]s    *) opts="" ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
  else
    COMPREPLY=( $(compgen -f -- "$cur") )
  fi
}
complete -F _hopwire hopwire
`, strings.Join(names, " "), cases.String())
}

// zshCompletion is zsh-native: sourced (after compinit) it registers
// itself with compdef; installed in $fpath as _hopwire, the #compdef line
// registers it and its first run defines _hopwire and completes.
func zshCompletion() string {
	var names []string
	var cases strings.Builder
	for _, c := range commands() {
		names = append(names, c.name)
		if c.run == nil {
			continue
		}
		fmt.Fprintf(&cases, "    %s) opts=(%s) ;;\n", c.name, strings.Join(commandFlags(c), " "))
	}
	return fmt.Sprintf(`#compdef hopwire
# hopwire completion (zsh): source it after compinit, e.g. in ~/.zshrc:
#   source <(hopwire completion zsh)
# or save it as _hopwire in a directory of $fpath.
_hopwire() {
  local -a opts
  if (( CURRENT == 2 )); then
    compadd -- %[1]s
    return
  fi
  case "${words[2]}" in
%[2]s    *) opts=() ;;
  esac
  if [[ "$PREFIX" == -* ]]; then
    compadd -- "${opts[@]}"
  else
    _files
  fi
}
if [[ "${funcstack[1]-}" == _hopwire ]]; then
  _hopwire "$@"
else
  compdef _hopwire hopwire
fi
`, strings.Join(names, " "), cases.String())
}

// fishCompletion is sourced (hopwire completion fish | source), or
// installed in fish's vendor_completions.d as hopwire.fish.
func fishCompletion() string {
	var b strings.Builder
	b.WriteString(`# hopwire completion (fish): hopwire completion fish | source
# or save it as ~/.config/fish/completions/hopwire.fish.
complete -c hopwire -e
`)
	for _, c := range commands() {
		fmt.Fprintf(&b, "complete -c hopwire -f -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(c.summary))
	}
	for _, c := range commands() {
		if c.run == nil {
			continue
		}
		fs := flagSetOf(c)
		if fs == nil {
			continue
		}
		var lines []string
		fs.VisitAll(func(f *flag.Flag) {
			opt := "-l " + f.Name
			if len(f.Name) == 1 {
				opt = "-s " + f.Name
			}
			_, usage := flag.UnquoteUsage(f)
			usage, _, _ = strings.Cut(usage, "\n")
			lines = append(lines, fmt.Sprintf("complete -c hopwire -n '__fish_seen_subcommand_from %s' %s -d %s\n", c.name, opt, fishQuote(usage)))
		})
		sort.Strings(lines)
		b.WriteString(strings.Join(lines, ""))
	}
	return b.String()
}

// fishQuote quotes s for fish: single quotes, in which only \\ and \'
// are escapes.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// commandFlags returns a command's flags as the help writes them.
func commandFlags(c command) []string {
	fs := flagSetOf(c)
	if fs == nil {
		return nil
	}
	var flags []string
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, dashes(f.Name)) })
	sort.Strings(flags)
	return flags
}
