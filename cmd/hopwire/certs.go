package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/hopwire/hopwire/certs"
)

func runID(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("id", stderr)
	home := fs.String("home", certs.Home(), "identity directory ($HOPWIRE_HOME), created if missing")
	name := fs.String("name", "", "name of a new identity (default: host name); for an existing one, a new name for the same key")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: id takes no arguments (did you mean --name %s?)", errUsage, fs.Arg(0))
	}
	id, err := certs.LoadOrCreate(*home, *name)
	if err != nil {
		return err
	}
	if *name != "" && id.Name() != *name {
		// An existing identity: the same key under the new name (its
		// fingerprint, and so every trust entry for it, is unchanged).
		old := id.Name()
		if id, err = certs.Rename(*home, *name); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "hopwire: renamed %s to %s (same key, same fingerprint)\n", quoteName(old), id.Name())
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{"name": id.Name(), "fingerprint": id.Fingerprint()})
	}
	fmt.Fprintf(stdout, "%s %s\n", id.Fingerprint(), id.Name())
	return nil
}

func runCerts(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: certs needs a verb: init or issue", errUsage)
	}
	switch args[0] {
	case "init":
		fs := newFlags("certs init", stderr)
		dir := fs.String("dir", "", "directory for ca.crt and ca.key")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if *dir == "" {
			return fmt.Errorf("%w: certs init needs --dir", errUsage)
		}
		ca, err := certs.InitCA(*dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "CA %s written to %s\n", certs.Fingerprint(ca.Certificate()), *dir)
		return nil
	case "issue":
		fs := newFlags("certs issue", stderr)
		dir := fs.String("dir", "", "the CA's directory; the certificate is written there as NAME.crt and NAME.key")
		name := fs.String("name", "", "principal name (the certificate's CommonName)")
		var hosts multi
		fs.Var(&hosts, "host", "host name or IP for the certificate (repeatable)")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if *dir == "" || *name == "" {
			return fmt.Errorf("%w: certs issue needs --dir and --name", errUsage)
		}
		ca, err := certs.LoadCA(*dir)
		if err != nil {
			return err
		}
		if err := ca.IssueToDir(*dir, *name, hosts); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "issued %s (%s.crt, %s.key) in %s\n", *name, *name, *name, *dir)
		return nil
	}
	return fmt.Errorf("%w: unknown certs verb %q (want init or issue)", errUsage, args[0])
}
