package evilpeer

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/hopwire/hopwire/session/internal/wire"
)

// Stage is how far a correct peer gets before a violation.
type Stage int

// Stages.
const (
	StageConnect Stage = iota // nothing sent yet: the violation is in the hello
	StageLink                 // the hello is done; smux runs; no RPC stream yet
	StageRPC                  // the RPC stream is open and the RPC hellos exchanged
)

func (s Stage) String() string {
	return [...]string{"connect", "link", "rpc"}[s]
}

// The service a server under test must expose to the evil peer, with
// these methods (see the package tests for one):
//
//	Echo(v any) any
//	Add(a, b int) int
//	Block(ctx context.Context) error // returns when ctx ends
const (
	ServiceName = "evil"
)

// Violation is one way of breaking the protocol, and what the receiving
// node must do about it.
type Violation struct {
	Name  string
	Stage Stage
	// Fatal: the node must close the link (the conn). Otherwise the link
	// must stay up: a link ping still gets its echo.
	Fatal bool
	// Declared is the size, in bytes or items, the violation declares
	// without sending it (0 if none): the node must not allocate in
	// proportion to it.
	Declared uint64
	// Stalls: the RPC stream is left in the middle of a message, so the
	// RPC session cannot answer a ping (the link still can).
	Stalls bool
	// Run commits the violation on a peer at Stage (rpc is nil before
	// StageRPC). For a violation the node answers on the spot (a refusal,
	// an abort, an error reply), Run also checks that answer.
	Run func(ctx context.Context, p *Peer, rpc *RPC) error
}

// Setup brings a fresh peer to the violation's stage.
func (v *Violation) Setup(ctx context.Context, p *Peer) (*RPC, error) {
	if v.Stage == StageConnect {
		return nil, nil
	}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(10 * time.Second)
	}
	if err := p.Handshake(time.Until(dl)); err != nil {
		return nil, err
	}
	if v.Stage == StageLink {
		return nil, nil
	}
	return p.OpenRPC(ctx)
}

// CheckAlive checks, after a violation that is not fatal, that the link
// answers a ping and, when the RPC stream was open and is not stalled, that
// the RPC session answers one too.
func (v *Violation) CheckAlive(ctx context.Context, p *Peer, rpc *RPC) error {
	if err := p.LinkPing(ctx); err != nil {
		return err
	}
	if rpc == nil || v.Stalls {
		return nil
	}
	if err := rpc.Ping(ctx, 1<<62); err != nil {
		return fmt.Errorf("evilpeer: rpc ping: %w", err)
	}
	return nil
}

// LinkPing opens a ping stream and waits for the echo: the link is up.
func (p *Peer) LinkPing(ctx context.Context) error {
	s, err := p.Open(4, nil)
	if err != nil {
		return err
	}
	b := []byte("evilping")
	if err := s.Record(wire.RecordData, b); err != nil {
		return err
	}
	var got []byte
	for len(got) < len(b) {
		typ, pl, err := s.ReadRecord(ctx)
		if err != nil {
			return fmt.Errorf("evilpeer: link ping: %w", err)
		}
		if typ != wire.RecordData {
			return fmt.Errorf("evilpeer: link ping: %v record", typ)
		}
		got = append(got, pl...)
	}
	if !bytes.Equal(got, b) {
		return fmt.Errorf("evilpeer: link ping echoed %q", got)
	}
	_ = s.Record(wire.RecordEnd, nil)
	_ = s.Fin()
	return nil
}

// refused reads the node's answer to a bad hello: a refusal whose text
// contains want, then the end of the conn.
func refused(p *Peer, want string) error {
	h, err := p.ReadHello(5 * time.Second)
	if err != nil {
		return fmt.Errorf("no refusal: %w", err)
	}
	if h.Status != wire.StatusRefused || !strings.Contains(h.Text, want) {
		return fmt.Errorf("answered status %d %q, want a refusal mentioning %q", h.Status, h.Text, want)
	}
	return nil
}

