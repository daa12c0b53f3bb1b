package ssh

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// chunkSize is how much a Conn moves per hand-off between the caller and
// its reader and writer goroutines: one SSH packet's worth (x/crypto's
// channelMaxPacket).
const chunkSize = 32 << 10

// Errors a Conn returns inside a *net.OpError.
var (
	errPeerClosed = errors.New("channel closed by the peer")
	errWriteShut  = errors.New("write after CloseWrite")
)

// Addr is the address of one end of an SSH channel whose far end is not a
// plain network address: an exec channel, or a channel on a connection
// that runs over another hop's stream.
type Addr struct {
	Net string // "ssh", or "tcp" for a direct-tcpip target given by name
	S   string // the address: "host:port", or a description
}

// Network returns a.Net.
func (a Addr) Network() string { return a.Net }

// String returns a.S.
func (a Addr) String() string { return a.S }

// Conn is a net.Conn over one SSH channel: a direct-tcpip channel from
// [Client.DialContext], a hopwire channel from [Client.OpenHopwire] or
// [Listener.Accept], or the stdin and stdout of a command (embedded in
// [ExecConn]).
//
// A Conn is safe for concurrent use. Reads are served by a goroutine that
// reads the channel; writes are handed, 32 KiB at a time, to a goroutine
// that writes it. That is what makes deadlines real:
//
//   - A read deadline ends a blocked Read with a timeout error (wrapping
//     os.ErrDeadlineExceeded, Timeout() true); the Conn stays usable and
//     data that arrives later is read once the deadline is moved.
//   - A write deadline ends a blocked Write the same way, but the chunk in
//     flight may still be sent later, so after such a timeout every Write
//     (and CloseWrite) returns that same error: the write side is broken,
//     as with crypto/tls. Reads still work. A Write that finds its
//     deadline already passed sends nothing and breaks nothing.
//
// CloseWrite sends EOF (the far end reads io.EOF) and leaves reading
// open. Close sends the channel close and returns at once: Read and Write
// blocked in other goroutines return errors wrapping net.ErrClosed. A
// Conn from [Listener.Accept] also closes its SSH connection, since it is
// that connection's only channel; conns from a [Client] leave the Client
// open. Errors from Read and Write are *net.OpError values, except the
// io.EOF of a far end that closed or sent EOF.
type Conn struct {
	ch            ssh.Channel
	local, remote net.Addr
	peerKey       ssh.PublicKey
	user          string
	boundUser     string

	// Reading: the pump goroutine hands chunks over data and waits for
	// ack before reading into its buffer again; rdone is closed, after
	// rerr is set, when it has stopped.
	rmu   sync.Mutex
	rest  []byte
	data  chan []byte
	ack   chan struct{}
	rdone chan struct{}
	rerr  error
	rdl   deadline

	// Writing: Write copies into wbuf and hands it to the writer
	// goroutine over wreq, which answers on wres.
	wmu  sync.Mutex
	wbuf []byte
	wreq chan writeReq
	wres chan error
	werr error // sticky, once a write timed out or failed
	weof bool  // CloseWrite was called
	wdl  deadline

	done      chan struct{}   // closed by Close
	kill      <-chan struct{} // closed when the owner (a Client) closes; nil for none
	closeOnce sync.Once
	closeErr  error
	onClose   func() error // closes what the conn owns besides the channel
}

// writeReq is one hand-off to the writer goroutine: a chunk, or EOF.
type writeReq struct {
	b   []byte
	eof bool
}

// newConn wraps ch and starts its goroutines with spawn, so that their
// owner (a Client, or a server connection) can wait for them; they stop
// when the conn is closed or kill is. reqs, if not nil, are the channel's
// requests, which are declined.
func newConn(ch ssh.Channel, reqs <-chan *ssh.Request, spawn func(func()), kill <-chan struct{}, local, remote net.Addr) *Conn {
	c := &Conn{
		ch:     ch,
		local:  local,
		remote: remote,
		data:   make(chan []byte),
		ack:    make(chan struct{}, 1),
		rdone:  make(chan struct{}),
		rdl:    makeDeadline(),
		wbuf:   make([]byte, chunkSize),
		wreq:   make(chan writeReq),
		wres:   make(chan error, 1),
		wdl:    makeDeadline(),
		done:   make(chan struct{}),
		kill:   kill,
	}
	spawn(c.pump)
	spawn(c.writer)
	if reqs != nil {
		spawn(func() { ssh.DiscardRequests(reqs) })
	}
	return c
}

