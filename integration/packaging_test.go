//go:build integration && linux

package integration

import (
	"bufio"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The packaging of issue 17: make install, the systemd unit, make release
// and the Containerfile, checked with the tools that consume them where
// they are installed (groff, mandoc, man, bash/zsh/fish, systemd-analyze).

// makeAt runs make in the repository root and returns its output.
func makeAt(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	cmd := exec.Command("make", append([]string{"--no-print-directory"}, args...)...)
	cmd.Dir = ".."
	// The version is stamped; the build needs no VCS lookup (a worktree or
	// an exported tree has none to give).
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// optionalTool returns the path of tool, or "" after saying in the log
// what goes unchecked without it.
func optionalTool(t *testing.T, tool, unchecked string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Logf("%s is not installed: %s is not checked", tool, unchecked)
		return ""
	}
	return p
}

// TestMakeInstall: make install DESTDIR=… PREFIX=/usr lays out the
// binary, one man page per command, the completions and the systemd
// unit; each is checked by what reads it; make uninstall removes them.
func TestMakeInstall(t *testing.T) {
	dest := t.TempDir()
	const version = "v0.0.0-installtest"
	makeAt(t, "install", "DESTDIR="+dest, "PREFIX=/usr", "VERSION="+version)
	usr := filepath.Join(dest, "usr")
	bin := filepath.Join(usr, "bin", "hopwire")
	man1 := filepath.Join(usr, "share", "man", "man1")
	unit := filepath.Join(usr, "lib", "systemd", "system", "hopwire.service")
	conf := filepath.Join(dest, "etc", "hopwire", "hopwire.conf") // SYSCONFDIR is /etc whatever PREFIX
	completions := map[string]string{
		"bash": filepath.Join(usr, "share", "bash-completion", "completions", "hopwire"),
		"zsh":  filepath.Join(usr, "share", "zsh", "site-functions", "_hopwire"),
		"fish": filepath.Join(usr, "share", "fish", "vendor_completions.d", "hopwire.fish"),
	}
	files := map[string]os.FileMode{bin: 0o755, unit: 0o644, filepath.Join(usr, "lib", "sysusers.d", "hopwire.conf"): 0o644, conf: 0o644}
	for _, c := range completions {
		files[c] = 0o644
	}

	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "hopwire "+version+" ") {
		t.Fatalf("installed hopwire version: %v: %q, want hopwire %s …", err, out, version)
	}
	// One page per command the usage lists, and hopwire(1).
	usage, _ := exec.Command(bin, "--help").Output()
	pages := []string{filepath.Join(man1, "hopwire.1")}
	inCommands := false
	for _, l := range strings.Split(string(usage), "\n") {
		switch {
		case l == "commands:":
			inCommands = true
		case inCommands && l == "":
			inCommands = false
		case inCommands:
			if name := strings.Fields(l)[0]; name != "help" {
				pages = append(pages, filepath.Join(man1, "hopwire-"+name+".1"))
			}
		}
	}
	if len(pages) < 20 {
		t.Fatalf("hopwire --help lists %d commands:\n%s", len(pages)-1, usage)
	}
	for _, p := range pages {
		files[p] = 0o644
	}
	for f, mode := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Errorf("make install did not install %s: %v", f, err)
		} else if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", f, fi.Mode().Perm(), mode)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	t.Run("man", func(t *testing.T) {
		if mandoc := optionalTool(t, "mandoc", "mandoc -T lint"); mandoc != "" {
			out, err := exec.Command(mandoc, append([]string{"-T", "lint", "-W", "warning"}, pages...)...).CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Errorf("mandoc -T lint: %v\n%s", err, out)
			}
		}
		if groff := optionalTool(t, "groff", "groff's reading of the pages"); groff != "" {
			for _, p := range pages {
				cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", p)
				if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
					t.Errorf("groff %s: %v\n%s", p, err, out)
				}
			}
		}
		if man := optionalTool(t, "man", "man's search path"); man != "" {
			cmd := exec.Command(man, "-w", "hopwire-serve")
			cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(usr, "share", "man"))
			if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != filepath.Join(man1, "hopwire-serve.1") {
				t.Errorf("man -w hopwire-serve under the installed MANPATH: %v: %s", err, out)
			}
		}
		// The page says what the installed binary's help says.
		help, _ := exec.Command(bin, "help", "serve").Output()
		page, _ := os.ReadFile(filepath.Join(man1, "hopwire-serve.1"))
		for _, l := range strings.Split(string(help), "\n") {
			if f, ok := strings.CutPrefix(l, "  --"); ok {
				flag := `\-\-` + strings.ReplaceAll(strings.Fields(f)[0], "-", `\-`)
				if !strings.Contains(string(page), flag) {
					t.Errorf("hopwire-serve.1 lacks %s, which hopwire help serve lists", flag)
				}
			}
		}
	})

	t.Run("completions", func(t *testing.T) {
		for sh, f := range completions {
			p := optionalTool(t, sh, "the "+sh+" completion's syntax")
			if p == "" {
				continue
			}
			if out, err := exec.Command(p, "-n", f).CombinedOutput(); err != nil {
				t.Errorf("%s -n %s: %v\n%s", sh, f, err, out)
			}
		}
		if bash := optionalTool(t, "bash", "bash completion"); bash != "" {
			// Completing "hopwire serve --li" offers --listen.
			script := `source "$1"; COMP_WORDS=(hopwire serve --li); COMP_CWORD=2; _hopwire; echo "${COMPREPLY[@]}"`
			out, err := exec.Command(bash, "-c", script, "bash", completions["bash"]).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "--listen" {
				t.Errorf("bash completion of hopwire serve --li: %v: %q, want --listen", err, out)
			}
		}
		if fish := optionalTool(t, "fish", "fish completion"); fish != "" {
			script := `source $argv[1]; complete -C 'hopwire serve --li'`
			out, err := exec.Command(fish, "-c", script, completions["fish"]).CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), "--listen\t") {
				t.Errorf("fish completion of hopwire serve --li: %v: %q, want --listen", err, out)
			}
		}
	})

	t.Run("systemd", func(t *testing.T) {
		data, err := os.ReadFile(unit)
		if err != nil {
			t.Fatal(err)
		}
		u := string(data)
		for _, want := range []string{
			"\nType=notify\n", "\nExecStart=/usr/bin/hopwire serve --config=/etc/hopwire/hopwire.conf ", "\nExecReload=/bin/kill -HUP $MAINPID\n",
			"\nNoNewPrivileges=yes\n", "\nProtectSystem=strict\n", "\nProtectHome=yes\n", "\nPrivateTmp=yes\n",
			"\nPrivateDevices=yes\n", "\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n", "\nCapabilityBoundingSet=\n",
			"\nStateDirectory=hopwire\n", "--home=%S/hopwire", "--state=%t/hopwire/state.sock",
		} {
			if !strings.Contains(u, want) {
				t.Errorf("the installed unit lacks %q", strings.TrimSpace(want))
			}
		}
		// The shipped config file is one serve accepts.
		if out, err := exec.Command(bin, "serve", "--check", "--config", conf, "--home", t.TempDir()).CombinedOutput(); err != nil {
			t.Errorf("serve --check --config %s: %v\n%s", conf, err, out)
		}
		sa := optionalTool(t, "systemd-analyze", "systemd-analyze verify")
		if sa == "" {
			return
		}
		// verify wants ExecStart's binary to exist and Documentation's man
		// page to be found: point both at the installed tree.
		local := filepath.Join(t.TempDir(), "hopwire.service")
		if err := os.WriteFile(local, []byte(strings.ReplaceAll(u, "/usr/bin/hopwire", bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(sa, "verify", local)
		cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(usr, "share", "man"))
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
		// The exposure score of systemd's own audit (0 best, 10 worst).
		out, err := exec.Command(sa, "security", "--offline=yes", local).CombinedOutput()
		m := regexp.MustCompile(`Overall exposure level for hopwire\.service: ([0-9.]+)`).FindSubmatch(out)
		if err != nil || m == nil {
			t.Logf("systemd-analyze security --offline=yes gave no score (systemd before 250?): %v", err)
			return
		}
		if score, _ := strconv.ParseFloat(string(m[1]), 64); score > 2.0 {
			t.Errorf("systemd-analyze security: exposure %.1f, want at most 2.0\n%s", score, out)
		}
	})

	t.Run("notify", func(t *testing.T) { testInstalledNotify(t, bin, conf) })

	// A second install keeps the operator's config file.
	edited := []byte("# edited\nlisten tls://127.0.0.1:7443\n")
	if err := os.WriteFile(conf, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	makeAt(t, "install", "DESTDIR="+dest, "PREFIX=/usr", "VERSION="+version)
	if b, _ := os.ReadFile(conf); string(b) != string(edited) {
		t.Errorf("make install replaced an existing %s", conf)
	}
	makeAt(t, "uninstall", "DESTDIR="+dest, "PREFIX=/usr")
	for f := range files {
		_, err := os.Stat(f)
		switch {
		case f == conf && err != nil:
			t.Errorf("make uninstall removed the config file %s", f)
		case f != conf && err == nil:
			t.Errorf("make uninstall left %s", f)
		}
	}
}

// testInstalledNotify runs the installed binary as the unit does (its
// config file, a NOTIFY_SOCKET, then the unit's kill -HUP, then SIGTERM)
// and reads the notifications: READY=1 when the listener accepts,
// RELOADING=1 and READY=1 around the reload, STOPPING=1, and a clean
// exit.
func testInstalledNotify(t *testing.T, bin, conf string) {
	sock := filepath.Join(t.TempDir(), "notify")
	nl, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	next := func(want string) string {
		t.Helper()
		buf := make([]byte, 4096)
		nl.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := nl.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		msg := string(buf[:n])
		if !strings.Contains("\n"+msg+"\n", "\n"+want+"\n") {
			t.Fatalf("notification %q, want %s", msg, want)
		}
		return msg
	}
	home := t.TempDir()
	// The file's listener is 0.0.0.0:7443: the command line's wins.
	cmd := exec.Command(bin, "serve", "--config", conf, "--home", home, "--listen", "tls://127.0.0.1:0")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	msg := next("READY=1")
	_, status, _ := strings.Cut(msg, "STATUS=listening tls://")
	addr, _, _ := strings.Cut(status, "\n")
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("READY=1 (%q), but the listener refuses: %v", msg, err)
	}
	c.Close()
	if err := exec.Command("/bin/kill", "-HUP", strconv.Itoa(cmd.Process.Pid)).Run(); err != nil {
		t.Fatal(err)
	}
	next("RELOADING=1")
	next("READY=1")
	cmd.Process.Signal(syscall.SIGTERM)
	next("STOPPING=1")
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve still runs 30 s after SIGTERM")
	}
	// log-format json came from the config file.
	if !strings.Contains(stderr.String(), `"msg":"SIGHUP: reloaded grants`) {
		t.Errorf("no JSON record of the reload in the log:\n%s", stderr.String())
	}
}