// sendHello returns a Run that sends h and, if want is set, checks the
// refusal.
func sendHello(h Hello, want string) func(context.Context, *Peer, *RPC) error {
	return func(_ context.Context, p *Peer, _ *RPC) error {
		if err := p.SendHello(h); err != nil {
			return err
		}
		if want == "" {
			return nil
		}
		return refused(p, want)
	}
}

func hello(f func(*Hello)) Hello {
	h := GoodHello()
	f(&h)
	return h
}

// frames returns a Run that sends raw frames.
func frames(fs ...Frame) func(context.Context, *Peer, *RPC) error {
	return func(_ context.Context, p *Peer, _ *RPC) error {
		for _, f := range fs {
			if err := p.SendFrame(f); err != nil {
				return err
			}
		}
		return nil
	}
}

// onStream returns a Run that opens a stream, sends the given records'
// bytes and checks that the node aborts it with one of codes.
func onStream(first []byte, then []byte, codes ...wire.AbortCode) func(context.Context, *Peer, *RPC) error {
	return func(ctx context.Context, p *Peer, _ *RPC) error {
		s, err := p.OpenStream()
		if err != nil {
			return err
		}
		if err := s.Send(first); err != nil {
			return err
		}
		if then != nil {
			if err := s.Send(then); err != nil {
				return err
			}
		}
		return wantAbort(ctx, s, codes...)
	}
}

func wantAbort(ctx context.Context, s *Stream, codes ...wire.AbortCode) error {
	code, reason, err := s.WaitAbort(ctx)
	if err != nil {
		return err
	}
	for _, c := range codes {
		if code == c {
			return nil
		}
	}
	return fmt.Errorf("stream aborted with %v (%s), want one of %v", code, reason, codes)
}

// rpcMsgs returns a Run that sends messages on the RPC stream.
func rpcMsgs(msgs ...[]byte) func(context.Context, *Peer, *RPC) error {
	return func(_ context.Context, _ *Peer, r *RPC) error { return r.Msgs(msgs) }
}

// rpcRaw returns a Run that sends raw bytes on the RPC stream.
func rpcRaw(b []byte) func(context.Context, *Peer, *RPC) error {
	return func(_ context.Context, _ *Peer, r *RPC) error { return r.Raw(b) }
}

// callErr returns a Run that calls method with body and checks that the
// node answers with an error of the given wire code.
func callErr(obj uint64, service, method string, body []byte, code string) func(context.Context, *Peer, *RPC) error {
	return func(ctx context.Context, _ *Peer, r *RPC) error {
		const id = 77
		if err := r.Msg(Call(id, obj, service, method, body)); err != nil {
			return err
		}
		m, err := r.WaitReply(ctx, id)
		if err != nil {
			return err
		}
		if m.Kind != wire.MsgError || m.Code != code {
			return fmt.Errorf("answer %v code %q %q, want an error with code %q", m.Kind, m.Code, m.Text, code)
		}
		return nil
	}
}

// echoArg is a call body of one argument, raw CBOR.
func echoArg(raw []byte) []byte { return append([]byte{0x81}, raw...) }

// nested returns n nested one-element arrays around 0.
func nested(n int) []byte {
	b := bytes.Repeat([]byte{0x81}, n)
	return append(b, 0x00)
}

// RPCHello builds an RPC hello message with the given fields.
func RPCHello(version, maxMsg, maxCalls uint64) []byte {
	return wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgHello, Version: version, MaxMsg: maxMsg, MaxCalls: maxCalls, MaxRefs: 16})
}

