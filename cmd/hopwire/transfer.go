package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hopwire/hopwire/classic"
)

// partSuffix names an interrupted transfer's partial file; a later put or
// get of the same file resumes from it after checking its prefix.
const partSuffix = ".hopwire-part"

// runPut: hopwire put [-J chain] [-r] TARGET LOCAL... REMOTE, or
// hopwire put --targets FILE LOCAL... REMOTE
func runPut(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	return runTransfer(ctx, "put", "LOCAL... REMOTE", args, stdout, stderr, putAll,
		func(dst, _ string) (string, error) { return dst, nil })
}

// transferFunc copies srcs to dst, one way or the other.
type transferFunc func(ctx context.Context, c *classic.Client, srcs []string, dst string, recursive bool, p *progress) error

// runTransfer is put and get: flags, one target or a fan-out, and the
// copy. fanDst gives each target's destination when fanning out.
func runTransfer(ctx context.Context, verb, operands string, args []string, stdout, stderr io.Writer,
	copyFn transferFunc, fanDst func(dst, target string) (string, error)) error {
	rc := newRouteCmd(verb, stderr).withJSON("the --targets summary")
	recursive := rc.fs.Bool("r", false, "copy directories recursively; symlinks are copied as symlinks (get: only those that stay inside LOCAL), special files are skipped and reported (exit 1)")
	targets := rc.fs.String("targets", "", "copy with every target listed in FILE, in parallel (get: into LOCAL/TARGET/)")
	parallel := rc.fs.Int("P", 8, "with --targets: how many at once")
	if err := parseInterleaved(rc.fs, args); err != nil {
		return err
	}
	first := 1 // the TARGET argument
	if *targets != "" {
		first = 0
	}
	if rc.fs.NArg() < first+2 {
		return fmt.Errorf("%w: %s TARGET %s (or --targets FILE %s)", errUsage, verb, operands, operands)
	}
	srcs, dst := rc.fs.Args()[first:rc.fs.NArg()-1], rc.fs.Arg(rc.fs.NArg()-1)
	if *targets != "" {
		return fanOut(ctx, rc, *targets, *parallel, stdout, stderr,
			func(ctx context.Context, c *classic.Client, target string, out, errw io.Writer) (int, error) {
				d, err := fanDst(dst, target)
				if err != nil {
					return -1, err
				}
				p := newProgress(errw, true) // warnings only: errw is no terminal
				if err := copyFn(ctx, c, srcs, d, *recursive, p); err != nil {
					return -1, err
				}
				return 0, p.skippedErr(verb)
			})
	}
	route, err := dialTarget(ctx, rc.fs, &rc.idf, &rc.cf, stderr)
	if err != nil {
		return err
	}
	defer route.Close()
	p := newProgress(stderr, rc.idf.quiet)
	err = copyFn(ctx, classic.New(route.Target()), srcs, dst, *recursive, p)
	p.done()
	if err != nil {
		return explainRemote(ctx, route, err)
	}
	return p.skippedErr(verb)
}