// TestReadmeUnitExcerpt: the unit the README shows (its ```ini block) is
// an excerpt of packaging/systemd/hopwire.service, line for line.
func TestReadmeUnitExcerpt(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile("../packaging/systemd/hopwire.service")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Running a relay in production\n")
	if !ok {
		t.Fatal(`README has no "## Running a relay in production"`)
	}
	_, block, ok := strings.Cut(section, "\n```ini\n")
	if !ok {
		t.Fatal("README's production section has no ```ini block")
	}
	block, _, _ = strings.Cut(block, "\n```")
	lines := strings.Split(string(unit), "\n")
	for _, l := range strings.Split(block, "\n") {
		found := false
		for _, u := range lines {
			found = found || u == l
		}
		if !found {
			t.Errorf("the README's unit has %q, packaging/systemd/hopwire.service does not", l)
		}
	}
}

// TestMakeRelease: make release writes dist/hopwire-VERSION-linux-ARCH,
// static, stamped with VERSION, with its SHA256SUMS line. (The test
// builds this machine's architecture only; make release builds amd64 and
// arm64 with the same recipe.)
func TestMakeRelease(t *testing.T) {
	dist := t.TempDir()
	const version = "v9.9.9-releasetest"
	arch := runtime.GOARCH
	makeAt(t, "release", "DIST="+dist, "VERSION="+version, "RELEASE_ARCHES="+arch)
	name := "hopwire-" + version + "-linux-" + arch
	bin := filepath.Join(dist, name)
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "hopwire "+version+" ") {
		t.Fatalf("%s version: %v: %q", name, err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: not a static binary", name)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s links %v: not a static binary", name, libs)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s keeps its symbol table (want -s -w)", name)
	}
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if want := hex.EncodeToString(sum[:]) + "  " + name + "\n"; string(sums) != want {
		t.Errorf("SHA256SUMS = %q, want %q", sums, want)
	}
	// Both architectures, by the same recipe (dry run: no arm64 build).
	dry := makeAt(t, "-n", "release", "DIST="+dist, "VERSION="+version)
	for _, a := range []string{"amd64", "arm64"} {
		if !strings.Contains(dry, "GOARCH="+a+" ") || !strings.Contains(dry, "hopwire-"+version+"-linux-"+a) {
			t.Errorf("make -n release does not build linux/%s:\n%s", a, dry)
		}
	}
}

