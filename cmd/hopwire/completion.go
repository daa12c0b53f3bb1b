package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// runCompletion prints a completion script: hopwire completion bash|zsh.
// It completes the command names, then each command's flags (gathered
// from the same FlagSets the commands parse with), then file names.
func runCompletion(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) != 1 || (args[0] != "bash" && args[0] != "zsh") {
		return fmt.Errorf("%w: completion bash|zsh (for example: source <(hopwire completion bash))", errUsage)
	}
	var names []string
	var cases strings.Builder
	for _, c := range commands() {
		names = append(names, c.name)
		if c.run == nil {
			continue
		}
		flags := commandFlags(c)
		fmt.Fprintf(&cases, "    %s) opts=%q ;;\n", c.name, strings.Join(flags, " "))
	}
	script := fmt.Sprintf(`# hopwire completion (%[1]s): source it, e.g. in ~/.%[1]src:
#   source <(hopwire completion %[1]s)
_hopwire() {
  local cur cmd opts
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W %[2]q -- "$cur") )
    return
  fi
  cmd="${COMP_WORDS[1]}"
  case "$cmd" in
%[3]s    *) opts="" ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
  else
    COMPREPLY=( $(compgen -f -- "$cur") )
  fi
}
`, args[0], strings.Join(names, " "), cases.String())
	if args[0] == "zsh" {
		script += "autoload -U +X bashcompinit && bashcompinit\n"
	}
	script += "complete -F _hopwire hopwire\n"
	_, err := io.WriteString(stdout, script)
	return err
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