// putAll copies srcs to dst on the far side. Below a directory it copies
// regular files and directories only: a symlink is not followed (it may
// point anywhere, outside the tree too) but skipped with a warning, as are
// special files. The names it sends are this side's; the far side's
// classic service checks every path it is given (Service.Root).
func putAll(ctx context.Context, c *classic.Client, srcs []string, dst string, recursive bool, p *progress) error {
	dstIsDir := false
	fi, err := c.Stat(ctx, dst)
	switch {
	case err == nil && fi.IsDir:
		dstIsDir = true
	case err == nil, errors.Is(err, fs.ErrNotExist):
		// A file to replace, or a new name: its directory must exist.
		if parent := path.Dir(strings.TrimSuffix(dst, "/")); strings.HasSuffix(dst, "/") {
			return fmt.Errorf("put: remote directory %s does not exist (hopwire mkdir creates it)", quoteName(dst))
		} else if pfi, err := c.Stat(ctx, parent); err != nil || !pfi.IsDir {
			return fmt.Errorf("put: remote directory %s does not exist (hopwire mkdir creates it)", quoteName(parent))
		}
	default:
		return err
	}
	if len(srcs) > 1 && !dstIsDir {
		return fmt.Errorf("put: %s is not a remote directory", quoteName(dst))
	}
	for _, src := range srcs {
		target := dst
		if dstIsDir {
			target = path.Join(dst, filepath.Base(src))
		}
		fi, err := os.Stat(src)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			if !recursive {
				return fmt.Errorf("put: %s is a directory (use -r)", src)
			}
			// The trailing separator follows src itself when the user
			// named a symlink to a directory; links below it are not.
			err = filepath.WalkDir(src+string(filepath.Separator), func(local string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(src, local)
				remote := path.Join(target, filepath.ToSlash(rel))
				info, err := d.Info()
				if err != nil {
					return err
				}
				if d.IsDir() {
					if err := c.MkdirAll(ctx, remote, uint32(info.Mode().Perm())); err != nil {
						return err
					}
					return c.Chmod(ctx, remote, uint32(info.Mode().Perm()))
				}
				if info.Mode()&fs.ModeSymlink != 0 {
					// Copied as a symlink, not followed: the far side's
					// classic service resolves later uses of it under its
					// own rules (an os.Root under --classic-root).
					to, err := os.Readlink(local)
					if err != nil {
						return err
					}
					_ = c.Remove(ctx, remote) // replacing a link or file as cp -R does
					if err := c.Symlink(ctx, to, remote); err != nil {
						p.skip("put: %s -> %s: %s", quoteName(local), quoteName(to), userMessage(err, false))
					}
					return nil
				}
				if !info.Mode().IsRegular() {
					p.skip("put: skipped %s: not a regular file or directory", quoteName(local))
					return nil // sockets, devices, fifos: not copied
				}
				return putFile(ctx, c, local, remote, info, p)
			})
		} else {
			err = putFile(ctx, c, src, target, fi, p)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// putFile sends one file, resuming a partial upload whose prefix checks
// out, and verifies the result by SHA-256 before putting it in place.
func putFile(ctx context.Context, c *classic.Client, local, remote string, fi fs.FileInfo, p *progress) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	part := remote + partSuffix
	var offset int64
	if pfi, err := c.Stat(ctx, part); err == nil && pfi.Size <= fi.Size() {
		want, err := fileSum(f, pfi.Size)
		if err != nil {
			return err
		}
		if got, err := c.Checksum(ctx, part, pfi.Size); err == nil && got == want {
			offset = pfi.Size
		}
	}
	if offset == 0 {
		_ = c.Remove(ctx, part)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err
	}
	p.start(remote, fi.Size(), offset)
	if _, err := c.AppendFile(ctx, part, p.reader(f), 0o600); err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			// Not an interruption: nothing to resume.
			return fmt.Errorf("put %s: cannot write %s: %s", quoteName(local), quoteName(remote), errReason(err))
		}
		return fmt.Errorf("put %s: %w (run put again to resume)", local, err)
	}
	want, err := fileSum(f, -1)
	if err != nil {
		return err
	}
	got, err := c.Checksum(ctx, part, -1)
	if err != nil {
		return err
	}
	if got != want {
		c.Remove(ctx, part)
		return fmt.Errorf("put %s: SHA-256 differs after transfer (%s != %s)", local, got, want)
	}
	if err := c.Chmod(ctx, part, uint32(fi.Mode().Perm())); err != nil {
		return err
	}
	return c.Rename(ctx, part, remote)
}

// runGet: hopwire get [-J chain] [-r] TARGET REMOTE... LOCAL, or
// hopwire get --targets FILE REMOTE... LOCAL (into LOCAL/TARGET/)
func runGet(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	return runTransfer(ctx, "get", "REMOTE... LOCAL", args, stdout, stderr, getAll,
		func(dst, target string) (string, error) {
			local := filepath.Join(dst, safeName(target))
			return local, os.MkdirAll(local, 0o755)
		})
}

// safeName turns a hop address into a directory name.
func safeName(target string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ':' || r == ' ' || r == '#' || r == '\\' {
			return '_'
		}
		return r
	}, target)
}

