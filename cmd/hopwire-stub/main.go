package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// errUsage marks a usage error: the command exits with status 2.
var errUsage = errors.New("usage error")

// main has no signal context, unlike cmd/hopwire's: nothing here waits on
// the network, and an interrupted run writes nothing (the file is written
// last, in one piece).
func main() {
	err := run(os.Args[1:], os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "hopwire-stub:", err)
		os.Exit(1)
	}
}

const usage = `usage: hopwire-stub -type Name[,Name...] [-output file] [dir]

hopwire-stub writes typed client stubs for the named interfaces of the Go
package in dir (default "."): for an interface Calc, a constructor

	func NewCalcStub(r *session.Ref) Calc

whose methods call the remote object r with r.Call and decode its results
(newCalcStub for an unexported calc). Every method must take a
context.Context first and return an error last. The serving side exposes
an implementation with session.ExposeAs[Calc](conn, "calc", impl).

Typical use, beside the interface:

	//go:generate go run github.com/hopwire/hopwire/cmd/hopwire-stub -type Calc

Flags:
`

// run is the command without the process: tests call it. A usage error
// has been printed to stderr and wraps errUsage.
func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("hopwire-stub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	typeList := fs.String("type", "", "comma-separated interface `names` (required)")
	output := fs.String("output", "", "output `file` (default: <first type, lower case>_stub.go in dir)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage // the flag package printed the error and the usage
	}
	usageErr := func(msg string) error {
		fmt.Fprintln(stderr, "hopwire-stub:", msg)
		fs.Usage()
		return errUsage
	}
	var names []string
	for n := range strings.SplitSeq(*typeList, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return usageErr("-type is required")
	}
	dir := "."
	switch fs.NArg() {
	case 0:
	case 1:
		dir = fs.Arg(0)
	default:
		return usageErr("at most one package directory")
	}
	out := *output
	if out == "" {
		out = filepath.Join(dir, strings.ToLower(names[0])+"_stub.go")
	}

	l, err := load(dir)
	if err != nil {
		return err
	}
	src, err := l.generate(names, filepath.Base(out))
	if err != nil {
		return err
	}
	return os.WriteFile(out, src, 0o644)
}
