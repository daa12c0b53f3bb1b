// Command hopwire is both a hopwire node and its client.
//
// Usage:
//
//	hopwire [--home DIR] [-v|-q] COMMAND [flags] [args]
//	hopwire demo                      run a local three-node chain demo (no configuration)
//	hopwire serve --listen URL... [--grant RULE...] [--stdio] [--connect RELAY --name N]
//	hopwire ping|trace [-J hop1,hop2] TARGET
//	hopwire exec [-J hop1,hop2] TARGET -- CMD [ARGS...]
//	hopwire trust --known|--authorized FINGERPRINT [NAME] | --list | --remove FINGERPRINT
//	hopwire help COMMAND              a command's usage, examples and flags
//	hopwire --version
//
// Results go to stdout, diagnostics to stderr; --json gives machine output
// where a command has results; a usage error exits with status 2, an
// interrupted command with 130.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/hopwire/hopwire/internal/procs"
)

// errUsage marks a usage error: the command exits with status 2.
var errUsage = errors.New("usage error")

// errInterrupted is what a command cancelled by SIGINT or SIGTERM
// returns: exit status 130, as ssh.
var errInterrupted = errors.New("interrupted")

func main() {
	// quic-go warns through the standard logger when a QUIC hop runs over
	// a relayed PacketConn, whose buffers are not a socket's to size.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// A second signal exits at once.
		<-ctx.Done()
		stop()
	}()
	// One P while the process uses less than a core, every P when busy
	// (see internal/procs: measured on real chains).
	procs.Adapt(ctx, nil)
	endProfiles := startProfiles()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	endProfiles()
	if err != nil && ctx.Err() != nil && !errors.As(err, new(exitError)) {
		err = interrupted(err)
	}
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// interrupted marks err as the result of an interruption, keeping its
// advice (such as how to resume) when it has some.
func interrupted(err error) error {
	if errors.Is(err, errInterrupted) {
		return err
	}
	return fmt.Errorf("%w%s", errInterrupted, resumeHint(err))
}

// resumeHint returns the " (run put again to resume)" an error carries, or "".
func resumeHint(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, " (run "); i >= 0 && strings.HasSuffix(s, "to resume)") {
		return s[i:]
	}
	return ""
}

func exitCode(err error, stderr io.Writer) int {
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintln(stderr, "hopwire:", ee.msg)
		}
		return ee.code // the remote command's status, silently
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errInterrupted):
		fmt.Fprintln(stderr, "hopwire:", err)
		return 130
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "hopwire:", userMessage(err, verboseErrors))
		return 2
	default:
		// The message may carry a remote side's text (a remote error, a
		// file name): quoted if it holds control characters.
		fmt.Fprintln(stderr, "hopwire:", quoteName(userMessage(err, verboseErrors)))
		return 1
	}
}

// verboseErrors keeps the Go detail of errors (-v before the command).
var verboseErrors bool

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"demo", "run a local demo: two relays and a target, services, callbacks, streams", runDemo},
		{"serve", "run a node: --listen URL..., --grant RULE..., --stdio, --connect RELAY", runServe},
		{"ping", "reach TARGET through -J hops and print the round trip", runPing},
		{"trace", "print every hop to TARGET: transport, identity, round trip", runTrace},
		{"peers", "list the agents registered at a relay", runPeers},
		{"trust", "trust a key: --known (a node) or --authorized (a client); --list, --remove", runTrust},
		{"exec", "run a command on TARGET with streamed stdio; its exit status is ours", runExec},
		{"shell", "an interactive shell on TARGET under a PTY", runShell},
		{"put", "copy local files to TARGET (-r: directories), verified by SHA-256, resumable", runPut},
		{"get", "copy files from TARGET (-r: directories), verified by SHA-256, resumable", runGet},
		{"call", "call SERVICE.METHOD on TARGET with JSON arguments; prints JSON results", runCall},
		{"rpyc", "poke an RPyC classic server from the chain's last hop", runRPyC},
		{"forward", "-L, -R and -D (SOCKS5) forwards whose connections leave from TARGET", runForward},
		{"mux", "hold a chain open on a unix socket; commands given --control PATH ride it (like ssh's ControlMaster)", runMux},
		{"ls", "list remote paths (-l: long format)", runLs},
		{"cat", "print remote files", runCat},
		{"rm", "remove remote paths (-r: recursively)", runRm},
		{"mkdir", "create remote directories (with parents)", runMkdir},
		{"state", "print a node's state (serve --state SOCKET) as JSON", runState},
		{"id", "print (or create, or rename) this identity: fingerprint and name", runID},
		{"uninstall", "remove what a zero-install ssh:// target left on its host", runUninstall},
		{"certs", "manage a fleet CA: certs init | certs issue", runCerts},
		{"bench", "run the benchmarks beside their references (go test in the source tree)", runBench},
		{"completion", "print a shell completion script: completion bash|zsh|fish", runCompletion},
		{"version", "print the version, commit and Go version", runVersion},
		{"help", "print a command's usage, examples and flags: help COMMAND", nil},
	}
}

// hiddenCommands run like the others but are listed nowhere (usage,
// completions): they serve packaging, not users.
func hiddenCommands() []command {
	return []command{
		{"man", "write the man pages, generated from the commands' help, into DIR", runMan},
	}
}

// globalFlags are the flags given before the command (run parses them),
// as usage and the hopwire(1) man page list them.
var globalFlags = []flagDoc{
	{"--home DIR", "hopwire's directory: identity, trust files, config ($HOPWIRE_HOME; default ~/.hopwire)"},
	{"-v", "verbose: debug logs to stderr, and errors with their Go detail"},
	{"-q", "quiet: no progress bars, only errors logged"},
	{"-V, --version", "print the version, commit and Go version"},
	{"-h, --help", "print this list of commands"},
}