// getAll copies srcs from the far side into dst.
//
// The far side names everything below a directory it sends, and a hostile
// node would name entries "../../.bashrc" (CVE-2019-6111 in scp). So each
// name from a ReadDir must be one plain path element (checkName): one that
// is not, fails the transfer. And every write below the directory the user
// named goes through an [os.Root] opened on it, so that neither a name nor
// a symlink already there takes a write outside it. Modes are the far
// side's permission bits less this process's umask: no setuid, setgid or
// sticky bit. Remote symlinks and special files are skipped with a warning.
func getAll(ctx context.Context, c *classic.Client, srcs []string, dst string, recursive bool, p *progress) error {
	dstIsDir := false
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		dstIsDir = true
	}
	if len(srcs) > 1 && !dstIsDir {
		return fmt.Errorf("get: %s is not a directory", dst)
	}
	for _, src := range srcs {
		fi, err := c.Stat(ctx, src)
		if err != nil {
			return err
		}
		if fi.IsDir && !recursive {
			return fmt.Errorf("get: %s is a directory (use -r)", src)
		}
		// dir is the local directory the user named, name the path the
		// copy takes inside it: the source's base name, "." to copy a
		// directory into dst itself.
		dir, name := dst, "."
		switch {
		case dstIsDir:
			name = path.Base(src)
			if name == "/" || name == "." || name == ".." {
				if !fi.IsDir {
					return fmt.Errorf("get: %s names no file", src)
				}
				name = "." // the contents of / or .. go into dst itself
			} else if err := checkName(name); err != nil {
				return fmt.Errorf("get: %s: %v", src, err)
			}
		case fi.IsDir:
			if err := os.MkdirAll(dst, 0o700); err != nil {
				return err
			}
		default:
			dir, name = filepath.Split(dst)
			if name == "" {
				return fmt.Errorf("get: %s is not a directory", dst)
			}
			if dir == "" {
				dir = "."
			}
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			return err
		}
		var links []pendingLink
		err = getTree(ctx, c, root, src, name, fi, p, &links)
		if err == nil {
			// Symlinks last, once every directory they might climb
			// through is there.
			for _, l := range links {
				if err := linkInRoot(root, l.name, l.target); err != nil {
					p.skip("get: skipped symlink %s -> %s: %v", quoteName(l.from), quoteName(l.target), err)
				}
			}
		}
		root.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// getTree copies remote, described by fi, to local inside root: a file,
// or a directory and everything below it.
func getTree(ctx context.Context, c *classic.Client, root *os.Root, remote, local string, fi classic.FileInfo, p *progress, links *[]pendingLink) error {
	if !fi.IsDir {
		return getFile(ctx, c, root, remote, local, fi, p)
	}
	if err := root.MkdirAll(local, 0o700); err != nil {
		return inRoot(root, err)
	}
	entries, err := c.ReadDir(ctx, remote)
	if err != nil {
		return err
	}
	for _, e := range entries {
		child := filepath.Join(local, e.Name)
		if err := checkName(e.Name); err != nil || !filepath.IsLocal(child) {
			if err == nil {
				err = errors.New("leaves the destination")
			}
			return fmt.Errorf("get: refusing remote entry %s in %s: %v", strconv.Quote(e.Name), quoteName(remote), err)
		}
		from := path.Join(remote, e.Name)
		switch {
		case e.Link != "":
			*links = append(*links, pendingLink{from: from, name: child, target: e.Link})
			continue
		case !e.IsDir && !e.FileMode().IsRegular():
			p.skip("get: skipped %s: not a regular file or directory", quoteName(from))
			continue
		}
		if err := getTree(ctx, c, root, from, child, e, p, links); err != nil {
			return err
		}
	}
	return inRoot(root, root.Chmod(local, localMode(fi.FileMode())))
}

// pendingLink is a remote symlink get -r makes once the tree is copied.
type pendingLink struct{ from, name, target string }

// inRoot says in which local directory a write that os.Root refused (or
// that failed) was: its own errors name paths inside it only.
func inRoot(root *os.Root, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("get: in %s: %w", root.Name(), err)
}

// checkName returns an error unless name, from a remote directory listing,
// is one plain path element here and on Windows.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case name == "." || name == "..":
		return errors.New("not a file name")
	case strings.ContainsAny(name, "/\\\x00"):
		return errors.New("has a path separator or NUL")
	}
	return nil
}

// localMode is the mode a file received from the far side gets here: its
// permission bits (never setuid, setgid or sticky) less the umask.
func localMode(m fs.FileMode) fs.FileMode {
	return m.Perm() &^ umask()
}

// getFile fetches one file into a partial file beside local, resuming it
// when its prefix matches the remote file's, and verifies by SHA-256. local
// is a path inside root.
func getFile(ctx context.Context, c *classic.Client, root *os.Root, remote, local string, fi classic.FileInfo, p *progress) error {
	part := local + partSuffix
	f, err := root.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return inRoot(root, err)
	}
	defer f.Close()
	var offset int64
	if st, err := f.Stat(); err == nil && st.Size() > 0 && st.Size() <= fi.Size {
		have, err := fileSum(f, st.Size())
		if err != nil {
			return err
		}
		if want, err := c.Checksum(ctx, remote, st.Size()); err == nil && want == have {
			offset = st.Size()
		}
	}
	if err := f.Truncate(offset); err != nil {
		return err
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err
	}
	r, err := c.ReadFile(ctx, remote, offset)
	if err != nil {
		return err
	}
	p.start(filepath.Join(root.Name(), local), fi.Size, offset)
	// An interrupt stops the copy at once: the stream is closed under
	// the read, and what arrived stays in the part file to resume from.
	stop := context.AfterFunc(ctx, func() { r.Close() })
	_, err = io.Copy(f, p.reader(ctxReader{ctx, r}))
	stop()
	r.Close()
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("get %s: %w (run get again to resume)", quoteName(remote), err)
	}
	have, err := fileSum(f, -1)
	if err != nil {
		return err
	}
	want, err := c.Checksum(ctx, remote, -1)
	if err != nil {
		return err
	}
	if have != want {
		root.Remove(part)
		return fmt.Errorf("get %s: SHA-256 differs after transfer", quoteName(remote))
	}
	if err := f.Chmod(localMode(fi.FileMode())); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return inRoot(root, root.Rename(part, local))
}

