package stdio_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hopwire/hopwire/transport/stdio"
)

// What helperTake writes.
const (
	strayLine  = "stray fmt.Println"
	strayWrite = "stray os.Stdout write"
	restored   = "restored"
)

func init() { helpers["take"] = helperTake }

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

// TestTakeStdio runs the test binary as a stdio server (helperTake) and
// checks that the stream carries only the echoed bytes, while stray output
// of the program goes to stderr.
func TestTakeStdio(t *testing.T) {
	t.Parallel()
	var stderr lines
	c := spawn(t, []string{os.Args[0]}, &stdio.SpawnOptions{
		Env:    helperEnvFor("take"),
		Stderr: stderr.add,
	})
	payload := make([]byte, 1<<20)
	for i := range payload {
		payload[i] = byte(rand.Uint32())
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.CloseWrite()
		}
		errc <- err
	}()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	waitExited(t, c)
	c.Close()
	if err := c.ExitErr(); err != nil {
		t.Fatalf("helper: %v; stderr: %q", err, stderr.get())
	}
	want := append(payload, restored+"\n"...)
	if !bytes.Equal(got, want) {
		t.Errorf("stream carried %d bytes, want the %d echoed bytes then %q", len(got), len(payload), restored)
	}
	if s := strings.Join(stderr.get(), "\n"); !strings.Contains(s, strayLine) || !strings.Contains(s, strayWrite) {
		t.Errorf("stray output did not reach stderr: %q", s)
	}
}
