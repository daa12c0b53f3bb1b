// Package evilpeer speaks hopwire's wire protocol by hand, correctly or
// not: the link hello, smux v2 frames, the record layer of streams and RPC
// messages (session/PROTOCOL.md). It is the "evil peer" of the reliability
// tests, after the BoGo shim of Go's crypto/tls tests: every protocol
// violation the tests know is a [Violation] in [Violations], with what the
// receiving node must do about it.
//
// A Peer works over any net.Conn the caller hands it: one end of a pipe to
// an in-process session.Link, or a TLS conn to a real relay listener. It
// never dials. Peer plays the client role of a link (it speaks first and
// opens odd stream ids).
//
// The package is for tests only. It imports nothing of hopwire but the
// wire codecs, so what it sends is built byte by byte, not by the code
// under test.
package evilpeer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hopwire/hopwire/session/internal/wire"
)

// smux v2 commands (xtaci/smux frame.go).
const (
	CmdSYN byte = 0
	CmdFIN byte = 1
	CmdPSH byte = 2
	CmdNOP byte = 3
	CmdUPD byte = 4
)

// SmuxVersion is the multiplexer version hopwire runs.
const SmuxVersion = 2

// FrameHeaderLen is the size of an smux frame header.
const FrameHeaderLen = 8

// ErrClosed is returned once the peer's conn has failed or been closed.
var ErrClosed = errors.New("evilpeer: connection closed")

// Peer drives one connection by hand. Its methods are safe for concurrent
// use. Close closes the conn and stops the reader goroutine that Start
// began.
type Peer struct {
	c   net.Conn
	wmu sync.Mutex

	mu      sync.Mutex
	streams map[uint32]*Stream
	nextSID uint32

	started bool
	done    chan struct{} // closed when the reader stops
	readErr error
	wg      sync.WaitGroup
}

// New returns a Peer over c. Nothing is sent until a method says so. The
// Peer owns c.
func New(c net.Conn) *Peer {
	return &Peer{c: c, streams: make(map[uint32]*Stream), nextSID: 1, done: make(chan struct{})}
}

// Conn returns the conn under the peer.
func (p *Peer) Conn() net.Conn { return p.c }

// Close closes the conn and waits for the reader.
func (p *Peer) Close() error {
	err := p.c.Close()
	p.wg.Wait()
	return err
}

// Write writes raw bytes on the conn.
func (p *Peer) Write(b []byte) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := p.c.Write(b)
	return err
}

// ---- link hello ----

// Hello is a link hello with knobs: every field is sent as given, and
// the zero values of Magic and BodyLen mean the correct ones.
type Hello struct {
	Magic   []byte // nil: "HOPW"
	Version uint8
	Mux     uint8
	Status  uint8
	Name    string
	Caps    []string
	Text    string
	NCaps   int    // the caps count sent; 0: len(Caps)
	BodyLen int    // the body length declared; 0: the real one
	Body    []byte // if set, sent as the body instead of the fields
}

// GoodHello is the hello a correct client sends.
func GoodHello() Hello {
	return Hello{Version: wire.ProtocolVersion, Mux: wire.MuxSmuxV2, Name: "evil"}
}

// Bytes encodes h, correct or not.
func (h Hello) Bytes() []byte {
	body := h.Body
	if body == nil {
		body = []byte{h.Version, h.Mux, h.Status}
		body = append(body, byte(len(h.Name)))
		body = append(body, h.Name...)
		n := h.NCaps
		if n == 0 {
			n = len(h.Caps)
		}
		body = append(body, byte(n))
		for _, c := range h.Caps {
			body = append(body, byte(len(c)))
			body = append(body, c...)
		}
		body = append(body, byte(len(h.Text)))
		body = append(body, h.Text...)
	}
	magic := h.Magic
	if magic == nil {
		magic = wire.Magic[:]
	}
	n := h.BodyLen
	if n == 0 {
		n = len(body)
	}
	b := append([]byte(nil), magic...)
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	return append(b, body...)
}

// SendHello sends h.
func (p *Peer) SendHello(h Hello) error { return p.Write(h.Bytes()) }

