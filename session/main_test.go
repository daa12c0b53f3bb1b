package session

import (
	"flag"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// connPair returns two connected net.Conns of the named kind: "pipe"
// (net.Pipe) or "tcp" (loopback).
func connPair(t testing.TB, kind string) (net.Conn, net.Conn) {
	t.Helper()
	switch kind {
	case "pipe":
		a, b := net.Pipe()
		return a, b
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ch := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				ch <- nil
				return
			}
			ch <- c
		}()
		a, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		b := <-ch
		if b == nil {
			t.Fatal("accept failed")
		}
		return a, b
	}
	t.Fatalf("unknown conn kind %q", kind)
	return nil, nil
}

var connKinds = []string{"pipe", "tcp"}

// linkPair builds a client and a server Link over a fresh conn pair.
func linkPair(t testing.TB, kind string, ccfg, scfg *LinkConfig) (*Link, *Link) {
	t.Helper()
	a, b := connPair(t, kind)
	type res struct {
		l   *Link
		err error
	}
	ch := make(chan res, 1)
	go func() {
		l, err := NewLink(b, Server, scfg)
		ch <- res{l, err}
	}()
	cl, err := NewLink(a, Client, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() {
		cl.Close()
		r.l.Close()
	})
	return cl, r.l
}

// bubbleEnv names the one test a child process started by bubble runs.
const bubbleEnv = "HOPWIRE_SESSION_BUBBLE"

// bubble runs f in a testing/synctest bubble, in a child process that
// runs this test alone (the test binary again, with -test.run).
//
// The child is needed because smux keeps the channels of its write
// requests in a process-wide sync.Pool: a channel made inside a bubble
// goes back to that pool, and the next bubble, or any ordinary test, that
// takes it out and selects on it is a fatal error ("select on synctest
// channel from outside bubble"). In a process of its own, one bubble is
// the pool's only user.
func bubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	if os.Getenv(bubbleEnv) == t.Name() {
		synctest.Test(t, f)
		return
	}
	if os.Getenv(bubbleEnv) != "" {
		t.Skip("another test's bubble runs in this process")
	}
	var run []string
	for _, part := range strings.Split(t.Name(), "/") {
		run = append(run, "^"+regexp.QuoteMeta(part)+"$")
	}
	args := []string{"-test.run=" + strings.Join(run, "/"), "-test.count=1", "-test.v"}
	if tf := flag.Lookup("test.timeout"); tf != nil {
		args = append(args, "-test.timeout="+tf.Value.String())
	}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	// Under -race, a process waits a second before it exits
	// (atexit_sleep_ms): not this child, whose reports the parent reads.
	cmd.Env = append(os.Environ(), bubbleEnv+"="+t.Name(),
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a bubble: %v\n%s", t.Name(), err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s did not run in the child:\n%s", t.Name(), out)
	}
	if testing.Verbose() {
		t.Logf("in a bubble:\n%s", out)
	}
}
