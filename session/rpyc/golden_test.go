package rpyc

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// Golden vectors, written by hand from the protocol (PROTOCOL-RPYC.md):
// each is one whole frame in hex; spaces and '|' are for the eye.

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "|", "", "\n", "", "\t", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad golden hex: %v", err)
	}
	return b
}

// frame wraps a payload given in hex as an uncompressed frame.
func frame(t testing.TB, payload string) []byte {
	p := unhex(t, payload)
	return append(append([]byte{0, 0, byte(len(p) >> 8), byte(len(p)), 0}, p...), '\n')
}

// rawPeer is the far end of a Conn, driven byte by byte.
type rawPeer struct {
	t  testing.TB
	nc net.Conn
}

func (p *rawPeer) expect(want []byte) {
	p.t.Helper()
	got := make([]byte, len(want))
	p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(p.nc, got); err != nil {
		p.t.Fatalf("reading %d bytes: %v (got % x)", len(want), err, got)
	}
	if !bytes.Equal(got, want) {
		p.t.Fatalf("frame mismatch\n got % x\nwant % x", got, want)
	}
}

func (p *rawPeer) send(b []byte) {
	p.t.Helper()
	p.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatal(err)
	}
}

type goldenRoot struct{ Name string }

func (goldenRoot) Fail() error {
	return &RemoteError{Module: "builtins", Type: "ValueError", Args: Tuple{"bad"}, Traceback: "tb"}
}

func (goldenRoot) Stop() error { return ErrStopIteration }

func newRawPair(t *testing.T, d Dialect) (*Conn, *rawPeer) {
	return newRawPairWith(t, &Options{Dialect: d})
}

// newRawPairWith serves a goldenRoot with opts.
func newRawPairWith(t *testing.T, opts *Options) (*Conn, *rawPeer) {
	a, b := net.Pipe()
	o := *opts
	o.Root = &goldenRoot{Name: "gold"}
	c := NewConn(a, &o)
	t.Cleanup(func() {
		b.Close()
		c.Close()
	})
	return c, &rawPeer{t, b}
}

const (
	// ("x.Y", 7, 9): a remote object's id pack.
	remoteID = "12 08 0c 78 2e 59 57 59"
	// ("hopwire.goldenRoot", 1, 1): the Go side's root.
	rootID = "12 08 0e 12 686f70776972652e676f6c64656e526f6f74 51 51"
)

