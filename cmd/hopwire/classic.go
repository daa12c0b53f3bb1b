package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hopwire/hopwire/classic"
	"github.com/hopwire/hopwire/hop"
)

// exitError carries a remote command's exit status out of run.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("remote command exited with status %d", e.code) }

// runExec: hopwire exec [-J chain] TARGET -- CMD [ARGS...], or
// hopwire exec [-J chain] --targets FILE -- CMD [ARGS...] to fan out.
func runExec(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	rc := newRouteCmd("exec", stderr)
	dir := rc.fs.String("C", "", "working directory on the far side")
	var env multi
	rc.fs.Var(&env, "e", "NAME=VALUE added to the remote environment (repeatable)")
	targets := rc.fs.String("targets", "", "run on every target listed in FILE (one hop address a line), in parallel")
	parallel := rc.fs.Int("P", 8, "with --targets: how many at once")
	tty := rc.fs.Bool("t", false, "run under a pseudo-terminal (interactive programs)")
	detach := rc.fs.Bool("d", false, "detach: start the command in a session of its own, not killed when hopwire exits; print its pid")
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
	first := 1
	if *targets != "" {
		first = 0
	}
	if len(cmd) == 0 {
		if rc.fs.NArg() > first {
			cmd = rc.fs.Args()[first:]
		} else {
			return fmt.Errorf("%w: exec TARGET -- CMD [ARGS...]", errUsage)
		}
	}
	req := classic.RunRequest{Argv: cmd, Env: env, Dir: *dir}
	if *targets != "" {
		return fanOut(ctx, rc, *targets, *parallel, stdout, stderr,
			func(ctx context.Context, c *classic.Client, _ string, out, errw io.Writer) (int, error) {
				return c.Run(ctx, req, strings.NewReader(""), out, errw)
			})
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
	if *detach {
		pid, err := c.Start(ctx, req)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, pid)
		return nil
	}
	var code int
	if *tty {
		code, err = runTTY(ctx, c, req, stdin, stdout)
	} else {
		code, err = c.Run(ctx, req, stdin, stdout, stderr)
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

// perTarget is the work fanOut does on one target's classic service.
type perTarget func(ctx context.Context, c *classic.Client, target string, stdout, stderr io.Writer) (int, error)

// fanOut runs fn on every target of a file, at most parallel at once,
// each output line prefixed with its target, then prints a summary. The
// exit status is 1 if any target failed.
func fanOut(ctx context.Context, rc *routeCmd, file string, parallel int, stdout, stderr io.Writer, fn perTarget) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var targets []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			targets = append(targets, l)
		}
	}
	if parallel < 1 {
		parallel = 1
	}
	var mu sync.Mutex // one line at a time on each output
	sem := make(chan struct{}, parallel)
	results := make([]string, len(targets))
	failed := 0
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out := &prefixWriter{prefix: t + ": ", w: stdout, mu: &mu}
			errw := &prefixWriter{prefix: t + ": ", w: stderr, mu: &mu}
			code, err := onTarget(ctx, rc, t, out, errw, fn)
			out.flush()
			errw.flush()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				results[i] = fmt.Sprintf("%-30s error: %s", t, quoteName(err.Error()))
				failed++
			case code != 0:
				results[i] = fmt.Sprintf("%-30s exit %d", t, code)
				failed++
			default:
				results[i] = fmt.Sprintf("%-30s ok", t)
			}
		}()
	}
	wg.Wait()
	fmt.Fprintf(stderr, "--- %d targets, %d ok, %d failed\n", len(targets), len(targets)-failed, failed)
	for _, r := range results {
		fmt.Fprintln(stderr, r)
	}
	if failed > 0 {
		return exitError{1}
	}
	return nil
}

func onTarget(ctx context.Context, rc *routeCmd, target string, stdout, stderr io.Writer, fn perTarget) (int, error) {
	t, err := hop.Parse(target)
	if err != nil {
		return -1, err
	}
	via, err := rc.cf.via()
	if err != nil {
		return -1, err
	}
	d, err := chainDialer(&rc.idf, &rc.cf, io.Discard)
	if err != nil {
		return -1, err
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	route, err := d.Dial(dctx, via, t)
	cancel()
	if err != nil {
		return -1, err
	}
	defer route.Close()
	return fn(ctx, classic.New(route.Target()), target, stdout, stderr)
}

// prefixWriter prefixes every line, writing whole lines under a shared
// lock so that parallel targets do not interleave within a line.
type prefixWriter struct {
	prefix string
	w      io.Writer
	mu     *sync.Mutex
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		p.mu.Lock()
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.mu.Unlock()
		p.buf = p.buf[i+1:]
	}
}

func (p *prefixWriter) flush() {
	if len(p.buf) > 0 {
		p.Write([]byte("\n"))
	}
}

// runLs: hopwire ls [-J chain] [-l] TARGET PATH... Names with control
// characters or invalid UTF-8 are printed Go-quoted (see quoteName);
// --json gives them as they are.
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
			// Names and link targets are the far side's: a hostile node
			// could put terminal escapes in them.
			name := quoteName(e.Name)
			if e.Link != "" {
				name += " -> " + quoteName(e.Link)
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