// rpcSetup returns a Run for a violation of the RPC hello: it opens the
// RPC stream and sends raw bytes in place of the hello.
func rpcSetup(raw []byte) func(context.Context, *Peer, *RPC) error {
	return func(_ context.Context, p *Peer, _ *RPC) error {
		s, err := p.Open(1, nil)
		if err != nil {
			return err
		}
		return s.Record(wire.RecordData, raw)
	}
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// Violations returns every violation the evil peer knows, one knob each.
func Violations() []Violation {
	const v2 = SmuxVersion
	ping := func(extra ...byte) []byte { return RecordBytes(wire.RecordOpen, -1, append([]byte{4}, extra...)) }
	vs := []Violation{
		// ---- the link hello ----
		{Name: "hello/bad-magic", Stage: StageConnect, Fatal: true, Run: sendHello(hello(func(h *Hello) { h.Magic = []byte("HTTP") }), "")},
		{Name: "hello/http-request", Stage: StageConnect, Fatal: true, Run: func(_ context.Context, p *Peer, _ *RPC) error {
			return p.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		}},
		{Name: "hello/version-0", Stage: StageConnect, Fatal: true, Run: sendHello(hello(func(h *Hello) { h.Version = 0 }), "protocol version")},
		{Name: "hello/version-2", Stage: StageConnect, Fatal: true, Run: sendHello(hello(func(h *Hello) { h.Version = 2 }), "protocol version")},
		{Name: "hello/version-255", Stage: StageConnect, Fatal: true, Run: sendHello(hello(func(h *Hello) { h.Version = 255 }), "protocol version")},
		{Name: "hello/mux-v1", Stage: StageConnect, Fatal: true, Run: sendHello(hello(func(h *Hello) { h.Mux = 1 }), "multiplexer")},
		{Name: "hello/mux-native", Stage: StageConnect, Fatal: true, Run: sendHello(hello(func(h *Hello) { h.Mux = wire.MuxNative }), "multiplexer")},
		{Name: "hello/status-refused", Stage: StageConnect, Fatal: true, Run: sendHello(hello(func(h *Hello) { h.Status = 1 }), "status")},
		{Name: "hello/body-len-1025", Stage: StageConnect, Fatal: true, Declared: 1025, Run: sendHello(hello(func(h *Hello) { h.BodyLen = 1025 }), "")},
		{Name: "hello/body-len-65535", Stage: StageConnect, Fatal: true, Declared: 65535, Run: sendHello(hello(func(h *Hello) { h.BodyLen = 65535 }), "")},
		{Name: "hello/body-len-long-then-silence", Stage: StageConnect, Fatal: true, Declared: 1000, Run: sendHello(hello(func(h *Hello) { h.BodyLen = 1000 }), "")},
		{Name: "hello/body-truncated", Stage: StageConnect, Fatal: true, Run: sendHello(Hello{Body: []byte{1, 2, 0}}, "")},
		{Name: "hello/trailing-bytes", Stage: StageConnect, Fatal: true, Run: sendHello(Hello{Body: append(GoodHello().Bytes()[6:], 0, 0)}, "")},
		{Name: "hello/255-caps", Stage: StageConnect, Fatal: true, Run: sendHello(hello(func(h *Hello) { h.NCaps = 255 }), "")},
		{Name: "hello/long-name", Stage: StageConnect, Fatal: true, Run: sendHello(hello(func(h *Hello) { h.Name = strings.Repeat("n", 200) }), "")},
		{Name: "hello/name-invalid-utf8", Stage: StageConnect, Fatal: true, Run: sendHello(hello(func(h *Hello) { h.Name = "\xff\xfe" }), "")},
		{Name: "hello/text-invalid-utf8", Stage: StageConnect, Fatal: true, Run: sendHello(hello(func(h *Hello) { h.Text = "\xc3" }), "")},
		{Name: "hello/silence", Stage: StageConnect, Fatal: true, Run: func(context.Context, *Peer, *RPC) error { return nil }},

		// ---- smux frames ----
		{Name: "mux/version-1", Stage: StageLink, Fatal: true, Run: frames(Frame{Ver: 1, Cmd: CmdNOP, Len: -1})},
		{Name: "mux/version-255", Stage: StageLink, Fatal: true, Run: frames(Frame{Ver: 255, Cmd: CmdSYN, Len: -1, SID: 1})},
		{Name: "mux/unknown-cmd-5", Stage: StageLink, Fatal: true, Run: frames(Frame{Ver: v2, Cmd: 5, Len: -1, SID: 1})},
		{Name: "mux/unknown-cmd-255", Stage: StageLink, Fatal: true, Run: frames(Frame{Ver: v2, Cmd: 255, Len: -1, SID: 1})},
		{Name: "mux/nop-with-length", Stage: StageLink, Fatal: true, Run: frames(Frame{Ver: v2, Cmd: CmdNOP, Len: -1, Payload: []byte{1}})},
		{Name: "mux/syn-with-length", Stage: StageLink, Fatal: true, Run: frames(Frame{Ver: v2, Cmd: CmdSYN, Len: -1, SID: 101, Payload: []byte{1, 2, 3, 4}})},
		{Name: "mux/fin-with-length", Stage: StageLink, Fatal: true, Run: frames(Frame{Ver: v2, Cmd: CmdFIN, Len: -1, SID: 101, Payload: []byte{1}})},
		{Name: "mux/upd-wrong-length", Stage: StageLink, Fatal: true, Run: frames(Frame{Ver: v2, Cmd: CmdUPD, Len: -1, SID: 101, Payload: []byte{1, 2, 3, 4}})},
		{Name: "mux/psh-unknown-stream", Stage: StageLink, Run: frames(Frame{Ver: v2, Cmd: CmdPSH, Len: -1, SID: 999, Payload: []byte("stray data")})},
		{Name: "mux/psh-unknown-stream-64k", Stage: StageLink, Run: frames(Frame{Ver: v2, Cmd: CmdPSH, Len: -1, SID: 1001, Payload: make([]byte, 65535)})},
		{Name: "mux/fin-unknown-stream", Stage: StageLink, Run: frames(Frame{Ver: v2, Cmd: CmdFIN, Len: -1, SID: 1003})},
		{Name: "mux/upd-unknown-stream", Stage: StageLink, Run: frames(Frame{Ver: v2, Cmd: CmdUPD, Len: -1, SID: 1005, Payload: make([]byte, 8)})},
		{Name: "mux/upd-huge-window", Stage: StageLink, Run: func(ctx context.Context, p *Peer, _ *RPC) error {
			s, err := p.Open(4, nil)
			if err != nil {
				return err
			}
			upd := binary.LittleEndian.AppendUint32(nil, 0xffffffff)
			upd = binary.LittleEndian.AppendUint32(upd, 0xffffffff)
			return p.SendFrame(Frame{Ver: v2, Cmd: CmdUPD, Len: -1, SID: s.ID, Payload: upd})
		}},
		{Name: "mux/duplicate-syn", Stage: StageLink, Run: func(ctx context.Context, p *Peer, _ *RPC) error {
			s, err := p.Open(4, nil)
			if err != nil {
				return err
			}
			return p.SendFrame(Frame{Ver: v2, Cmd: CmdSYN, Len: -1, SID: s.ID})
		}},
		{Name: "mux/psh-empty", Stage: StageLink, Run: frames(Frame{Ver: v2, Cmd: CmdPSH, Len: -1, SID: 1007})},
		{Name: "mux/stream-flood", Stage: StageRPC, Run: streamFlood}, // after the RPC setup, which has its own deadline

		// ---- records ----
		{Name: "record/first-not-open", Stage: StageLink, Run: onStream(RecordBytes(wire.RecordData, -1, []byte("hi")), nil, wire.AbortProtocol)},
		{Name: "record/first-end", Stage: StageLink, Run: onStream(RecordBytes(wire.RecordEnd, -1, nil), nil, wire.AbortProtocol)},
		{Name: "record/unknown-type-first", Stage: StageLink, Run: onStream(RecordBytes(9, -1, []byte{1}), nil, wire.AbortProtocol)},
		{Name: "record/unknown-type-255", Stage: StageLink, Run: onStream(ping(), RecordBytes(255, -1, nil), wire.AbortProtocol)},
		{Name: "record/open-oversized", Stage: StageLink, Declared: 1<<24 - 1, Run: onStream(RecordBytes(wire.RecordOpen, 1<<24-1, []byte{4}), nil, wire.AbortProtocol)},
		{Name: "record/open-empty", Stage: StageLink, Run: onStream(RecordBytes(wire.RecordOpen, -1, nil), nil, wire.AbortProtocol)},
		{Name: "record/second-open", Stage: StageLink, Run: onStream(ping(), ping(), wire.AbortProtocol)},
		{Name: "record/end-with-payload", Stage: StageLink, Run: onStream(ping(), RecordBytes(wire.RecordEnd, -1, []byte("x")), wire.AbortProtocol)},
		{Name: "record/abort-oversized", Stage: StageLink, Declared: 1<<24 - 1, Run: onStream(ping(), RecordBytes(wire.RecordAbort, 1<<24-1, nil), wire.AbortProtocol)},
		{Name: "record/data-declared-16m", Stage: StageLink, Declared: 1<<24 - 1, Run: func(ctx context.Context, p *Peer, _ *RPC) error {
			// A data record of 16 MiB declared, 8 bytes sent: the ping
			// reads its 8 bytes and echoes them; nothing waits for the
			// rest.
			s, err := p.Open(4, nil)
			if err != nil {
				return err
			}
			return s.Send(RecordBytes(wire.RecordData, 1<<24-1, []byte("12345678")))
		}},
		{Name: "record/unknown-kind", Stage: StageLink, Run: onStream(RecordBytes(wire.RecordOpen, -1, []byte{99}), nil, wire.AbortRefused, wire.AbortProtocol)},
		{Name: "record/kind-0", Stage: StageLink, Run: onStream(RecordBytes(wire.RecordOpen, -1, []byte{0}), nil, wire.AbortRefused, wire.AbortProtocol)},
		{Name: "record/data-token-short", Stage: StageLink, Run: onStream(RecordBytes(wire.RecordOpen, -1, []byte{2, 1, 2, 3}), nil, wire.AbortProtocol)},
		{Name: "record/connect-garbage", Stage: StageLink, Run: onStream(RecordBytes(wire.RecordOpen, -1, []byte{3, 0xff, 0xff}), nil, wire.AbortRefused, wire.AbortProtocol)},
		{Name: "record/connect-huge-args", Stage: StageLink, Run: onStream(RecordBytes(wire.RecordOpen, -1, append([]byte{3, 1, 1, 3, 'a', ':', '1'}, 0xff, 0xff, 0xff, 0xff, 0x0f)), nil, wire.AbortRefused, wire.AbortProtocol)},
		{Name: "record/second-rpc-stream", Stage: StageRPC, Run: onStream(RecordBytes(wire.RecordOpen, -1, []byte{1}), nil, wire.AbortRefused)},

		// ---- the RPC hello ----
		{Name: "rpc-hello/version-0", Stage: StageLink, Fatal: true, Run: rpcSetup(MsgBytes(RPCHello(0, 1<<20, 16)))},
		{Name: "rpc-hello/max-msg-tiny", Stage: StageLink, Fatal: true, Run: rpcSetup(MsgBytes(RPCHello(1, 10, 16)))},
		{Name: "rpc-hello/max-calls-0", Stage: StageLink, Fatal: true, Run: rpcSetup(MsgBytes(RPCHello(1, 1<<20, 0)))},
		{Name: "rpc-hello/not-hello", Stage: StageLink, Fatal: true, Run: rpcSetup(MsgBytes(Call(1, 0, ServiceName, "Add", []byte{0x82, 1, 2})))},
		{Name: "rpc-hello/oversized", Stage: StageLink, Fatal: true, Declared: 1 << 32, Run: rpcSetup(binary.AppendUvarint(nil, 1<<32))},
		{Name: "rpc-hello/trailing", Stage: StageLink, Fatal: true, Run: rpcSetup(MsgBytes(append(RPCHello(1, 1<<20, 16), 0)))},

		// ---- RPC messages ----
		{Name: "rpc/unknown-kind", Stage: StageRPC, Fatal: true, Run: rpcMsgs([]byte{99, 1, 2})},
		{Name: "rpc/kind-0", Stage: StageRPC, Fatal: true, Run: rpcMsgs([]byte{0})},
		{Name: "rpc/empty-message", Stage: StageRPC, Fatal: true, Run: rpcRaw([]byte{0})},
		{Name: "rpc/length-2^32", Stage: StageRPC, Fatal: true, Declared: 1 << 32, Run: rpcRaw(binary.AppendUvarint(nil, 1<<32))},
		{Name: "rpc/length-2^63", Stage: StageRPC, Fatal: true, Declared: 1 << 63, Run: rpcRaw(binary.AppendUvarint(nil, 1<<63))},
		{Name: "rpc/length-overflow", Stage: StageRPC, Fatal: true, Run: rpcRaw(bytes.Repeat([]byte{0xff}, 11))},
		{Name: "rpc/length-16m-partial", Stage: StageRPC, Declared: 16 << 20, Stalls: true, Run: rpcRaw(append(binary.AppendUvarint(nil, 16<<20), 2, 1, 0, 4, 'e', 'v', 'i', 'l'))},
		{Name: "rpc/truncated-call", Stage: StageRPC, Fatal: true, Run: rpcMsgs([]byte{byte(wire.MsgCall), 1})},
		{Name: "rpc/trailing-bytes", Stage: StageRPC, Fatal: true, Run: rpcMsgs(append(wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgCancel, ID: 5}), 0, 0))},
		{Name: "rpc/method-invalid-utf8", Stage: StageRPC, Fatal: true, Run: rpcMsgs(Call(1, 0, ServiceName, "\xff", []byte{0x80}))},
		{Name: "rpc/service-invalid-utf8", Stage: StageRPC, Fatal: true, Run: rpcMsgs(Call(1, 0, "\xc0\xaf", "Add", []byte{0x80}))},
		{Name: "rpc/error-invalid-utf8", Stage: StageRPC, Fatal: true, Run: rpcMsgs([]byte{byte(wire.MsgError), 1, 1, 0xff, 0, 0})},
		{Name: "rpc/string-length-2^32", Stage: StageRPC, Fatal: true, Declared: 1 << 32, Run: rpcMsgs(append([]byte{byte(wire.MsgCall), 1, 0}, binary.AppendUvarint(nil, 1<<32)...))},
		{Name: "rpc/second-hello", Stage: StageRPC, Fatal: true, Run: rpcMsgs(RPCHello(1, 1<<20, 16))},
		{Name: "rpc/release-4097", Stage: StageRPC, Fatal: true, Declared: 4097, Run: rpcMsgs(append([]byte{byte(wire.MsgRelease)}, append(binary.AppendUvarint(nil, 4097), bytes.Repeat([]byte{1}, 4097)...)...))},
		{Name: "rpc/release-2^31-declared", Stage: StageRPC, Fatal: true, Declared: 1 << 31, Run: rpcMsgs(append([]byte{byte(wire.MsgRelease)}, binary.AppendUvarint(nil, 1<<31)...))},
		{Name: "rpc/duplicate-running-id", Stage: StageRPC, Fatal: true, Run: rpcMsgs(Call(9, 0, ServiceName, "Block", []byte{0x80}), Call(9, 0, ServiceName, "Block", []byte{0x80}))},
		{Name: "rpc/abort-rpc-stream", Stage: StageRPC, Fatal: true, Run: func(_ context.Context, _ *Peer, r *RPC) error {
			return r.Record(wire.RecordAbort, wire.AppendAbort(nil, wire.AbortLocal, "evil"))
		}},
		{Name: "rpc/unknown-record-on-rpc", Stage: StageRPC, Fatal: true, Run: func(_ context.Context, _ *Peer, r *RPC) error {
			return r.Send(RecordBytes(7, -1, nil))
		}},
		{Name: "rpc/timeout-2^64", Stage: StageRPC, Run: hugeTimeout},
		{Name: "rpc/release-unknown", Stage: StageRPC, Run: rpcMsgs(wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgRelease, IDs: []uint64{1, 2, 1 << 63}}))},
		{Name: "rpc/reply-unknown-id", Stage: StageRPC, Run: rpcMsgs(wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgReply, ID: 4242, Body: []byte{0x80}}))},
		{Name: "rpc/error-unknown-id", Stage: StageRPC, Run: rpcMsgs(wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgError, ID: 4243, Code: "x"}))},
		{Name: "rpc/pong-unknown-id", Stage: StageRPC, Run: rpcMsgs(wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgPong, ID: 4244}))},
		{Name: "rpc/cancel-unknown-id", Stage: StageRPC, Run: rpcMsgs(wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgCancel, ID: 4245}))},
		{Name: "rpc/forged-ref", Stage: StageRPC, Run: callErr(0x1234_5678_9abc_def0, "", "Inc", []byte{0x80}, "unknown-ref")},
		{Name: "rpc/forged-func-ref", Stage: StageRPC, Run: callErr(0xdead_beef, "", "", []byte{0x80}, "unknown-ref")},
		{Name: "rpc/unknown-service", Stage: StageRPC, Run: callErr(0, "nope", "Add", []byte{0x80}, "no-service")},
		{Name: "rpc/unknown-method", Stage: StageRPC, Run: callErr(0, ServiceName, "nope", []byte{0x80}, "no-method")},
		{Name: "rpc/unexported-method", Stage: StageRPC, Run: callErr(0, ServiceName, "echo", []byte{0x80}, "no-method")},

		// ---- CBOR in call arguments ----
		{Name: "cbor/body-not-array", Stage: StageRPC, Run: callErr(0, ServiceName, "Add", []byte{0xff}, "bad-args")},
		{Name: "cbor/body-empty", Stage: StageRPC, Run: callErr(0, ServiceName, "Add", nil, "bad-args")},
		{Name: "cbor/array-2^31-items", Stage: StageRPC, Declared: 1 << 31, Run: callErr(0, ServiceName, "Add", append([]byte{0x9a}, u32(1<<31)...), "bad-args")},
		{Name: "cbor/array-2^64-items", Stage: StageRPC, Declared: 1<<64 - 1, Run: callErr(0, ServiceName, "Add", append([]byte{0x9b}, bytes.Repeat([]byte{0xff}, 8)...), "bad-args")},
		{Name: "cbor/arg-array-2^31-items", Stage: StageRPC, Declared: 1 << 31, Run: callErr(0, ServiceName, "Echo", echoArg(append([]byte{0x9a}, u32(1<<31)...)), "bad-args")},
		{Name: "cbor/arg-map-2^31-pairs", Stage: StageRPC, Declared: 1 << 31, Run: callErr(0, ServiceName, "Echo", echoArg(append([]byte{0xba}, u32(1<<31)...)), "bad-args")},
		{Name: "cbor/bytes-2^32", Stage: StageRPC, Declared: 1 << 32, Run: callErr(0, ServiceName, "Echo", echoArg(append([]byte{0x5b, 0, 0, 0, 1, 0, 0, 0, 0}, "abc"...)), "bad-args")},
		{Name: "cbor/bytes-2^32-minus-1", Stage: StageRPC, Declared: 1<<32 - 1, Run: callErr(0, ServiceName, "Echo", echoArg(append([]byte{0x5a, 0xff, 0xff, 0xff, 0xff}, "abc"...)), "bad-args")},
		{Name: "cbor/text-2^64", Stage: StageRPC, Declared: 1<<64 - 1, Run: callErr(0, ServiceName, "Echo", echoArg([]byte{0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), "bad-args")},
		{Name: "cbor/nesting-10000", Stage: StageRPC, Run: callErr(0, ServiceName, "Echo", echoArg(nested(10000)), "bad-args")},
		{Name: "cbor/nesting-33", Stage: StageRPC, Run: callErr(0, ServiceName, "Echo", echoArg(nested(33)), "bad-args")},
		{Name: "cbor/tag-nesting-10000", Stage: StageRPC, Run: callErr(0, ServiceName, "Echo", echoArg(append(bytes.Repeat([]byte{0xc6}, 10000), 0)), "bad-args")},
		{Name: "cbor/duplicate-keys", Stage: StageRPC, Run: callErr(0, ServiceName, "Echo", echoArg([]byte{0xa2, 0x61, 'a', 1, 0x61, 'a', 2}), "bad-args")},
		{Name: "cbor/invalid-utf8", Stage: StageRPC, Run: callErr(0, ServiceName, "Echo", echoArg([]byte{0x62, 0xc3, 0x28}), "bad-args")},
		{Name: "cbor/invalid-utf8-map-key", Stage: StageRPC, Run: callErr(0, ServiceName, "Echo", echoArg([]byte{0xa1, 0x61, 0xff, 1}), "bad-args")},
		{Name: "cbor/indefinite-array", Stage: StageRPC, Run: callErr(0, ServiceName, "Echo", echoArg([]byte{0x9f, 1, 0xff}), "bad-args")},
		{Name: "cbor/indefinite-body", Stage: StageRPC, Run: callErr(0, ServiceName, "Echo", []byte{0x9f, 1, 0xff}, "bad-args")},
		{Name: "cbor/break-byte", Stage: StageRPC, Run: callErr(0, ServiceName, "Echo", echoArg([]byte{0xff}), "bad-args")},
		{Name: "cbor/reserved-info", Stage: StageRPC, Run: callErr(0, ServiceName, "Echo", echoArg([]byte{0x1c}), "bad-args")},
		{Name: "cbor/trailing-in-body", Stage: StageRPC, Run: callErr(0, ServiceName, "Add", []byte{0x82, 1, 2, 3}, "bad-args")},
		{Name: "cbor/truncated-item", Stage: StageRPC, Run: callErr(0, ServiceName, "Add", []byte{0x82, 1, 0x19, 1}, "bad-args")},
		{Name: "cbor/ref-bad-kind", Stage: StageRPC, Run: callErr(0, ServiceName, "Echo", echoArg([]byte{0xd9, 0x48, 0x57, 0x82, 9, 1}), "bad-args")},
		{Name: "cbor/ref-id-0", Stage: StageRPC, Run: callErr(0, ServiceName, "Echo", echoArg([]byte{0xd9, 0x48, 0x57, 0x82, 1, 0}), "bad-args")},
		{Name: "cbor/ref-not-array", Stage: StageRPC, Run: callErr(0, ServiceName, "Echo", echoArg([]byte{0xd9, 0x48, 0x57, 0x61, 'x'}), "bad-args")},
		{Name: "cbor/wrong-type", Stage: StageRPC, Run: callErr(0, ServiceName, "Add", []byte{0x82, 0x61, 'x', 2}, "bad-args")},
		{Name: "cbor/too-many-args", Stage: StageRPC, Run: callErr(0, ServiceName, "Add", []byte{0x83, 1, 2, 3}, "bad-args")},
		{Name: "cbor/bignum-tag", Stage: StageRPC, Run: callErr(0, ServiceName, "Add", []byte{0x82, 0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2}, "bad-args")},
	}
	return vs
}

