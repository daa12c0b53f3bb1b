package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hopwire/hopwire"
	"github.com/hopwire/hopwire/classic"
	"github.com/hopwire/hopwire/hop"
)

// exitError carries an exit status out of run: a remote command's
// (silently), or a status with a message to print (msg).
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return fmt.Sprintf("remote command exited with status %d", e.code)
}

// runExec: hopwire exec [-J chain] TARGET -- CMD [ARGS...], or
// hopwire exec [-J chain] --targets FILE -- CMD [ARGS...] to fan out.
func runExec(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	rc := newRouteCmd("exec", stderr).withJSON("the --targets summary")
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
	dashes := cmd != nil
	if dashes {
		// Flags may follow TARGET: exec TARGET -C DIR -- CMD.
		if err := parseInterleaved(rc.fs, args); err != nil {
			return err
		}
	} else if err := parse(rc.fs, args); err != nil {
		return err
	}
	first := 1
	if *targets != "" {
		first = 0
	}
	switch {
	case len(cmd) == 0 && !dashes && rc.fs.NArg() > first:
		cmd = rc.fs.Args()[first:]
	case len(cmd) == 0:
		return fmt.Errorf("%w: exec TARGET -- CMD [ARGS...]", errUsage)
	case rc.fs.NArg() > first:
		return fmt.Errorf("%w: exec: unexpected %q before --; see hopwire exec --help", errUsage, rc.fs.Arg(first))
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
			return explainRemote(ctx, route, err)
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
		return explainRemote(ctx, route, err)
	}
	if code != 0 {
		return exitError{code: code}
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
		if l = stripComment(l); l != "" {
			targets = append(targets, l)
		}
	}
	if parallel < 1 {
		parallel = 1
	}
	// Targets behind the same relays share the links to them.
	prefixes := hop.NewPrefixes()
	var mu sync.Mutex // one line at a time on each output
	sem := make(chan struct{}, parallel)
	results := make([]string, len(targets))
	summary := make([]fanResult, len(targets))
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
			code, err := onTarget(ctx, rc, prefixes, t, out, errw, fn)
			out.flush()
			errw.flush()
			mu.Lock()
			defer mu.Unlock()
			summary[i] = fanResult{Target: t, Exit: code}
			switch {
			case err != nil:
				msg := userMessage(err, verboseErrors)
				results[i] = fmt.Sprintf("%-30s error: %s", t, quoteName(msg))
				summary[i] = fanResult{Target: t, Exit: -1, Error: msg}
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
	if *rc.asJSON {
		json.NewEncoder(stdout).Encode(summary)
	} else {
		fmt.Fprintf(stderr, "--- %d targets, %d ok, %d failed\n", len(targets), len(targets)-failed, failed)
		for _, r := range results {
			fmt.Fprintln(stderr, r)
		}
	}
	if failed > 0 {
		return exitError{code: 1}
	}
	return nil
}

// fanResult is one target's line of a --targets summary (--json).
type fanResult struct {
	Target string `json:"target"`
	Exit   int    `json:"exit"` // -1: an error before or instead of an exit status
	Error  string `json:"error,omitempty"`
}

// onTarget runs fn on one target of a --targets file: a hop address or a
// config alias, through -J or the alias's via chain, whose hops it shares
// with the other targets' routes through prefixes.
func onTarget(ctx context.Context, rc *routeCmd, prefixes *hop.Prefixes, target string, stdout, stderr io.Writer, fn perTarget) (int, error) {
	cf := rc.cf // each target resolves its own chain
	c, err := dialClient(ctx, target, &rc.idf, &cf, io.Discard, func(o *hopwire.Options) { o.Prefixes = prefixes })
	if err != nil {
		return -1, err
	}
	route := c.Route()
	defer route.Close()
	code, err := fn(ctx, classic.New(route.Target()), target, stdout, stderr)
	return code, explainRemote(ctx, route, err)
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
	rc := newRouteCmd("ls", stderr).withJSON("the entries")
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
	var all []lsEntry
	for _, p := range paths {
		fi, err := c.Stat(ctx, p)
		if err != nil {
			return explainRemote(ctx, route, err)
		}
		entries := []classic.FileInfo{fi}
		if fi.IsDir {
			if entries, err = c.ReadDir(ctx, p); err != nil {
				return err
			}
		}
		for _, e := range entries {
			all = append(all, lsEntry{Path: p, Name: e.Name, Type: fileType(e), Mode: lsMode(e.FileMode()),
				Perm: fmt.Sprintf("%04o", e.FileMode().Perm()), Size: e.Size, UID: e.UID, GID: e.GID,
				ModTime: e.ModTime.UTC().Format(time.RFC3339), Link: e.Link})
		}
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
				fmt.Fprintf(stdout, "%s %5d %5d %10d %s %s\n", lsMode(e.FileMode()), e.UID, e.GID, e.Size, e.ModTime.Local().Format(time.DateTime), name)
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

// lsEntry is one entry of ls --json.
type lsEntry struct {
	Path    string `json:"path"` // the operand it was listed under
	Name    string `json:"name"`
	Type    string `json:"type"` // file, dir, symlink, fifo, socket, char-device, block-device
	Mode    string `json:"mode"` // as ls -l: drwxr-xr-x
	Perm    string `json:"perm"` // octal: 0755
	Size    int64  `json:"size"`
	UID     int    `json:"uid"`
	GID     int    `json:"gid"`
	ModTime string `json:"mtime"` // RFC 3339, UTC
	Link    string `json:"link,omitempty"`
}

func fileType(fi classic.FileInfo) string {
	m := fi.FileMode()
	switch {
	case fi.Link != "" || m&fs.ModeSymlink != 0:
		return "symlink"
	case fi.IsDir:
		return "dir"
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "char-device"
	case m&fs.ModeDevice != 0:
		return "block-device"
	}
	return "file"
}

// lsMode writes a mode as ls -l does: a type letter, then rwx triples
// with s/S for setuid and setgid and t/T for sticky.
func lsMode(m fs.FileMode) string {
	b := []byte("-rwxrwxrwx")
	switch {
	case m&fs.ModeDir != 0:
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	case m&fs.ModeNamedPipe != 0:
		b[0] = 'p'
	case m&fs.ModeSocket != 0:
		b[0] = 's'
	case m&fs.ModeCharDevice != 0:
		b[0] = 'c'
	case m&fs.ModeDevice != 0:
		b[0] = 'b'
	}
	for i := 0; i < 9; i++ {
		if m&(1<<uint(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	special := func(set bool, i int, lower, upper byte) {
		if !set {
			return
		}
		if b[i] == 'x' {
			b[i] = lower
		} else {
			b[i] = upper
		}
	}
	special(m&fs.ModeSetuid != 0, 3, 's', 'S')
	special(m&fs.ModeSetgid != 0, 6, 's', 'S')
	special(m&fs.ModeSticky != 0, 9, 't', 'T')
	return string(b)
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
		if fi, err := c.Stat(ctx, p); err != nil {
			return explainRemote(ctx, route, err)
		} else if fi.IsDir {
			return fmt.Errorf("cat: %s: is a directory (hopwire ls lists it)", quoteName(p))
		}
		r, err := c.ReadFile(ctx, p, 0)
		if err != nil {
			return err
		}
		_, err = io.Copy(stdout, r)
		r.Close()
		if err != nil {
			return fmt.Errorf("cat: %s: %w", quoteName(p), err)
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
		if err != nil && !*recursive && strings.Contains(err.Error(), "directory not empty") {
			return fmt.Errorf("rm: %s: directory not empty (rm -r removes it and everything in it)", quoteName(p))
		}
		if err != nil {
			return explainRemote(ctx, route, err)
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
			return explainRemote(ctx, route, err)
		}
	}
	return nil
}