// TestGolden6 checks every message kind of the 6.x dialect, both as sent
// and as received.
func TestGolden6(t *testing.T) {
	c, p := newRawPair(t, Dialect6)
	ctx := testCtx(t)

	// REQUEST PING "hi", seq 0 → REPLY
	done := make(chan error, 1)
	go func() { done <- c.Ping(ctx, "hi") }()
	p.expect(frame(t, "01 | 11 50 | 11 51 | 11 51 10 08 0b 6869"))
	p.send(frame(t, "02 | 11 50 | 11 51 08 0b 6869"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// REQUEST GETROOT, seq 1 → REPLY REMOTE_REF
	var root *Ref
	go func() {
		var err error
		root, err = c.Root(ctx)
		done <- err
	}()
	p.expect(frame(t, "01 | 11 51 | 11 53 | 11 51 02"))
	p.send(frame(t, "02 | 11 51 | 11 54 "+remoteID))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if root.TypeName() != "x.Y" {
		t.Fatalf("root %v", root)
	}

	// REQUEST CALL(root, (1,), (("k","v"),)), seq 2: a TUPLE box holding
	// a LOCAL_REF → EXCEPTION (vinegar)
	go func() {
		_, err := root.Call(ctx, 1, Kw{"k": "v"})
		done <- err
	}()
	p.expect(frame(t, "01 | 11 52 | 11 57 | 11 52 12 | 11 53 "+remoteID+" | 11 51 10 51 | 11 51 10 11 080a6b 080a76"))
	p.send(frame(t, "03 | 11 52 | 13 | 11 08 0e 08 6275696c74696e73 08 0e 0a 56616c75654572726f72"+
		" | 10 08 0c 626164 | 10 11 08 0e 05 6572726e6f 60 | 08 0b 7462"))
	err := <-done
	var re *RemoteError
	if !errors.As(err, &re) || re.Type != "ValueError" || re.Message() != "bad" || re.Attrs["errno"] != int64(16) || re.Traceback != "tb" {
		t.Fatalf("exception: %#v", err)
	}

	// REQUEST GETATTR, seq 3 → EXCEPTION StopIteration (the int 1)
	go func() {
		_, err := root.Getattr(ctx, "n")
		done <- err
	}()
	p.expect(frame(t, "01 | 11 53 | 11 54 | 11 52 11 | 11 53 "+remoteID+" | 11 51 08 0a 6e"))
	p.send(frame(t, "03 | 11 53 | 51"))
	if err := <-done; !errors.Is(err, ErrStopIteration) {
		t.Fatalf("StopIteration: %v", err)
	}

	// DEL on Release, seq 4: (LOCAL_REF, count 1); its reply is ignored.
	root2 := root
	c.xmu.Lock()
	c.rootRef = nil
	c.xmu.Unlock()
	root2.Release()
	p.expect(frame(t, "01 | 11 54 | 11 5f | 11 52 11 | 11 53 "+remoteID+" | 11 51 51"))
	p.send(frame(t, "02 | 11 54 | 11 51 00"))

	// The peer's requests: GETROOT seq 0 → REMOTE_REF of our root.
	p.send(frame(t, "01 | 11 50 | 11 53 | 11 51 02"))
	p.expect(frame(t, "02 | 11 50 | 11 54 "+rootID))
	// GETATTR(root, "Name") seq 1 → VALUE "gold"
	p.send(frame(t, "01 | 11 51 | 11 54 | 11 52 11 | 11 53 "+rootID+" | 11 51 08 0d 4e616d65"))
	p.expect(frame(t, "02 | 11 51 | 11 51 08 0d 676f6c64"))
	// CALLATTR(root, "Fail", (), ()) seq 2 → EXCEPTION ValueError
	p.send(frame(t, "01 | 11 52 | 11 58 | 11 52 13 | 11 53 "+rootID+" | 11 51 08 0d 4661696c | 11 51 02 | 11 51 02"))
	p.expect(frame(t, "03 | 11 52 | 13 | 11 08 0e 08 6275696c74696e73 08 0e 0a 56616c75654572726f72"+
		" | 10 08 0c 626164 | 10 11 08 0e 0f 5f72656d6f74655f76657273696f6e 08 0e 0d 362e302028686f707769726529"+
		" | 08 0b 7462"))
	// CALLATTR(root, "Stop") seq 3 → EXCEPTION 1
	p.send(frame(t, "01 | 11 53 | 11 58 | 11 52 13 | 11 53 "+rootID+" | 11 51 08 0d 53746f70 | 11 51 02 | 11 51 02"))
	p.expect(frame(t, "03 | 11 53 | 51"))
	// PING seq 4 with a 5.x payload would be a protocol change of dialect:
	// still accepted, answered in the dialect configured (6.x).
	p.send(frame(t, "12 51 54 | 11 51 | 11 51 10 0a 7a"))
	p.expect(frame(t, "02 | 11 54 | 11 51 0a 7a"))
	// CLOSE: no reply, the connection ends.
	p.send(frame(t, "01 | 11 55 | 11 52 | 11 51 02"))
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("CLOSE did not end the connection")
	}
}

// TestGolden5 holds the 5.x frames RPyC 5.3 itself sent (captured in
// RPYC-WIRE-NOTES.md), and checks dialect detection from the peer's first
// message.
func TestGolden5(t *testing.T) {
	c, p := newRawPair(t, DialectAuto)
	ctx := testCtx(t)
	done := make(chan error, 1)
	go func() { done <- c.Ping(ctx, "hi") }()
	p.expect(unhex(t, "00 00 00 0c 00 | 12 51 50 11 51 11 51 10 08 0b 68 69 | 0a"))
	p.send(unhex(t, "00 00 00 09 00 | 12 52 50 11 51 08 0b 68 69 | 0a"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c.Dialect() != Dialect5 {
		t.Fatalf("dialect %v", c.Dialect())
	}

	// A fresh auto Conn whose peer speaks 6.x first answers in 6.x.
	c6, p6 := newRawPair(t, DialectAuto)
	p6.send(frame(t, "01 | 11 50 | 11 51 | 11 51 10 08 0b 6869"))
	p6.expect(frame(t, "02 | 11 50 | 11 51 08 0b 6869"))
	if c6.Dialect() != Dialect6 {
		t.Fatalf("dialect %v after a 6.x request", c6.Dialect())
	}
}

// TestRoundTrip6 runs Go client against Go server in each dialect
// (6.x cannot be tested against a real RPyC here: no 6.x package).
func TestRoundTrip6(t *testing.T) {
	for _, d := range []struct{ client, server Dialect }{{Dialect6, DialectAuto}, {Dialect6, Dialect6}, {Dialect5, DialectAuto}} {
		t.Run(d.client.String()+"-"+d.server.String(), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			sctx, stop := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() {
				served <- Serve(sctx, ln, &Options{Root: Namespace{"svc": &goSvc{Name: "rt"}, "version": "1"}, Dialect: d.server, AllowSetattr: true})
			}()
			defer func() {
				stop()
				if err := <-served; err != nil {
					t.Error(err)
				}
			}()
			ctx := testCtx(t)
			c, err := Dial(ctx, ln.Addr().String(), &Options{Dialect: d.client, CompressThreshold: 3000})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ns, err := c.Root(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if v, err := ns.Getattr(ctx, "version"); err != nil || v != "1" {
				t.Fatalf("version = %v, %v", v, err)
			}
			if d, err := ns.Dir(ctx); err != nil || strings.Join(d, ",") != "svc,version" {
				t.Fatalf("dir = %v, %v", d, err)
			}
			sv, err := ns.Getattr(ctx, "svc")
			if err != nil {
				t.Fatal(err)
			}
			root := sv.(*Ref)
			if v, err := root.CallAttr(ctx, "Add", 40, 2); err != nil || v != int64(42) {
				t.Fatalf("Add = %v, %v", v, err)
			}
			big := bytes.Repeat([]byte("hopwire "), 1<<17)
			if v, err := root.CallAttr(ctx, "Length", big); err != nil || v != int64(len(big)) {
				t.Fatalf("Length = %v, %v", v, err)
			}
			if v, err := root.CallAttr(ctx, "Apply", func(x int) (int, error) { return x + 1, nil }, 1); err != nil || v != int64(2) {
				t.Fatalf("Apply = %v, %v", v, err)
			}
			ctr, err := root.CallAttr(ctx, "NewCounter", 5)
			if err != nil {
				t.Fatal(err)
			}
			if v, err := ctr.(*Ref).CallAttr(ctx, "Incr"); err != nil || v != int64(6) {
				t.Fatalf("Incr = %v, %v", v, err)
			}
			if err := ctr.(*Ref).Setattr(ctx, "Value", 10); err != nil {
				t.Fatal(err)
			}
			if v, err := ctr.(*Ref).Getattr(ctx, "value"); err != nil || v != int64(10) {
				t.Fatalf("value = %v, %v", v, err)
			}
			_, err = root.CallAttr(ctx, "Open", "/nonexistent/hopwire")
			if !errors.Is(err, &RemoteError{Type: "FileNotFoundError"}) {
				t.Fatalf("Open: %v", err)
			}
			if c.Dialect() != d.client {
				t.Fatalf("client dialect %v", c.Dialect())
			}
		})
	}
}

// FuzzConn feeds arbitrary frames to a Conn serving a Go service: it may
// close the connection, never panic or hang.
func FuzzConn(f *testing.F) {
	f.Add(frame(f, "01 | 11 50 | 11 53 | 11 51 02"))
	f.Add(frame(f, "01 | 11 51 | 11 58 | 11 52 13 | 11 53 12 08 0e 0b 686f70776972652e676f 51 51 | 11 51 08 0b 4164 | 11 51 11 51 52 | 11 51 02"))
	f.Add(frame(f, "12 51 50 11 51 11 51 10 08 0b 6869"))
	f.Add(frame(f, "01 | 11 54 | 11 5f | 11 52 11 | 11 53 12 08 0c 78 2e 59 51 51 | 11 51 51"))
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := net.Pipe()
		c := NewConn(a, &Options{Root: &goSvc{Name: "fuzz"}, MaxFrame: 1 << 16})
		go io.Copy(io.Discard, b)
		b.SetWriteDeadline(time.Now().Add(time.Second))
		b.Write(in)
		b.Close()
		c.Close()
	})
}

// TestGoldenHandlers sends every handler code, as a 6.x peer would, to a
// Go root and checks each answer: bytes where they are fixed, the
// exception type where the text is Go's.
func TestGoldenHandlers(t *testing.T) {
	c, p := newRawPairWith(t, &Options{Dialect: Dialect6, AllowSetattr: true})
	tgt := "11 53 " + rootID                                                                 // the root, boxed as the peer's local ref
	str := func(s string) string { return fmt.Sprintf("08 %02x %x", tagBytes1+len(s)-1, s) } // 1..4 bytes
	cases := []struct {
		name, req, reply, exc string
	}{
		{"PING", "11 51 | 11 51 10 " + str("z"), "11 51 " + str("z"), ""},
		{"GETROOT", "11 53 | 11 51 02", "11 54 " + rootID, ""},
		{"GETATTR", "11 54 | 11 52 11 " + tgt + " | 11 51 " + str("Name"), "11 51 " + str("gold"), ""},
		{"SETATTR", "11 56 | 11 52 12 " + tgt + " | 11 51 " + str("Name") + " | 11 51 " + str("new"), "11 51 00", ""},
		{"GETATTR again", "11 54 | 11 52 11 " + tgt + " | 11 51 " + str("name"), "11 51 " + str("new"), ""},
		{"DELATTR", "11 55 | 11 52 11 " + tgt + " | 11 51 " + str("Name"), "", "AttributeError"},
		{"CALL", "11 57 | 11 52 12 " + tgt + " | 11 51 02 | 11 51 02", "", "TypeError"},
		{"CALLATTR", "11 58 | 11 52 14 04 " + tgt + " | 11 51 " + str("Stop") + " | 11 51 02 | 11 51 02", "", "StopIteration"},
		{"REPR", "11 59 | 11 52 10 " + tgt, "11 51 08 0e 15 " + fmt.Sprintf("%x", "<Go *rpyc.goldenRoot>"), ""},
		{"STR", "11 5a | 11 52 10 " + tgt, "11 51 08 0e 15 " + fmt.Sprintf("%x", "<Go *rpyc.goldenRoot>"), ""},
		{"CMP", "11 5b | 11 52 12 " + tgt + " | " + tgt + " | 11 51 08 0e 06 5f5f65715f5f", "11 51 03", ""},
		{"HASH", "11 5c | 11 52 10 " + tgt, "11 51 51", ""},
		{"DIR", "11 5d | 11 52 10 " + tgt, "11 51 12 " + str("Fail") + str("Name") + str("Stop"), ""},
		{"PICKLE", "11 5e | 11 52 11 " + tgt + " | 11 51 52", "", "ValueError"},
		{"DEL", "11 5f | 11 52 11 " + tgt + " | 11 51 51", "11 51 00", ""},
		{"INSPECT", "11 60 | 11 51 10 " + rootID, "11 51 11 11 " + str("Fail") + " 00 11 " + str("Stop") + " 00", ""},
		{"BUFFITER", "11 61 | 11 52 11 " + tgt + " | 11 51 5a", "", "TypeError"},
		{"OLDSLICING", "11 62 | 11 52 14 06 " + tgt + " | 11 51 08 0e 0b 5f5f6765746974656d5f5f | 11 51 08 0e 0c 5f5f676574736c6963655f5f | 11 51 50 | 11 51 51 | 11 51 02", "", "AttributeError"},
		{"CTXEXIT", "11 63 | 11 52 11 " + tgt + " | 11 51 00", "", "AttributeError"},
		{"INSTANCECHECK", "11 64 | 11 52 11 " + tgt + " | 11 51 " + rootID, "11 51 04", ""},
	}
	for i, tc := range cases {
		seq := fmt.Sprintf("%02x", immBase+i)
		p.send(frame(t, "01 | 11 "+seq+" | "+tc.req))
		if tc.exc == "" {
			p.expect(frame(t, "02 | 11 "+seq+" | "+tc.reply))
			continue
		}
		if tc.reply != "" {
			t.Fatal("bad case")
		}
		f := readRawFrame(t, p, c, tc.name)
		kind, gotSeq, body, err := decodeMessage(f)
		if err != nil || kind != msgException || gotSeq != int64(i) {
			t.Fatalf("%s: answer %x: %v", tc.name, f, err)
		}
		if re, ok := loadException(body).(*RemoteError); !ok || re.Type != tc.exc || re.Module != "builtins" {
			t.Fatalf("%s: exception %#v, want %s", tc.name, loadException(body), tc.exc)
		}
	}
	// CLOSE ends the connection without an answer.
	p.send(frame(t, "01 | 11 7f | 11 52 | 11 51 02"))
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("CLOSE did not end the connection")
	}
}