// version is this build's version: the one a release build stamped
// (stampedVersion), else the module version ("(devel)" for a source
// build).
var version = buildVersion()

// stampedVersion is set by release builds (make release, the
// Containerfile): -ldflags '-X main.stampedVersion=v1.2.3'. The linker can
// only set a variable with no initializer, hence two variables.
var stampedVersion string

func buildVersion() string {
	if stampedVersion != "" {
		return stampedVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// versionLine is what --version prints: version, commit and Go version
// from the build info.
func versionLine() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "hopwire " + version
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	line := "hopwire " + version
	if rev != "" {
		line += " (" + rev + modified + ")"
	}
	return line + " " + bi.GoVersion
}

func runVersion(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("version", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, versionLine())
	return nil
}

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	// Global flags come before the command: they are handed to it.
	var global []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		a := args[0]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "h", "help":
			usage(stdout)
			return nil
		case "V", "version":
			fmt.Fprintln(stdout, versionLine())
			return nil
		case "v", "q":
			if name == "v" {
				verboseErrors = true
			}
			global = append(global, "-"+name)
			args = args[1:]
		case "home":
			if !hasVal {
				if len(args) < 2 {
					return fmt.Errorf("%w: --home needs a directory", errUsage)
				}
				val, args = args[1], args[1:]
			}
			global = append(global, "--home="+val)
			args = args[1:]
		default:
			usage(stderr)
			return fmt.Errorf("%w: unknown global flag %s (global flags: --home DIR, -v, -q, --version, --help)", errUsage, a)
		}
	}
	if len(args) == 0 {
		usage(stderr)
		return fmt.Errorf("%w: no command", errUsage)
	}
	if args[0] == "help" {
		if len(args) == 1 {
			usage(stdout)
			return nil
		}
		if wantsHelp(args[1:2]) {
			return printHelp("help", stdout)
		}
		return printHelp(args[1], stdout)
	}
	c, ok := lookup(args[0])
	if !ok {
		msg := fmt.Sprintf("unknown command %q", args[0])
		if s := suggest(args[0], commandNames()); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		return fmt.Errorf("%w: %s; run hopwire --help for the list", errUsage, msg)
	}
	rest := args[1:]
	if wantsHelp(rest) {
		return printHelp(c.name, stdout)
	}
	if len(global) > 0 {
		fs := flagSetOf(c)
		for _, g := range global {
			name, _, _ := strings.Cut(strings.TrimLeft(g, "-"), "=")
			switch {
			case fs != nil && fs.Lookup(name) != nil:
				rest = append([]string{g}, rest...)
			case name == "home":
				return fmt.Errorf("%w: --home does not apply to hopwire %s", errUsage, c.name)
			}
		}
	}
	return c.run(ctx, rest, stdin, stdout, stderr)
}

// wantsHelp reports whether a command's arguments ask for its help
// before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "--help", "-help":
			return true
		}
	}
	return false
}

func lookup(name string) (command, bool) {
	for _, c := range append(commands(), hiddenCommands()...) {
		if c.name == name && c.run != nil {
			return c, true
		}
	}
	return command{}, false
}

func commandNames() []string {
	var out []string
	for _, c := range commands() {
		out = append(out, c.name)
	}
	return out
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: hopwire [--home DIR] [-v|-q] COMMAND [flags] [args]")
	fmt.Fprintln(w, "       hopwire help COMMAND | hopwire --version")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nglobal flags (before COMMAND):")
	for _, f := range globalFlags {
		fmt.Fprintf(w, "  %-14s %s\n", f.head, f.usage)
	}
	fmt.Fprintln(w, "\n"+hopSyntax)
}

// helpSink is the stderr a command is run with to get its FlagSet:
// newFlags hands the FlagSet over instead of parsing.
type helpSink struct {
	io.Writer
	fs *flag.FlagSet
}

// flagSetOf returns the flags a command parses (nil for one without).
func flagSetOf(c command) *flag.FlagSet {
	switch c.name {
	case "certs", "completion", "help":
		return nil
	}
	sink := &helpSink{Writer: io.Discard}
	c.run(context.Background(), []string{"-h"}, nil, io.Discard, sink)
	return sink.fs
}

// newFlags returns a FlagSet whose parse errors are usage errors. Its
// output is discarded: parse writes the message, and help is printHelp's.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("hopwire "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if hs, ok := stderr.(*helpSink); ok {
		hs.fs = fs
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %s: %s; see %s --help", errUsage, fs.Name(), flagError(fs, err), fs.Name())
	}
	return nil
}

// flagError rewrites the flag package's error in the --double-dash form
// the README uses, with a suggestion for a misspelt flag.
func flagError(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	const undefined = "flag provided but not defined: -"
	if name, ok := strings.CutPrefix(msg, undefined); ok {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		msg = "unknown flag " + dashes(name)
		if s := suggest(name, names); s != "" {
			msg += " (did you mean " + dashes(s) + "?)"
		}
	}
	return msg
}

// dashes writes a flag name as the help does: -x, --long.
func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// suggest returns the candidate closest to s (edit distance at most 2),
// or "".
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD && len(c) > 1 {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Damerau–Levenshtein distance (adjacent
// transpositions count once) between a and b.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// parseInterleaved parses flags that may come after positional arguments
// too (hopwire forward TARGET -L … -D …); fs.Args() are the positionals.
func parseInterleaved(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return parse(fs, append([]string{"--"}, pos...))
}
