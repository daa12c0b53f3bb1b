package stdio

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Scheme is the hop scheme this transport serves, and the Network of its
// addresses.
const Scheme = "stdio"

// Addr is the placeholder address of a stdio conn: pipes have no network
// address. Its String is the command of a child (for [ChildConn]'s
// RemoteAddr) or "stdio".
type Addr string

// Network returns "stdio".
func (a Addr) Network() string { return Scheme }

// String returns a as a string.
func (a Addr) String() string { return string(a) }

// Conn is a net.Conn over two files: it reads from one and writes to the
// other. It is safe for concurrent use, as a net.Conn must be.
//
// Deadlines work when the files are pollable, as pipes, sockets and
// terminals in non-blocking mode are (files from os.Pipe always are). On
// other files, such as regular files, the Set*Deadline methods return an
// error wrapping os.ErrNoDeadline, and Close does not interrupt a Read or
// Write already blocked.
//
// Errors follow the net package: a Read at the end of the input returns
// io.EOF; other errors are *net.OpError values, a timed-out Read or Write
// returns one with Timeout() true wrapping os.ErrDeadlineExceeded, and use
// after Close returns one wrapping net.ErrClosed.
type Conn struct {
	in, out       *os.File
	local, remote Addr

	inOnce, outOnce sync.Once
	outClosed       atomic.Bool // CloseWrite (or Close) has closed out
}

// Stdio returns a Conn that reads from in and writes to out, for instance a
// process's own stdin and stdout (see [TakeStdio]) or the two ends of two
// pipes. The Conn owns both files: its Close closes them. in and out may
// be the same file (a socket, say); it is then closed once.
func Stdio(in, out *os.File) *Conn {
	return newConn(in, out, Scheme, Scheme)
}

func newConn(in, out *os.File, local, remote Addr) *Conn {
	return &Conn{in: in, out: out, local: local, remote: remote}
}

// Read reads from the input file.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.in.Read(p)
	return n, c.wrap("read", err)
}

// Write writes to the output file.
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.out.Write(p)
	return n, c.wrap("write", err)
}

// CloseWrite closes the output file only, so the far end reads EOF, while
// Read goes on working. Close must still be called.
func (c *Conn) CloseWrite() error {
	return c.wrap("close", c.closeOut())
}

// Close closes both files. A Read or Write blocked on a pollable file
// returns an error wrapping net.ErrClosed. Close is idempotent: later calls
// return nil.
func (c *Conn) Close() error {
	err := c.closeOut()
	if c.in != c.out {
		c.inOnce.Do(func() { err = errors.Join(err, c.in.Close()) })
	}
	return c.wrap("close", err)
}

// closeOut closes out the first time it is called and returns the result;
// later calls return nil.
func (c *Conn) closeOut() (err error) {
	c.outOnce.Do(func() {
		c.outClosed.Store(true)
		err = c.out.Close()
	})
	return err
}

// LocalAddr returns the placeholder local address.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the placeholder remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the read and write deadlines. After CloseWrite the
// write deadline no longer matters and is not set.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline for Read calls, pending ones included.
func (c *Conn) SetReadDeadline(t time.Time) error {
	return c.wrap("set deadline", c.in.SetReadDeadline(t))
}

// SetWriteDeadline sets the deadline for Write calls, pending ones
// included. After CloseWrite it does nothing.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.outClosed.Load() && c.in != c.out {
		return nil
	}
	return c.wrap("set deadline", c.out.SetWriteDeadline(t))
}

// wrap turns an *os.File error into the error a net.Conn returns.
func (c *Conn) wrap(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.Is(err, os.ErrClosed) {
		err = net.ErrClosed
	}
	return &net.OpError{Op: op, Net: Scheme, Source: c.local, Addr: c.remote, Err: err}
}