func readRawFrame(t *testing.T, p *rawPeer, c *Conn, name string) []byte {
	t.Helper()
	var buf bytes.Buffer
	p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := readFrame(p.nc, &buf, 1<<20)
	if err != nil {
		t.Fatalf("%s: %v (connection: %v)", name, err, c.Err())
	}
	return append([]byte(nil), b...)
}

// TestBadPeer: a peer that breaks the protocol ends the connection with
// an error saying why; pending calls fail with it.
func TestBadPeer(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"huge frame", unhex(t, "7fffffff 00"), ErrFrameTooLarge},
		{"unknown tag", frame(t, "12 51 50 1c"), ErrProtocol},
		{"bad kind", frame(t, "12 55 50 00"), ErrProtocol},
		{"neither dialect", frame(t, "07 11 50 00"), ErrProtocol},
		{"bad flag", unhex(t, "00000001 07 00 0a"), ErrProtocol},
		{"request not a pair", frame(t, "01 11 50 51"), ErrProtocol},
		{"bad box label", frame(t, "01 11 50 11 51 11 59 00"), ErrProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			c := NewConn(a, &Options{MaxFrame: 1 << 20})
			defer c.Close()
			defer b.Close()
			go io.Copy(io.Discard, b)
			pending := c.request(hPing, Tuple{"x"})
			b.Write(tc.in)
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("connection still up")
			}
			if err := c.Err(); !errors.Is(err, tc.want) || !errors.Is(err, ErrClosed) {
				t.Fatalf("Err = %v, want %v", err, tc.want)
			}
			if _, err := pending.Wait(context.Background()); !errors.Is(err, tc.want) {
				t.Fatalf("pending call: %v", err)
			}
		})
	}
}