// ReadHello reads the server's hello (or refusal). It must be called
// before Start.
func (p *Peer) ReadHello(timeout time.Duration) (*wire.Hello, error) {
	_ = p.c.SetReadDeadline(time.Now().Add(timeout))
	defer p.c.SetReadDeadline(time.Time{})
	var hdr [wire.HelloHeaderLen]byte
	if _, err := io.ReadFull(p.c, hdr[:]); err != nil {
		return nil, err
	}
	n, err := wire.ParseHelloHeader(hdr[:])
	if err != nil {
		return nil, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(p.c, body); err != nil {
		return nil, err
	}
	return wire.ParseHelloBody(body)
}

// Handshake runs a correct hello exchange and starts the frame reader.
func (p *Peer) Handshake(timeout time.Duration) error {
	if err := p.SendHello(GoodHello()); err != nil {
		return err
	}
	h, err := p.ReadHello(timeout)
	if err != nil {
		return err
	}
	if h.Status != wire.StatusOK {
		return fmt.Errorf("evilpeer: hello refused: %s", h.Text)
	}
	p.Start()
	return nil
}

// ---- smux frames ----

// Frame is one smux frame with knobs. Len < 0 means the payload's length.
type Frame struct {
	Ver     byte
	Cmd     byte
	Len     int
	SID     uint32
	Payload []byte
}

// Bytes encodes f.
func (f Frame) Bytes() []byte {
	n := f.Len
	if n < 0 {
		n = len(f.Payload)
	}
	b := make([]byte, FrameHeaderLen, FrameHeaderLen+len(f.Payload))
	b[0], b[1] = f.Ver, f.Cmd
	binary.LittleEndian.PutUint16(b[2:], uint16(n))
	binary.LittleEndian.PutUint32(b[4:], f.SID)
	return append(b, f.Payload...)
}

// SendFrame sends one frame.
func (p *Peer) SendFrame(f Frame) error { return p.Write(f.Bytes()) }

// frame builds a correct v2 frame.
func frame(cmd byte, sid uint32, payload []byte) []byte {
	return Frame{Ver: SmuxVersion, Cmd: cmd, Len: -1, SID: sid, Payload: payload}.Bytes()
}

// Start starts the goroutine that reads the server's frames (after the
// hello). It is idempotent.
func (p *Peer) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return
	}
	p.started = true
	p.wg.Add(1)
	go p.readLoop()
}

// Done is closed when the conn has failed or been closed (after Start).
func (p *Peer) Done() <-chan struct{} { return p.done }

// Err returns why the reader stopped, or nil while it runs.
func (p *Peer) Err() error {
	select {
	case <-p.done:
		return p.readErr
	default:
		return nil
	}
}

// WaitClosed waits until the server closes the conn, or timeout. It
// reports whether the conn closed.
func (p *Peer) WaitClosed(timeout time.Duration) bool {
	p.Start()
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (p *Peer) readLoop() {
	defer p.wg.Done()
	var err error
	defer func() {
		p.mu.Lock()
		p.readErr = err
		streams := p.streams
		p.mu.Unlock()
		for _, s := range streams {
			s.finish()
		}
		close(p.done)
	}()
	var hdr [FrameHeaderLen]byte
	buf := make([]byte, 65535)
	for {
		if _, err = io.ReadFull(p.c, hdr[:]); err != nil {
			return
		}
		n := int(binary.LittleEndian.Uint16(hdr[2:]))
		sid := binary.LittleEndian.Uint32(hdr[4:])
		if _, err = io.ReadFull(p.c, buf[:n]); err != nil {
			return
		}
		p.mu.Lock()
		s := p.streams[sid]
		p.mu.Unlock()
		switch hdr[1] {
		case CmdPSH:
			if s != nil {
				s.push(buf[:n])
				// Grant the window back at once: the evil peer never
				// makes the server wait on it.
				upd := make([]byte, 8)
				binary.LittleEndian.PutUint32(upd[0:], uint32(s.consumed(n)))
				binary.LittleEndian.PutUint32(upd[4:], 1<<20)
				_ = p.Write(frame(CmdUPD, sid, upd))
			}
		case CmdFIN:
			if s != nil {
				s.finish()
			}
		}
	}
}

// ---- streams and records ----

// Stream is a stream the peer opened. Reads see the records the server
// sent on it.
type Stream struct {
	p   *Peer
	ID  uint32
	mu  sync.Mutex
	in  bytes.Buffer
	fin bool
	got uint64
	sig chan struct{}
}

// OpenStream sends a SYN for a fresh odd stream id, and no open record.
func (p *Peer) OpenStream() (*Stream, error) {
	p.mu.Lock()
	sid := p.nextSID
	p.nextSID += 2
	s := &Stream{p: p, ID: sid, sig: make(chan struct{}, 1)}
	p.streams[sid] = s
	p.mu.Unlock()
	return s, p.Write(frame(CmdSYN, sid, nil))
}

// OpenStreams sends SYNs for n fresh streams in one write.
func (p *Peer) OpenStreams(n int) ([]*Stream, error) {
	ss := make([]*Stream, 0, n)
	b := make([]byte, 0, n*FrameHeaderLen)
	p.mu.Lock()
	for range n {
		s := &Stream{p: p, ID: p.nextSID, sig: make(chan struct{}, 1)}
		p.nextSID += 2
		p.streams[s.ID] = s
		ss = append(ss, s)
		b = append(b, frame(CmdSYN, s.ID, nil)...)
	}
	p.mu.Unlock()
	return ss, p.Write(b)
}

// Open opens a stream and sends its open record (kind and header).
func (p *Peer) Open(kind uint8, hdr []byte) (*Stream, error) {
	s, err := p.OpenStream()
	if err != nil {
		return nil, err
	}
	return s, s.Record(wire.RecordOpen, append([]byte{kind}, hdr...))
}

// NumStreams returns how many streams the peer opened.
func (p *Peer) NumStreams() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.streams)
}