// TestContainerfile: the image builds its binary with make static (the
// recipe of make release) for linux, stamps the version, and ships it
// alone on an empty base, run as a non-root user. No container runtime
// runs here: this checks the definition, not an image.
func TestContainerfile(t *testing.T) {
	f, err := os.Open("../packaging/Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var froms, runs []string
	var user, entrypoint, cmd, volume string
	sc := bufio.NewScanner(f)
	var cont string
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasSuffix(l, `\`) {
			cont += strings.TrimSuffix(l, `\`) + " "
			continue
		}
		l, cont = cont+l, ""
		op, arg, _ := strings.Cut(l, " ")
		switch op {
		case "FROM":
			froms = append(froms, arg)
		case "RUN":
			runs = append(runs, arg)
		case "USER":
			user = arg
		case "ENTRYPOINT":
			entrypoint = arg
		case "CMD":
			cmd = arg
		case "VOLUME":
			volume = arg
		}
	}
	if len(froms) < 2 || froms[len(froms)-1] != "scratch" && !strings.Contains(froms[len(froms)-1], "distroless/static") {
		t.Errorf("stages %q: want a build stage, then scratch or distroless/static", froms)
	}
	if user == "" || user == "root" || strings.HasPrefix(user, "0") {
		t.Errorf("USER %q: want a non-root user", user)
	}
	if !strings.Contains(entrypoint, "hopwire") || !strings.Contains(cmd, `"serve"`) || !strings.Contains(volume, "/var/lib/hopwire") {
		t.Errorf("ENTRYPOINT %s CMD %s VOLUME %s: want hopwire, serve, the home as a volume", entrypoint, cmd, volume)
	}
	var build string
	for _, r := range runs {
		if strings.Contains(r, "make static") {
			build = r
		}
	}
	if build == "" || !strings.Contains(build, "GOOS=linux") || !strings.Contains(build, "VERSION=") || !strings.Contains(build, "OUT=/out/hopwire") {
		t.Fatalf("no RUN make static GOOS=linux … VERSION=… OUT=/out/hopwire in the Containerfile: %q", runs)
	}
	// make static is the very command of make release.
	static := strings.TrimSpace(makeAt(t, "-n", "static", "GOOS=linux", "GOARCH=arm64", "VERSION=v1.2.3", "OUT=/out/hopwire"))
	release := makeAt(t, "-n", "release", "VERSION=v1.2.3", "RELEASE_ARCHES=arm64", "DIST=/d")
	if !strings.Contains(static, "CGO_ENABLED=0") || !strings.Contains(static, "-trimpath") || !strings.Contains(static, "-X main.stampedVersion=v1.2.3") {
		t.Errorf("make static runs %q: want CGO_ENABLED=0, -trimpath and the version stamped", static)
	}
	if want := strings.Replace(static, "-o /out/hopwire", "-o /d/hopwire-v1.2.3-linux-arm64", 1); !strings.Contains(release, want) {
		t.Errorf("make release does not run make static's command\nstatic:  %s\nrelease:\n%s", static, release)
	}
}