// TestGoldenDel applies the peer's DEL, in each dialect's envelope, with
// the bytes Python's brine makes of RPyC's (proxy, count) arguments (5.3
// and 6.0.2 alike): each takes away count sends of the object, and the
// last removes it from the table. A DEL of an object already gone, or
// without a count (1, as Python's handler defaults), is answered too.
func TestGoldenDel(t *testing.T) {
	const ctrID = "12 08 0e 0f 686f70776972652e436f756e746572 52 52" // ("hopwire.Counter", 2, 2)
	for _, tc := range []struct {
		d        Dialect
		req, rep func(seq string) string
	}{
		{Dialect5, func(seq string) string { return "12 51 " + seq }, func(seq string) string { return "12 52 " + seq }},
		{Dialect6, func(seq string) string { return "01 11 " + seq }, func(seq string) string { return "02 11 " + seq }},
	} {
		t.Run(tc.d.String(), func(t *testing.T) {
			c, p := newRawPair(t, tc.d)
			ctr := &Counter{}
			for range 4 { // sent four times: n is 3
				if id := c.export(ctr); id != (idPack{"hopwire.Counter", 2, 2}) {
					t.Fatalf("id %v", id)
				}
			}
			del := func(seq, args string, objects int) {
				t.Helper()
				p.send(frame(t, tc.req(seq)+" | 11 5f | 11 52 "+args))
				p.expect(frame(t, tc.rep(seq)+" | 11 51 00"))
				if n := c.Stats().Objects; n != objects {
					t.Fatalf("after DEL %s: %d objects, want %d", args, n, objects)
				}
			}
			del("57", "11 | 11 53 "+ctrID+" | 11 51 51", 2)  // count 1: three sends left
			del("58", "10 | 11 53 "+ctrID, 2)                // no count: 1
			del("59", "11 | 11 53 "+ctrID+" | 11 51 52", 1)  // count 2: gone
			del("5a", "11 | 11 53 "+ctrID+" | 11 51 51", 1)  // already gone
			del("5b", "11 | 11 53 "+rootID+" | 11 51 55", 1) // the root stays
		})
	}
}

