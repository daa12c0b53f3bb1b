package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/creack/pty"
)

func TestProgressOnlyOnATerminal(t *testing.T) {
	var piped bytes.Buffer
	p := newProgress(&piped)
	p.start("f", 10, 0)
	io.Copy(io.Discard, p.reader(strings.NewReader("0123456789")))
	p.done()
	if piped.Len() != 0 {
		t.Fatalf("progress written to a pipe: %q", piped.String())
	}
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skip("no pty:", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	p = newProgress(tty)
	p.start("file.bin", 10, 0)
	io.Copy(io.Discard, p.reader(strings.NewReader("0123456789")))
	p.done()
	tty.Close()
	out, _ := io.ReadAll(ptmx)
	if !strings.Contains(string(out), "file.bin") || !strings.Contains(string(out), "100.0%") {
		t.Fatalf("no progress bar on the terminal: %q", out)
	}
}
