package main

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
)

// A -D (SOCKS5) or -H (HTTP) proxy on an address other hosts can reach is
// an open door into everything TARGET can reach: such a proxy needs a
// username and password (SOCKS5: RFC 1929; HTTP: Proxy-Authorization
// Basic) from --proxy-auth FILE, or --insecure-socks to say that the
// network in front of it is trusted. A loopback proxy needs neither (only
// local users reach it, as with ssh -D).

// proxyUsers is the parsed --proxy-auth file: one USER:PASSWORD a line,
// '#' comments.
type proxyUsers map[string][32]byte // user → SHA-256 of the password

// loadProxyAuth reads a --proxy-auth file, which must not be readable by
// group or others (it holds passwords).
func loadProxyAuth(path string) (proxyUsers, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --proxy-auth: %v", errUsage, err)
	}
	defer f.Close()
	// Windows has ACLs, not mode bits (every writable file reads as 0666
	// there), so the check is for Unix, as certs' key check is.
	if fi, err := f.Stat(); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: --proxy-auth %s is readable by others (mode %04o): it holds passwords; run: chmod 600 %s", errUsage, path, fi.Mode().Perm(), path)
	}
	users := proxyUsers{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, pass, ok := strings.Cut(line, ":")
		if !ok || user == "" || pass == "" || len(user) > 255 || len(pass) > 255 {
			return nil, fmt.Errorf("%w: --proxy-auth %s:%d: want USER:PASSWORD (each 1 to 255 bytes)", errUsage, path, n)
		}
		users[user] = sha256.Sum256([]byte(pass))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: --proxy-auth %s: %v", errUsage, path, err)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%w: --proxy-auth %s names no USER:PASSWORD", errUsage, path)
	}
	return users, nil
}

// check reports whether user and password match a line of the file, in
// time that does not depend on where they differ.
func (u proxyUsers) check(user, password string) bool {
	want, ok := u[user]
	got := sha256.Sum256([]byte(password))
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1 && ok
}

// checkProxyBind refuses a -D or -H bind off loopback without
// authentication, unless insecure says the operator means it.
func checkProxyBind(flag, bind string, auth, insecure bool) error {
	host, _, err := net.SplitHostPort(bind)
	if err != nil {
		return fmt.Errorf("%w: -%s %s: %v", errUsage, flag, bind, err)
	}
	if auth || insecure || loopbackBind(host) {
		return nil
	}
	return fmt.Errorf("%w: -%s %s listens where other hosts can reach it, and a proxy there lets them reach everything the target can: give --proxy-auth FILE (USER:PASSWORD lines, mode 0600), bind to 127.0.0.1, or say --insecure-socks", errUsage, flag, bind)
}

// loopbackBind reports whether host (a bind address) is loopback only.
func loopbackBind(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
