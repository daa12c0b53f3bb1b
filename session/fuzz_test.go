package session

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hopwire/hopwire/session/internal/evilpeer"
	"github.com/hopwire/hopwire/session/internal/wire"
)

// FuzzReadLen checks the RPC message length reader against
// binary.ReadUvarint: the same values, and an overflow reported as such.
func FuzzReadLen(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x10})
	f.Add(bytes.Repeat([]byte{0xff}, 11))
	f.Add(append(bytes.Repeat([]byte{0xff}, 9), 1))
	f.Add(append(bytes.Repeat([]byte{0xff}, 9), 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := readLen(bytes.NewReader(b))
		want, werr := binary.ReadUvarint(bytes.NewReader(b))
		switch {
		case werr == nil:
			if err != nil || got != want {
				t.Fatalf("readLen(%x) = %d, %v; want %d", b, got, err, want)
			}
		case werr == io.EOF || werr == io.ErrUnexpectedEOF:
			if err != werr {
				t.Fatalf("readLen(%x) error %v, want %v", b, err, werr)
			}
		default: // overflow
			if err != errLenOverflow {
				t.Fatalf("readLen(%x) error %v, want an overflow", b, err)
			}
		}
	})
}

// FuzzReadMsg checks that a message read in growing pieces is the bytes
// sent, and that a short stream is an error.
func FuzzReadMsg(f *testing.F) {
	f.Add([]byte("hello"), uint32(5))
	f.Add(make([]byte, 200<<10), uint32(200<<10))
	f.Add([]byte("short"), uint32(1<<20))
	f.Fuzz(func(t *testing.T, b []byte, n uint32) {
		n %= 1 << 22
		got, err := readMsg(bufio.NewReaderSize(bytes.NewReader(b), 512), int(n))
		if int(n) > len(b) {
			if err == nil {
				t.Fatalf("read %d bytes of a %d-byte stream", n, len(b))
			}
			return
		}
		if err != nil || !bytes.Equal(got, b[:n]) {
			t.Fatalf("readMsg: %v", err)
		}
	})
}

// fuzzServer runs a server Link and Conn over one end of a pipe, and
// hands the other end to an evil peer that has done the link hello. stop
// closes everything and waits for the server.
func fuzzServer(t *testing.T) (*evilpeer.Peer, func()) {
	a, b := net.Pipe()
	done := make(chan struct{})
	var conn *Conn
	go func() {
		defer close(done)
		l, err := NewLink(b, Server, &LinkConfig{HandshakeTimeout: time.Second, OpenTimeout: 100 * time.Millisecond, KeepAlive: -1})
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn, _ = NewConn(ctx, l, &Options{Services: map[string]any{evilpeer.ServiceName: &evilSvc{}}, StreamWait: 100 * time.Millisecond})
	}()
	p := evilpeer.New(a)
	if err := p.Handshake(time.Second); err != nil {
		t.Fatal(err)
	}
	return p, func() {
		p.Close()
		<-done
		if conn != nil {
			conn.Close()
		}
	}
}

// FuzzLinkFrames feeds arbitrary bytes as the multiplexed byte stream of
// a server link, after a correct hello: smux frames, records, open
// headers and whatever the streams carry reach the server's decoders. No
// panic, no hang.
func FuzzLinkFrames(f *testing.F) {
	frame := func(cmd byte, sid uint32, p []byte) []byte {
		return evilpeer.Frame{Ver: 2, Cmd: cmd, Len: -1, SID: sid, Payload: p}.Bytes()
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	ping := evilpeer.RecordBytes(wire.RecordOpen, -1, []byte{4})
	f.Add(cat(frame(0, 1, nil), frame(2, 1, ping), frame(2, 1, evilpeer.RecordBytes(wire.RecordData, -1, []byte("12345678")))))
	f.Add(cat(frame(0, 1, nil), frame(2, 1, evilpeer.RecordBytes(wire.RecordOpen, -1, []byte{1})),
		frame(2, 1, evilpeer.RecordBytes(wire.RecordData, -1, evilpeer.MsgBytes(evilpeer.HelloMsg())))))
	f.Add(cat(frame(0, 3, nil), frame(2, 3, evilpeer.RecordBytes(wire.RecordOpen, -1, []byte{2, 1, 2, 3, 4, 5, 6, 7, 8}))))
	f.Add(cat(frame(0, 5, nil), frame(2, 5, ping), frame(2, 5, evilpeer.RecordBytes(wire.RecordAbort, -1, []byte{0, 1, 'x'}))))
	f.Add(cat(frame(0, 7, nil), frame(4, 7, make([]byte, 8)), frame(1, 7, nil), frame(3, 0, nil)))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, stop := fuzzServer(t)
		defer stop()
		p.Conn().SetWriteDeadline(time.Now().Add(time.Second))
		_ = p.Write(b)
	})
}

// FuzzRPCMessages feeds arbitrary bytes as one message on the RPC stream,
// after both RPC hellos: message kinds, call headers, CBOR arguments and
// references reach the server's decoders. A ping follows: the server
// answers it, or ends the session for a violation. No panic, no hang.
func FuzzRPCMessages(f *testing.F) {
	msg := func(m *wire.Msg) []byte { return wire.AppendMsg(nil, m) }
	f.Add(msg(&wire.Msg{Kind: wire.MsgCall, ID: 1, Service: evilpeer.ServiceName, Method: "Add", Body: []byte{0x82, 1, 2}}))
	f.Add(msg(&wire.Msg{Kind: wire.MsgCall, ID: 2, Service: evilpeer.ServiceName, Method: "Echo", Body: []byte{0x81, 0xa1, 0x61, 'a', 0x80}}))
	f.Add(msg(&wire.Msg{Kind: wire.MsgCall, ID: 3, Service: evilpeer.ServiceName, Method: "Echo", Body: []byte{0x81, 0xd9, 0x48, 0x57, 0x82, 2, 7}}))
	f.Add(msg(&wire.Msg{Kind: wire.MsgCall, ID: 4, Obj: 99, Method: "Inc", Body: []byte{0x80}}))
	f.Add(msg(&wire.Msg{Kind: wire.MsgCall, ID: 5, Service: evilpeer.ServiceName, Method: "Block", Timeout: 1000, Body: []byte{0x80}}))
	f.Add(msg(&wire.Msg{Kind: wire.MsgCancel, ID: 6}))
	f.Add(msg(&wire.Msg{Kind: wire.MsgRelease, IDs: []uint64{1, 2}}))
	f.Add(msg(&wire.Msg{Kind: wire.MsgPing, ID: 7}))
	f.Add(msg(&wire.Msg{Kind: wire.MsgReply, ID: 8, Body: []byte{0x80}}))
	f.Add(msg(&wire.Msg{Kind: wire.MsgError, ID: 9, Code: "eof", Type: "x", Text: "y"}))
	ping := msg(&wire.Msg{Kind: wire.MsgPing, ID: 1 << 60})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || len(b) > 1<<16 {
			return
		}
		p, stop := fuzzServer(t)
		defer stop()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		r, err := p.OpenRPC(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Msgs([][]byte{b, ping}); err != nil {
			return
		}
		for {
			m, err := r.Recv(ctx)
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatal("the server neither answered nor ended the session")
			}
			if err != nil || m.Kind == wire.MsgPong && m.ID == 1<<60 {
				return
			}
		}
	})
}