func (s *Stream) push(b []byte) {
	s.mu.Lock()
	s.in.Write(b)
	s.mu.Unlock()
	s.wake()
}

func (s *Stream) consumed(n int) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got += uint64(n)
	return s.got
}

func (s *Stream) finish() {
	s.mu.Lock()
	s.fin = true
	s.mu.Unlock()
	s.wake()
}

func (s *Stream) wake() {
	select {
	case s.sig <- struct{}{}:
	default:
	}
}

// Send writes raw bytes on the stream as PSH frames (no record framing).
func (s *Stream) Send(b []byte) error {
	for len(b) > 0 {
		n := min(len(b), 32<<10)
		if err := s.p.Write(frame(CmdPSH, s.ID, b[:n])); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// RecordBytes encodes a record with a declared payload length that may
// differ from the payload's (declared < 0: the real length).
func RecordBytes(typ wire.RecordType, declared int, payload []byte) []byte {
	if declared < 0 {
		declared = len(payload)
	}
	b := []byte{byte(typ), byte(declared >> 16), byte(declared >> 8), byte(declared)}
	return append(b, payload...)
}

// Record sends one correct record.
func (s *Stream) Record(typ wire.RecordType, payload []byte) error {
	return s.Send(RecordBytes(typ, -1, payload))
}

// Fin sends smux's FIN for the stream.
func (s *Stream) Fin() error { return s.p.Write(frame(CmdFIN, s.ID, nil)) }

// read fills b from what the server sent, waiting until ctx ends. It
// returns io.EOF after the server's FIN.
func (s *Stream) read(ctx context.Context, b []byte) error {
	for len(b) > 0 {
		s.mu.Lock()
		n, _ := s.in.Read(b)
		fin := s.fin
		s.mu.Unlock()
		b = b[n:]
		if len(b) == 0 {
			return nil
		}
		if n > 0 {
			continue
		}
		if fin {
			return io.EOF
		}
		select {
		case <-s.sig:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// ReadRecord reads the next record the server sent. A data record's
// payload is read whole.
func (s *Stream) ReadRecord(ctx context.Context) (wire.RecordType, []byte, error) {
	var hdr [wire.RecordHeaderLen]byte
	if err := s.read(ctx, hdr[:]); err != nil {
		return 0, nil, err
	}
	typ, n, err := wire.ParseRecordHeader(hdr[:])
	if err != nil {
		return 0, nil, err
	}
	payload := make([]byte, n)
	if err := s.read(ctx, payload); err != nil {
		return 0, nil, err
	}
	return typ, payload, nil
}

// WaitAbort reads records until an abort arrives and returns its code.
// It fails if the stream ends otherwise.
func (s *Stream) WaitAbort(ctx context.Context) (wire.AbortCode, string, error) {
	for {
		typ, p, err := s.ReadRecord(ctx)
		if err != nil {
			return 0, "", fmt.Errorf("evilpeer: stream %d: no abort: %w", s.ID, err)
		}
		if typ == wire.RecordAbort {
			return wire.ParseAbort(p)
		}
	}
}

// ---- RPC ----

// RPC is the peer's RPC stream: messages are length-prefixed inside data
// records.
type RPC struct {
	*Stream
	in bytes.Buffer // data record payloads not yet parsed
}

// HelloMsg is the RPC hello a correct client sends.
func HelloMsg() []byte {
	return wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgHello, Version: 1, MaxMsg: 1 << 20, MaxCalls: 64, MaxRefs: 1024})
}

// OpenRPC opens the RPC stream, sends the RPC hello and reads the
// server's.
func (p *Peer) OpenRPC(ctx context.Context) (*RPC, error) {
	s, err := p.Open(1, nil)
	if err != nil {
		return nil, err
	}
	r := &RPC{Stream: s}
	if err := r.Msg(HelloMsg()); err != nil {
		return nil, err
	}
	m, err := r.Recv(ctx)
	if err != nil {
		return nil, err
	}
	if m.Kind != wire.MsgHello {
		return nil, fmt.Errorf("evilpeer: first rpc message is %v", m.Kind)
	}
	return r, nil
}

// MsgBytes frames msg with its uvarint length.
func MsgBytes(msg []byte) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(msg))), msg...)
}

