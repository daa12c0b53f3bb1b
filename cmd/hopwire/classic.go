package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hopwire/hopwire/classic"
)

// exitError carries a remote command's exit status out of run.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("remote command exited with status %d", e.code) }

// runExec: hopwire exec [-J chain] TARGET -- CMD [ARGS...]
func runExec(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	rc := newRouteCmd("exec", stderr)
	dir := rc.fs.String("C", "", "working directory on the far side")
	var env multi
	rc.fs.Var(&env, "e", "NAME=VALUE added to the remote environment (repeatable)")
	// Split at "--": what follows is the command.
	var cmd []string
	for i, a := range args {
		if a == "--" {
			args, cmd = args[:i], args[i+1:]
			break
		}
	}
	if err := parse(rc.fs, args); err != nil {
		return err
	}
	if len(cmd) == 0 {
		if rc.fs.NArg() > 1 {
			cmd = rc.fs.Args()[1:]
		} else {
			return fmt.Errorf("%w: exec TARGET -- CMD [ARGS...]", errUsage)
		}
	}
	route, err := dialTarget(ctx, rc.fs, &rc.idf, &rc.cf, stderr)
	if err != nil {
		return err
	}
	defer route.Close()
	c := classic.New(route.Target())
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	code, err := c.Run(ctx, classic.RunRequest{Argv: cmd, Env: env, Dir: *dir}, stdin, stdout, stderr)
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

// runLs: hopwire ls [-J chain] [-l] TARGET PATH...
func runLs(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	rc := newRouteCmd("ls", stderr)
	long := rc.fs.Bool("l", false, "long format: mode, owner, size, time, name")
	route, err := rc.dial(ctx, args, stderr)
	if err != nil {
		return err
	}
	defer route.Close()
	c := classic.New(route.Target())
	paths := rc.fs.Args()[1:]
	if len(paths) == 0 {
		paths = []string{"."}
	}
	var all []classic.FileInfo
	for _, p := range paths {
		fi, err := c.Stat(ctx, p)
		if err != nil {
			return err
		}
		entries := []classic.FileInfo{fi}
		if fi.IsDir {
			if entries, err = c.ReadDir(ctx, p); err != nil {
				return err
			}
		}
		all = append(all, entries...)
		if *rc.asJSON {
			continue
		}
		if len(paths) > 1 && fi.IsDir {
			fmt.Fprintf(stdout, "%s:\n", p)
		}
		for _, e := range entries {
			name := e.Name
			if e.Link != "" {
				name += " -> " + e.Link
			}
			if *long {
				fmt.Fprintf(stdout, "%s %5d %5d %10d %s %s\n", e.FileMode(), e.UID, e.GID, e.Size, e.ModTime.Local().Format(time.DateTime), name)
			} else {
				fmt.Fprintln(stdout, name)
			}
		}
	}
	if *rc.asJSON {
		return json.NewEncoder(stdout).Encode(all)
	}
	return nil
}

// runCat: hopwire cat [-J chain] TARGET PATH...
func runCat(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	rc := newRouteCmd("cat", stderr)
	route, err := rc.dial(ctx, args, stderr)
	if err != nil {
		return err
	}
	defer route.Close()
	c := classic.New(route.Target())
	for _, p := range rc.fs.Args()[1:] {
		r, err := c.ReadFile(ctx, p, 0)
		if err != nil {
			return err
		}
		_, err = io.Copy(stdout, r)
		r.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// runRm: hopwire rm [-J chain] [-r] TARGET PATH...
func runRm(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	rc := newRouteCmd("rm", stderr)
	recursive := rc.fs.Bool("r", false, "remove directories and their contents")
	route, err := rc.dial(ctx, args, stderr)
	if err != nil {
		return err
	}
	defer route.Close()
	c := classic.New(route.Target())
	for _, p := range rc.fs.Args()[1:] {
		if *recursive {
			err = c.RemoveAll(ctx, p)
		} else {
			err = c.Remove(ctx, p)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// runMkdir: hopwire mkdir [-J chain] TARGET PATH... (always -p)
func runMkdir(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	rc := newRouteCmd("mkdir", stderr)
	route, err := rc.dial(ctx, args, stderr)
	if err != nil {
		return err
	}
	defer route.Close()
	c := classic.New(route.Target())
	for _, p := range rc.fs.Args()[1:] {
		if err := c.MkdirAll(ctx, p, 0o755); err != nil {
			return err
		}
	}
	return nil
}