// TestGoldenSetattr: SETATTR and DELATTR raise AttributeError and change
// nothing unless the service allows them (RPyC's allow_setattr and
// allow_delattr); allowed, DELATTR resets the field to its zero value.
func TestGoldenSetattr(t *testing.T) {
	tgt := "11 53 " + rootID
	setName := "01 | 11 %s | 11 56 | 11 52 12 " + tgt + " | 11 51 08 0d 4e616d65 | 11 51 08 0b 6576" // SETATTR(root, "Name", "ev")
	delName := "01 | 11 %s | 11 55 | 11 52 11 " + tgt + " | 11 51 08 0d 4e616d65"                    // DELATTR(root, "Name")
	getName := "01 | 11 %s | 11 54 | 11 52 11 " + tgt + " | 11 51 08 0d 4e616d65"                    // GETATTR(root, "Name")
	exc := func(p *rawPeer, c *Conn, seq int64, want string) {
		t.Helper()
		f := readRawFrame(t, p, c, want)
		kind, gotSeq, body, err := decodeMessage(f)
		re, ok := loadException(body).(*RemoteError)
		if err != nil || kind != msgException || gotSeq != seq || !ok || re.Type != "AttributeError" || !strings.Contains(re.Message(), want) {
			t.Fatalf("seq %d: %x: %v %#v, want AttributeError %q", seq, f, err, loadException(body), want)
		}
	}
	c, p := newRawPair(t, Dialect6)
	p.send(frame(t, fmt.Sprintf(setName, "50")))
	exc(p, c, 0, "cannot set attribute 'Name': the service does not allow it")
	p.send(frame(t, fmt.Sprintf(delName, "51")))
	exc(p, c, 1, "cannot delete attribute 'Name': the service does not allow it")
	p.send(frame(t, fmt.Sprintf(getName, "52")))
	p.expect(frame(t, "02 | 11 52 | 11 51 08 0d 676f6c64")) // still "gold"

	c, p = newRawPairWith(t, &Options{Dialect: Dialect6, AllowSetattr: true, AllowDelattr: true})
	p.send(frame(t, fmt.Sprintf(setName, "50")))
	p.expect(frame(t, "02 | 11 50 | 11 51 00"))
	p.send(frame(t, fmt.Sprintf(getName, "51")))
	p.expect(frame(t, "02 | 11 51 | 11 51 08 0b 6576")) // "ev"
	p.send(frame(t, fmt.Sprintf(delName, "52")))
	p.expect(frame(t, "02 | 11 52 | 11 51 00"))
	p.send(frame(t, fmt.Sprintf(getName, "53")))
	p.expect(frame(t, "02 | 11 53 | 11 51 08 01"))                                   // ""
	p.send(frame(t, "01 | 11 54 | 11 55 | 11 52 11 "+tgt+" | 11 51 08 0d 4e6f6e65")) // DELATTR(root, "None"): no such field
	exc(p, c, 4, "has no attribute 'None'")
}