// pump reads the channel and hands what it reads to Read. It stops at the
// channel's end (EOF, or the SSH connection closing) or when the conn is
// closed while it waits for a reader.
func (c *Conn) pump() {
	defer close(c.rdone)
	buf := make([]byte, chunkSize)
	for {
		n, err := c.ch.Read(buf)
		if n > 0 {
			select {
			case c.data <- buf[:n]:
			case <-c.done:
				c.rerr = net.ErrClosed
				return
			case <-c.kill:
				c.rerr = net.ErrClosed
				return
			}
			select {
			case <-c.ack:
			case <-c.done:
				c.rerr = net.ErrClosed
				return
			case <-c.kill:
				c.rerr = net.ErrClosed
				return
			}
		}
		if err != nil {
			c.rerr = err
			return
		}
	}
}

// writer writes what Write and CloseWrite hand it, one request at a time.
func (c *Conn) writer() {
	for {
		select {
		case r := <-c.wreq:
			var err error
			if r.eof {
				err = c.ch.CloseWrite()
			} else {
				_, err = c.ch.Write(r.b)
			}
			c.wres <- err
		case <-c.done:
			return
		case <-c.kill:
			return
		}
	}
}

// closed reports whether Close has been called.
func (c *Conn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: Scheme, Source: c.local, Addr: c.remote, Err: err}
}

// Read reads data the far end sent on the channel.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.closed() {
		return 0, c.opErr("read", net.ErrClosed)
	}
	dl := c.rdl.wait()
	select {
	case <-dl:
		return 0, c.opErr("read", os.ErrDeadlineExceeded)
	default:
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(c.rest) == 0 {
		select {
		case b := <-c.data:
			c.rest = b
		case <-c.rdone:
			if c.closed() {
				return 0, c.opErr("read", net.ErrClosed)
			}
			if c.rerr == io.EOF {
				return 0, io.EOF
			}
			return 0, c.opErr("read", c.rerr)
		case <-dl:
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		case <-c.done:
			return 0, c.opErr("read", net.ErrClosed)
		case <-c.kill:
			return 0, c.opErr("read", net.ErrClosed)
		}
	}
	n := copy(p, c.rest)
	c.rest = c.rest[n:]
	if len(c.rest) == 0 {
		c.rest = nil
		c.ack <- struct{}{}
	}
	return n, nil
}

// Write sends p on the channel. It returns once the SSH layer has taken
// all of p (flow control may make it wait for the far end to read).
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writable("write"); err != nil {
		return 0, err
	}
	n := 0
	for len(p) > 0 {
		k := copy(c.wbuf, p)
		if err := c.handOff("write", writeReq{b: c.wbuf[:k]}); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

// CloseWrite sends EOF on the channel: the far end reads io.EOF after
// the data already written, while this end can still read. It waits for
// a Write in progress to finish. Calling it again does nothing; Close
// must still be called.
func (c *Conn) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.weof && c.werr == nil && !c.closed() {
		return nil
	}
	if err := c.writable("close"); err != nil {
		return err
	}
	c.weof = true
	return c.handOff("close", writeReq{eof: true})
}

// writable returns the error a write operation gets before it starts.
// The caller holds wmu.
func (c *Conn) writable(op string) error {
	switch {
	case c.closed():
		return c.opErr(op, net.ErrClosed)
	case c.werr != nil:
		return c.werr
	case c.weof:
		return c.opErr(op, errWriteShut)
	}
	return nil
}