// hugeTimeout calls Block with a timeout past any deadline (2^64-1 ns): it
// must run as a call without a deadline, not as one already expired, and
// end when cancelled.
func hugeTimeout(ctx context.Context, _ *Peer, r *RPC) error {
	const id = 78
	call := wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgCall, ID: id, Service: ServiceName, Method: "Block", Timeout: 1<<64 - 1, Body: []byte{0x80}})
	if err := r.Msg(call); err != nil {
		return err
	}
	early, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	m, err := r.WaitReply(early, id)
	cancel()
	if err == nil {
		return fmt.Errorf("the call ended at once: %v %q %q", m.Kind, m.Code, m.Text)
	}
	if err := r.Msg(wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgCancel, ID: id})); err != nil {
		return err
	}
	if m, err = r.WaitReply(ctx, id); err != nil {
		return err
	}
	if m.Kind != wire.MsgError || m.Code != "canceled" {
		return fmt.Errorf("after a cancel: %v %q %q, want an error with code canceled", m.Kind, m.Code, m.Text)
	}
	return nil
}

// streamFlood opens many more streams than a link accepts (SYN, no open
// record), in one burst: the node refuses those past its cap at once and
// aborts the others when they send no open record in time; the link
// lives.
func streamFlood(ctx context.Context, p *Peer, _ *RPC) error {
	const n = 3000
	ss, err := p.OpenStreams(n)
	if err != nil {
		return err
	}
	refused := 0
	for i, s := range ss {
		code, reason, err := s.WaitAbort(ctx)
		if err != nil {
			return fmt.Errorf("stream %d of %d: %w", i+1, n, err)
		}
		switch code {
		case wire.AbortRefused:
			refused++
		case wire.AbortProtocol: // no open record in time
		default:
			return fmt.Errorf("stream %d of %d aborted with %v (%s)", i+1, n, code, reason)
		}
	}
	if refused == 0 {
		return fmt.Errorf("none of %d streams was refused", n)
	}
	return nil
}
