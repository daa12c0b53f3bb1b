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

// A -D proxy on an address other hosts can reach is an open door into
// everything TARGET can reach: such a proxy needs username and password
// authentication (RFC 1929) from --socks-auth FILE, or --insecure-socks to
// say that the network in front of it is trusted. A loopback proxy needs
// neither (only local users reach it, as with ssh -D).

// socksUsers is the parsed --socks-auth file: one USER:PASSWORD a line,
// '#' comments.
type socksUsers map[string][32]byte // user → SHA-256 of the password

// loadSocksAuth reads a --socks-auth file, which must not be readable by
// group or others (it holds passwords).
func loadSocksAuth(path string) (socksUsers, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --socks-auth: %v", errUsage, err)
	}
	defer f.Close()
	// Windows has ACLs, not mode bits (every writable file reads as 0666
	// there), so the check is for Unix, as certs' key check is.
	if fi, err := f.Stat(); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: --socks-auth %s is readable by others (mode %04o): it holds passwords; run: chmod 600 %s", errUsage, path, fi.Mode().Perm(), path)
	}
	users := socksUsers{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, pass, ok := strings.Cut(line, ":")
		if !ok || user == "" || pass == "" || len(user) > 255 || len(pass) > 255 {
			return nil, fmt.Errorf("%w: --socks-auth %s:%d: want USER:PASSWORD (each 1 to 255 bytes)", errUsage, path, n)
		}
		users[user] = sha256.Sum256([]byte(pass))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: --socks-auth %s: %v", errUsage, path, err)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%w: --socks-auth %s names no USER:PASSWORD", errUsage, path)
	}
	return users, nil
}

// check reports whether user and password match a line of the file, in
// time that does not depend on where they differ.
func (u socksUsers) check(user, password string) bool {
	want, ok := u[user]
	got := sha256.Sum256([]byte(password))
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1 && ok
}

// checkSocksBind refuses a -D bind off loopback without authentication,
// unless insecure says the operator means it.
func checkSocksBind(bind string, auth, insecure bool) error {
	host, _, err := net.SplitHostPort(bind)
	if err != nil {
		return fmt.Errorf("%w: -D %s: %v", errUsage, bind, err)
	}
	if auth || insecure || loopbackBind(host) {
		return nil
	}
	return fmt.Errorf("%w: -D %s listens where other hosts can reach it, and a SOCKS proxy there lets them reach everything the target can: give --socks-auth FILE (USER:PASSWORD lines, mode 0600), bind to 127.0.0.1, or say --insecure-socks", errUsage, bind)
}

// loopbackBind reports whether host (a bind address) is loopback only.
func loopbackBind(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
