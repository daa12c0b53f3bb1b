package main

import (
	"context"
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
		return fmt.Errorf("%w: completion bash|zsh", errUsage)
	}
	var names []string
	var cases strings.Builder
	for _, c := range commands() {
		names = append(names, c.name)
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

// commandFlags runs a command with -h into a throwaway FlagSet output to
// collect its flag names.
func commandFlags(c command) []string {
	if c.name == "completion" || c.name == "version" {
		return nil
	}
	var flags []string
	captured := &flagCollector{}
	c.run(context.Background(), []string{"-h"}, nil, io.Discard, captured)
	flags = captured.names()
	sort.Strings(flags)
	return flags
}

// flagCollector reads the flag names out of a FlagSet's usage output.
type flagCollector struct{ b strings.Builder }

func (f *flagCollector) Write(p []byte) (int, error) { return f.b.Write(p) }

func (f *flagCollector) names() []string {
	var out []string
	for _, line := range strings.Split(f.b.String(), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "-") {
			name := strings.TrimLeft(strings.Fields(line)[0], "-")
			if len(name) == 1 {
				out = append(out, "-"+name)
			} else {
				out = append(out, "--"+name) // both -x and --x parse; long names read better doubled
			}
		}
	}
	return out
}
