// Command hopwire is both a hopwire node and its client.
//
// Usage:
//
//	hopwire demo                      run a local three-node chain demo (no configuration)
//	hopwire serve --listen URL... [--grant RULE...] [--stdio] [--connect RELAY --name N]
//	hopwire ping|trace [-J hop1,hop2] TARGET
//	hopwire peers [-J ...] RELAY
//	hopwire rpyc [-J hop1,hop2] HOST:PORT EXPR   poke an RPyC classic server
//	hopwire trust --known|--authorized FINGERPRINT [NAME]
//	hopwire id                        print this identity's name and fingerprint
//	hopwire certs init --dir D        create a fleet CA in D
//	hopwire certs issue --dir D --name N [--host H]...
//	hopwire version
//
// Results go to stdout, diagnostics to stderr; --json gives machine output
// where a command has results; a usage error exits with status 2.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// errUsage marks a usage error: the command exits with status 2.
var errUsage = errors.New("usage error")

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
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code // the remote command's status, silently
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "hopwire:", err)
		return 2
	default:
		// The message may carry a remote side's text (a remote error, a
		// file name): quoted if it holds control characters.
		fmt.Fprintln(stderr, "hopwire:", quoteName(err.Error()))
		return 1
	}
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"demo", "run a local demo: two nodes, services, callbacks, streams", runDemo},
		{"serve", "run a node: --listen URL..., --grant RULE..., --stdio, --connect RELAY", runServe},
		{"ping", "reach TARGET through -J hops and print the round trip", runPing},
		{"trace", "print every hop to TARGET: transport, identity, round trip", runTrace},
		{"peers", "list the agents registered at a relay", runPeers},
		{"trust", "trust a fingerprint: --known (a node) or --authorized (a client)", runTrust},
		{"exec", "run a command on TARGET with streamed stdio; its exit status is ours", runExec},
		{"shell", "an interactive shell on TARGET under a PTY", runShell},
		{"put", "copy local files to TARGET (-r: directories), verified by SHA-256, resumable", runPut},
		{"get", "copy files from TARGET (-r: directories), verified by SHA-256, resumable; never writes outside LOCAL", runGet},
		{"call", "call SERVICE.METHOD on TARGET with JSON arguments; prints JSON results", runCall},
		{"rpyc", "poke an RPyC classic server: rpyc [-J HOPS] HOST:PORT modules.os.getcwd()", runRPyC},
		{"forward", "-L [BIND:]PORT:HOST:PORT and -D PORT (SOCKS5): connections that leave from TARGET", runForward},
		{"ls", "list remote paths (-l: long format)", runLs},
		{"cat", "print remote files", runCat},
		{"rm", "remove remote paths (-r: recursively)", runRm},
		{"mkdir", "create remote directories (with parents)", runMkdir},
		{"state", "print a node's state (serve --state SOCKET) as JSON: state SOCKET", runState},
		{"id", "print this node's identity (name and fingerprint)", runID},
		{"certs", "manage a fleet CA: certs init | certs issue", runCerts},
		{"bench", "run the benchmarks beside their references (go test in the source tree): one table of ratios", runBench},
		{"completion", "print a shell completion script: completion bash|zsh", runCompletion},
		{"version", "print the version", func(_ context.Context, _ []string, _ io.Reader, stdout, _ io.Writer) error {
			fmt.Fprintln(stdout, "hopwire", version)
			return nil
		}},
	}
}

const version = "0.1.0-dev"

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return fmt.Errorf("%w: no command", errUsage)
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdin, stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: hopwire COMMAND [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
}

// newFlags returns a FlagSet whose parse errors are usage errors.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("hopwire "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
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