// Msg sends one message in one data record.
func (r *RPC) Msg(msg []byte) error { return r.Record(wire.RecordData, MsgBytes(msg)) }

// Msgs sends many messages, packed into as few records as fit.
func (r *RPC) Msgs(msgs [][]byte) error {
	var b []byte
	for _, m := range msgs {
		if len(b)+len(m)+10 > 60000 {
			if err := r.Record(wire.RecordData, b); err != nil {
				return err
			}
			b = b[:0]
		}
		b = append(b, MsgBytes(m)...)
	}
	if len(b) == 0 {
		return nil
	}
	return r.Record(wire.RecordData, b)
}

// Raw sends b in one data record, whatever it holds.
func (r *RPC) Raw(b []byte) error { return r.Record(wire.RecordData, b) }

// Recv reads the next message the server sent. It fails with a
// *StreamAborted when the server aborts the stream.
func (r *RPC) Recv(ctx context.Context) (*wire.Msg, error) {
	for {
		if n, k := binary.Uvarint(r.in.Bytes()); k > 0 && r.in.Len()-k >= int(n) {
			r.in.Next(k)
			b := append([]byte(nil), r.in.Next(int(n))...)
			var m wire.Msg
			if err := wire.ParseMsg(b, &m); err != nil {
				return nil, err
			}
			return &m, nil
		}
		typ, p, err := r.ReadRecord(ctx)
		if err != nil {
			return nil, err
		}
		switch typ {
		case wire.RecordData:
			r.in.Write(p)
		case wire.RecordAbort:
			code, reason, _ := wire.ParseAbort(p)
			return nil, &StreamAborted{Code: code, Reason: reason}
		case wire.RecordEnd:
			return nil, io.EOF
		}
	}
}

// StreamAborted is the error of a read on a stream the server aborted.
type StreamAborted struct {
	Code   wire.AbortCode
	Reason string
}

func (e *StreamAborted) Error() string {
	return fmt.Sprintf("evilpeer: stream aborted: %v: %s", e.Code, e.Reason)
}

// Ping sends an RPC ping with id and waits for its pong, skipping other
// messages. It shows the session is still up.
func (r *RPC) Ping(ctx context.Context, id uint64) error {
	if err := r.Msg(wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgPing, ID: id})); err != nil {
		return err
	}
	for {
		m, err := r.Recv(ctx)
		if err != nil {
			return err
		}
		if m.Kind == wire.MsgPong && m.ID == id {
			return nil
		}
	}
}

// Call builds a call message.
func Call(id, obj uint64, service, method string, body []byte) []byte {
	return wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgCall, ID: id, Obj: obj, Service: service, Method: method, Body: body})
}

// WaitReply reads messages until the reply or error for id arrives.
func (r *RPC) WaitReply(ctx context.Context, id uint64) (*wire.Msg, error) {
	for {
		m, err := r.Recv(ctx)
		if err != nil {
			return nil, err
		}
		if (m.Kind == wire.MsgReply || m.Kind == wire.MsgError) && m.ID == id {
			return m, nil
		}
	}
}