// fileSum hashes the first n bytes of f (all when n < 0) from its start.
func fileSum(f *os.File, n int64) (string, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	h := sha256.New()
	var r io.Reader = f
	if n >= 0 {
		r = io.LimitReader(f, n)
	}
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader fails a read once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// errReason is the far side's reason for an error, without the operation
// and temporary names around it: "no such file or directory".
func errReason(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file or directory"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	return userMessage(err, false)
}

// linkInRoot makes a symlink to target at name inside root, when the
// link cannot lead out of root: target must be relative, and resolving
// it from name's directory must stay inside root, climbing ("..") only
// out of real directories that exist now (never through a symlink, whose
// ".." is not the lexical one). Links are made after the files and
// directories beside them, and no later write turns a real directory into
// a symlink, so the check holds.
func linkInRoot(root *os.Root, name, target string) error {
	if target == "" || filepath.IsAbs(target) || strings.ContainsAny(target, "\\\x00") {
		return errors.New("its target is absolute or not a plain path: it would point outside LOCAL")
	}
	var stack []string
	parts := append(strings.Split(filepath.ToSlash(filepath.Dir(name)), "/"), strings.Split(target, "/")...)
	for i, part := range parts {
		switch part {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return errors.New("its target leads out of LOCAL")
			}
			stack = stack[:len(stack)-1]
			continue
		}
		stack = append(stack, part)
		if i == len(parts)-1 {
			break
		}
		fi, err := root.Lstat(filepath.Join(stack...))
		if err != nil || !fi.IsDir() {
			return errors.New("its target goes through a symlink or a missing directory")
		}
	}
	return root.Symlink(target, name)
}

// progress draws a one-line progress bar on a terminal (bytes, rate,
// ETA), and nothing when stderr is not one or with -q. It also counts
// what a recursive copy skipped.
type progress struct {
	w       io.Writer
	tty     bool
	name    string
	total   int64
	done_   int64
	first   int64 // done_ at start: the rate counts this run's bytes
	began   time.Time
	last    time.Time
	drawn   bool // a bar is on the current line
	skipped int
}

func newProgress(w io.Writer, quiet bool) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok && !quiet {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// start begins a file's bar; name may hold a remote side's text.
func (p *progress) start(name string, total, offset int64) {
	p.name, p.total, p.done_, p.first, p.began = quoteName(name), total, offset, offset, time.Now()
}

// warn prints a line on a line of its own (terminals or not). Callers
// quote remote text with quoteName.
func (p *progress) warn(format string, args ...any) {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// skip reports something a recursive copy left out: the command then
// exits 1.
func (p *progress) skip(format string, args ...any) {
	p.skipped++
	p.warn(format, args...)
}

// skippedErr is the error of a copy that skipped something, or nil.
func (p *progress) skippedErr(verb string) error {
	if p.skipped == 0 {
		return nil
	}
	return exitError{code: 1, msg: fmt.Sprintf("%s: %d entries skipped (listed above); everything else was copied", verb, p.skipped)}
}

func (p *progress) reader(r io.Reader) io.Reader {
	if !p.tty {
		return r
	}
	return readFunc(func(b []byte) (int, error) {
		n, err := r.Read(b)
		p.done_ += int64(n)
		if time.Since(p.last) > 200*time.Millisecond || err != nil {
			p.last = time.Now()
			p.draw()
		}
		return n, err
	})
}

func (p *progress) draw() {
	pct := 100.0
	if p.total > 0 {
		pct = float64(p.done_) * 100 / float64(p.total)
	}
	elapsed := time.Since(p.began).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.done_-p.first) / elapsed
	}
	eta := "--:--"
	if rate > 0 && p.total >= p.done_ {
		eta = fmtETA(time.Duration(float64(p.total-p.done_) / rate * float64(time.Second)))
	}
	fmt.Fprintf(p.w, "\r%-32.32s %5.1f%% %9s %9s/s ETA %s ", p.name, pct, fmtBytes(float64(p.done_)), fmtBytes(rate), eta)
	p.drawn = true
}

// fmtBytes writes n bytes as scp does: 1.2MB, 345KB.
func fmtBytes(n float64) string {
	units := []string{"B", "KB", "MB", "GB", "TB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f%s", n, units[i])
	}
	return fmt.Sprintf("%.1f%s", n, units[i])
}

func fmtETA(d time.Duration) string {
	d = d.Round(time.Second)
	if d >= time.Hour {
		return fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
	}
	return fmt.Sprintf("%02d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

func (p *progress) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(b []byte) (int, error) { return f(b) }