// handOff gives r to the writer goroutine and waits for it to be done,
// until the write deadline or Close. The caller holds wmu.
func (c *Conn) handOff(op string, r writeReq) error {
	dl := c.wdl.wait()
	select {
	case <-dl:
		return c.opErr(op, os.ErrDeadlineExceeded)
	default:
	}
	select {
	case c.wreq <- r:
	case <-dl:
		return c.opErr(op, os.ErrDeadlineExceeded)
	case <-c.done:
		return c.opErr(op, net.ErrClosed)
	case <-c.kill:
		return c.opErr(op, net.ErrClosed)
	}
	select {
	case err := <-c.wres:
		if err == nil {
			return nil
		}
		if c.closed() {
			return c.opErr(op, net.ErrClosed)
		}
		if err == io.EOF {
			err = errPeerClosed
		}
		c.werr = c.opErr(op, err)
	case <-dl:
		c.werr = c.opErr(op, os.ErrDeadlineExceeded)
	case <-c.done:
		return c.opErr(op, net.ErrClosed)
	case <-c.kill:
		c.werr = c.opErr(op, net.ErrClosed)
	}
	return c.werr
}

// Close closes the channel (and, for a Conn from a Listener, its SSH
// connection). Blocked Reads and Writes return at once. The first call
// returns the result; later calls return an error wrapping net.ErrClosed.
func (c *Conn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		close(c.done)
		err := c.ch.Close()
		if errors.Is(err, io.EOF) {
			err = nil // the far end closed it already
		}
		if c.onClose != nil {
			err = errors.Join(err, c.onClose())
		}
		if err != nil {
			c.closeErr = c.opErr("close", err)
		}
	})
	if !first {
		return c.opErr("close", net.ErrClosed)
	}
	return c.closeErr
}

// LocalAddr returns the local address of the SSH connection.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the far end: the target of a direct-tcpip channel,
// or the SSH peer's address for other channels.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if c.closed() {
		return c.opErr("set deadline", net.ErrClosed)
	}
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline sets the deadline for Read calls, blocked ones
// included. A zero t means none.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.closed() {
		return c.opErr("set deadline", net.ErrClosed)
	}
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the deadline for Write and CloseWrite calls,
// blocked ones included. A zero t means none. See [Conn] for what a
// write timeout leaves behind.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.closed() {
		return c.opErr("set deadline", net.ErrClosed)
	}
	c.wdl.set(t)
	return nil
}

// PeerKey returns the key that authenticated the far end of the SSH
// connection: the client's key for a Conn from a [Listener] (taken from
// the Permissions of the authentication that succeeded), the server's
// host key for a Conn from a [Client].
func (c *Conn) PeerKey() ssh.PublicKey { return c.peerKey }

// PeerFingerprint returns PeerKey's SHA-256 fingerprint, "SHA256:…" as
// ssh-keygen -l prints it, or "" if there is no key.
func (c *Conn) PeerFingerprint() string {
	if c.peerKey == nil {
		return ""
	}
	return ssh.FingerprintSHA256(c.peerKey)
}

// User returns the SSH user name of the connection: the name the client
// asked for, for a Conn from a [Listener] (it carries no authority: the
// key does; see BoundUser), or the name this client logged in as.
func (c *Conn) User() string { return c.user }

// BoundUser returns the login name the client's key is authorized for, for
// a Conn from a [Listener] whose authorized keys path has %u: that user's
// own file listed the key. It is empty otherwise: a single authorized keys
// file authorizes keys, and the name a client asks for is its own choice.
func (c *Conn) BoundUser() string { return c.boundUser }

// deadline is a settable deadline that blocked operations can wait on:
// wait returns a channel that is closed once the deadline passes. Moving
// the deadline before it passes keeps the same channel, so a blocked
// operation sees the new time.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	expire chan struct{}
}

func makeDeadline() deadline { return deadline{expire: make(chan struct{})} }

// set moves the deadline to t; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.expire // the timer fired: wait until it has closed expire
	}
	d.timer = nil
	dur := time.Until(t)
	expired := isClosed(d.expire)
	if expired && (t.IsZero() || dur > 0) {
		d.expire = make(chan struct{})
		expired = false
	}
	switch {
	case t.IsZero():
	case dur > 0:
		ch := d.expire
		d.timer = time.AfterFunc(dur, func() { close(ch) })
	case !expired:
		close(d.expire)
	}
}

// wait returns the channel closed when the current deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expire
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
