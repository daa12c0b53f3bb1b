package stdio_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"testing"

	"go.uber.org/goleak"

	"github.com/hopwire/hopwire/transport/stdio"
	"github.com/hopwire/hopwire/transport/transporttest"
)

// helperEnv selects a helper mode when the test binary runs as a child of
// its own tests (as os/exec's tests do).
const (
	helperEnv  = "HOPWIRE_STDIO_TEST_HELPER"
	relayAddr  = "HOPWIRE_STDIO_TEST_ADDR"
	strayLine  = "stray fmt.Println"
	strayWrite = "stray os.Stdout write"
	restored   = "restored"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		goleak.VerifyTestMain(m)
	case "take":
		os.Exit(helperTake())
	case "relay":
		os.Exit(helperRelay())
	default:
		os.Exit(100)
	}
}

// helperEnvFor returns this process's environment plus helper mode mode.
func helperEnvFor(mode string, extra ...string) []string {
	return append(append(os.Environ(), helperEnv+"="+mode), extra...)
}

// helperTake runs a stdio server: it takes stdio, writes stray output,
// echoes the conn until EOF, restores stdio and writes a last line to the
// real stdout. Its exit code says what went wrong.
func helperTake() int {
	conn, restore, err := stdio.TakeStdio()
	if err != nil {
		fmt.Fprintln(os.Stderr, "TakeStdio:", err)
		return 2
	}
	fmt.Println(strayLine)
	os.Stdout.WriteString(strayWrite + "\n")
	if n, err := os.Stdin.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		fmt.Fprintln(os.Stderr, "os.Stdin is not /dev/null:", n, err)
		return 3
	}
	// The pipes are pollable, so deadlines work.
	conn.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		fmt.Fprintln(os.Stderr, "read with a past deadline:", err)
		return 4
	}
	conn.SetReadDeadline(time.Time{})
	if _, err := io.Copy(conn, conn); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		return 5
	}
	conn.Close()
	restore()
	fmt.Println(restored)
	return 0
}

// helperRelay connects to the TCP address in relayAddr and relays between
// it and stdin/stdout, passing on half-closes: a ChildConn to it behaves
// as a conn to the far end of that TCP connection.
func helperRelay() int {
	sock, err := net.Dial("tcp", os.Getenv(relayAddr))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	done := make(chan struct{})
	go func() {
		io.Copy(os.Stdout, sock)
		os.Stdout.Close()
		close(done)
	}()
	io.Copy(sock, os.Stdin)
	sock.(*net.TCPConn).CloseWrite()
	<-done
	return 0
}

// TestDeps keeps stdio a leaf.
func TestDeps(t *testing.T) {
	transporttest.StdlibOnly(t)
}
