package session

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/hopwire/hopwire/session/internal/wire"
)

// evilPeer opens the RPC stream by hand against a real server Conn and
// returns a function that writes raw message bytes on it.
func evilPeer(t *testing.T) (*Conn, func(msg []byte)) {
	t.Helper()
	srv, write, _ := evilPeerRaw(t)
	return srv, write
}

func evilPeerRaw(t *testing.T) (*Conn, func(msg []byte), *Stream) {
	t.Helper()
	cl, sl := linkPair(t, "tcp", nil, nil)
	srvc := make(chan *Conn, 1)
	go func() {
		c, err := NewConn(context.Background(), sl, nil)
		if err != nil {
			t.Error(err)
		}
		srvc <- c
	}()
	s, err := cl.OpenStream(t.Context(), KindRPC, nil)
	if err != nil {
		t.Fatal(err)
	}
	write := func(msg []byte) {
		s.Write(binary.AppendUvarint(nil, uint64(len(msg))))
		s.Write(msg)
	}
	write(wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgHello, Version: rpcVersion, MaxMsg: 1 << 20, MaxCalls: 16, MaxRefs: 16}))
	srv := <-srvc
	if srv == nil {
		t.FailNow()
	}
	t.Cleanup(func() { srv.Close() })
	srv.Expose("calc", &calc{})
	return srv, write, s
}

func TestProtocolViolations(t *testing.T) {
	for name, msg := range map[string][]byte{
		"unknown-kind":   {99, 1, 2},
		"truncated-call": {byte(wire.MsgCall), 1},
		"second-hello":   wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgHello, Version: 1, MaxMsg: 4096, MaxCalls: 1}),
		"bad-utf8":       {byte(wire.MsgError), 1, 1, 0xff, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			srv, write := evilPeer(t)
			write(msg)
			select {
			case <-srv.Done():
				if !errors.Is(srv.Err(), ErrProtocol) {
					t.Fatalf("session ended with %v, want a protocol error", srv.Err())
				}
			case <-time.After(5 * time.Second):
				t.Fatal("violation did not close the session")
			}
		})
	}
	t.Run("oversized-length", func(t *testing.T) {
		srv, _, raw := evilPeerRaw(t)
		// 2^40 bytes declared: refused at once, nothing allocated for it.
		raw.Write(binary.AppendUvarint(nil, 1<<40))
		select {
		case <-srv.Done():
			if !errors.Is(srv.Err(), ErrProtocol) {
				t.Fatalf("session ended with %v", srv.Err())
			}
		case <-time.After(5 * time.Second):
			t.Fatal("oversized message did not close the session")
		}
	})
}

// Bad arguments and forged references are not violations: the caller gets
// an error and the session goes on.
func TestBadCallsKeepSession(t *testing.T) {
	srv, write := evilPeer(t)
	// A call with a body that is not a CBOR array.
	write(wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgCall, ID: 1, Service: "calc", Method: "Add", Body: []byte{0xff}}))
	// A call to a forged reference.
	write(wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgCall, ID: 2, Obj: 12345, Method: "Inc", Body: []byte{0x80}}))
	// A release of unknown ids.
	write(wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgRelease, IDs: []uint64{1, 2, 3}}))
	time.Sleep(100 * time.Millisecond)
	if err := srv.Err(); err != nil {
		t.Fatalf("session ended: %v", err)
	}
}
