package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestRecordHeader(t *testing.T) {
	tests := []struct {
		name string
		typ  RecordType
		n    int
	}{
		{"data-empty", RecordData, 0},
		{"data-max", RecordData, MaxRecordPayload},
		{"open", RecordOpen, 9},
		{"end", RecordEnd, 0},
		{"abort", RecordAbort, MaxControlPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b [RecordHeaderLen]byte
			PutRecordHeader(b[:], tt.typ, tt.n)
			typ, n, err := ParseRecordHeader(b[:])
			if err != nil || typ != tt.typ || n != tt.n {
				t.Fatalf("got %v %d %v, want %v %d", typ, n, err, tt.typ, tt.n)
			}
		})
	}
	bad := map[string][]byte{
		"unknown-type": {9, 0, 0, 0},
		"end-payload":  {byte(RecordEnd), 0, 0, 1},
		"huge-abort":   {byte(RecordAbort), 0xff, 0xff, 0xff},
		"huge-open":    {byte(RecordOpen), 0, 0x10, 1},
		"short":        {0, 0},
		"empty":        nil,
	}
	for name, b := range bad {
		t.Run("bad-"+name, func(t *testing.T) {
			if _, _, err := ParseRecordHeader(b); !errors.Is(err, ErrBadRecord) {
				t.Fatalf("err = %v, want ErrBadRecord", err)
			}
		})
	}
}

func TestAbortAndOpen(t *testing.T) {
	p := AppendAbort(nil, AbortTimeout, "idle for 30s")
	code, reason, err := ParseAbort(p)
	if err != nil || code != AbortTimeout || reason != "idle for 30s" {
		t.Fatalf("abort round trip: %v %q %v", code, reason, err)
	}
	long := AppendAbort(nil, AbortLocal, string(make([]byte, 2*MaxControlPayload)))
	if len(long) != MaxControlPayload {
		t.Fatalf("abort payload %d bytes, want truncation to %d", len(long), MaxControlPayload)
	}
	o, err := AppendOpen(nil, 3, []byte("hdr"))
	if err != nil {
		t.Fatal(err)
	}
	kind, hdr, err := ParseOpen(o)
	if err != nil || kind != 3 || string(hdr) != "hdr" {
		t.Fatalf("open round trip: %d %q %v", kind, hdr, err)
	}
	if _, err := AppendOpen(nil, 1, make([]byte, MaxControlPayload)); err == nil {
		t.Fatal("oversized open header accepted")
	}
}

func TestHello(t *testing.T) {
	h := &Hello{Version: ProtocolVersion, Mux: MuxSmuxV2, Name: "relay-1", Caps: []string{"rpc", "connect"}}
	b, err := AppendHello(nil, h)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ParseHelloHeader(b)
	if err != nil || n != len(b)-HelloHeaderLen {
		t.Fatalf("header: %d %v", n, err)
	}
	got, err := ParseHelloBody(b[HelloHeaderLen:])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Fatalf("got %+v, want %+v", got, h)
	}
	if _, err := ParseHelloHeader([]byte("SSH-2.0-x")); err == nil {
		t.Fatal("ssh banner taken for a hello")
	}
	if _, err := AppendHello(nil, &Hello{Name: string(make([]byte, 65))}); err == nil {
		t.Fatal("long name accepted")
	}
	if _, err := ParseHelloBody(append(b[HelloHeaderLen:], 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func sampleMsgs() []*Msg {
	return []*Msg{
		{Kind: MsgHello, Version: 1, MaxMsg: 32 << 20, MaxCalls: 1024, MaxRefs: 1 << 16},
		{Kind: MsgCall, ID: 7, Service: "calc", Method: "Add", Timeout: 5e9, Body: []byte{0x82, 1, 2}},
		{Kind: MsgCall, ID: 1 << 60, Obj: 0xdeadbeefcafe, Method: "", Body: []byte{0x80}},
		{Kind: MsgReply, ID: 7, Body: []byte{0x81, 3}},
		{Kind: MsgError, ID: 9, Code: "ErrNotExist", Type: "*fs.PathError", Text: "open x: no such file"},
		{Kind: MsgError, ID: 10, Type: "*errors.errorString", Text: "boom", Stack: "main.f()\n\t/src/main.go:3\n"},
		{Kind: MsgCancel, ID: 9},
		{Kind: MsgRelease, IDs: []uint64{1, 2, 1 << 63}},
		{Kind: MsgPing, ID: 3},
		{Kind: MsgPong, ID: 3},
	}
}

func msgEqual(a, b *Msg) bool {
	a2, b2 := *a, *b
	if len(a2.IDs) == 0 {
		a2.IDs = nil
	}
	if len(b2.IDs) == 0 {
		b2.IDs = nil
	}
	if len(a2.Body) == 0 {
		a2.Body = nil
	}
	if len(b2.Body) == 0 {
		b2.Body = nil
	}
	return reflect.DeepEqual(a2, b2)
}

func TestMsgRoundTrip(t *testing.T) {
	for _, m := range sampleMsgs() {
		t.Run(m.Kind.String(), func(t *testing.T) {
			b := AppendMsg(nil, m)
			var got Msg
			if err := ParseMsg(b, &got); err != nil {
				t.Fatal(err)
			}
			if !msgEqual(&got, m) {
				t.Fatalf("got %+v, want %+v", got, *m)
			}
		})
	}
}

func TestMsgBad(t *testing.T) {
	bad := map[string][]byte{
		"empty":          {},
		"unknown-kind":   {99, 1},
		"truncated-call": {byte(MsgCall), 1},
		"huge-string":    {byte(MsgError), 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"huge-release":   {byte(MsgRelease), 0xff, 0xff, 0xff, 0xff, 0x07},
		"trailing":       {byte(MsgPing), 1, 2},
		"bad-utf8":       {byte(MsgError), 1, 1, 0xff, 0, 0},
		"empty-stack":    {byte(MsgError), 1, 0, 0, 0, 0},
		"bad-utf8-stack": {byte(MsgError), 1, 0, 0, 0, 1, 0xff},
		"short-stack":    {byte(MsgError), 1, 0, 0, 0, 5, 'a'},
	}
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			var m Msg
			if err := ParseMsg(b, &m); !errors.Is(err, ErrBadMsg) {
				t.Fatalf("err = %v, want ErrBadMsg", err)
			}
		})
	}
}

func FuzzRecordHeader(f *testing.F) {
	for _, typ := range []RecordType{RecordData, RecordOpen, RecordEnd, RecordAbort} {
		var b [RecordHeaderLen]byte
		PutRecordHeader(b[:], typ, 0)
		f.Add(b[:])
	}
	f.Add([]byte{0, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, n, err := ParseRecordHeader(b)
		if err != nil {
			return
		}
		var out [RecordHeaderLen]byte
		PutRecordHeader(out[:], typ, n)
		if !bytes.Equal(out[:], b[:RecordHeaderLen]) {
			t.Fatalf("re-encoded %x, want %x", out, b[:RecordHeaderLen])
		}
		if typ == RecordAbort {
			if _, _, err := ParseAbort(make([]byte, n)); n >= 2 && err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzHello(f *testing.F) {
	for _, h := range []*Hello{
		{Version: 1, Mux: 2, Name: "n", Caps: []string{"rpc"}},
		{Version: 1, Mux: 2, Status: StatusRefused, Text: "no"},
	} {
		b, _ := AppendHello(nil, h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseHelloHeader(b)
		if err != nil || len(b) < HelloHeaderLen+n {
			return
		}
		h, err := ParseHelloBody(b[HelloHeaderLen : HelloHeaderLen+n])
		if err != nil {
			return
		}
		out, err := AppendHello(nil, h)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(out, b[:HelloHeaderLen+n]) {
			t.Fatalf("re-encoded %x, want %x", out, b[:HelloHeaderLen+n])
		}
	})
}

func FuzzMsg(f *testing.F) {
	for _, m := range sampleMsgs() {
		f.Add(AppendMsg(nil, m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Msg
		if err := ParseMsg(b, &m); err != nil {
			return
		}
		if len(m.IDs) > len(b) {
			t.Fatalf("%d ids from %d bytes", len(m.IDs), len(b))
		}
		out := AppendMsg(nil, &m)
		var again Msg
		if err := ParseMsg(out, &again); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !msgEqual(&m, &again) {
			t.Fatalf("round trip: %+v != %+v", m, again)
		}
	})
}

func TestConnect(t *testing.T) {
	for _, c := range []*Connect{
		{Network: ConnectTCP, Address: "10.1.0.2:22"},
		{Network: ConnectUDP, Address: "[::1]:7443"},
		{Network: ConnectExec, Address: "hopwire", Args: []string{"serve", "--stdio"}},
		{Network: ConnectAgent, Address: "db-agent"},
	} {
		b, err := AppendConnect(nil, c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseConnect(b)
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Fatalf("round trip %+v: %+v %v", c, got, err)
		}
	}
	for name, b := range map[string][]byte{
		"empty":         {},
		"bad-version":   {9, 1, 1, 'x', 0},
		"bad-network":   {1, 9, 1, 'x', 0},
		"empty-address": {1, 1, 0, 0},
		"huge-args":     {1, 3, 1, 'x', 0xff, 0xff, 0x03},
		"trailing":      {1, 1, 1, 'x', 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseConnect(b); !errors.Is(err, ErrBadConnect) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if _, err := AppendConnect(nil, &Connect{Network: ConnectTCP, Address: string(make([]byte, MaxControlPayload))}); err == nil {
		t.Fatal("oversized header accepted")
	}
}

func FuzzConnect(f *testing.F) {
	b, _ := AppendConnect(nil, &Connect{Network: ConnectExec, Address: "sh", Args: []string{"-c", "echo hi"}})
	f.Add(b)
	b, _ = AppendConnect(nil, &Connect{Network: ConnectTCP, Address: "127.0.0.1:80"})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConnect(b)
		if err != nil {
			return
		}
		out, err := AppendConnect(nil, c)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := ParseConnect(out)
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("round trip: %+v %+v %v", c, again, err)
		}
	})
}
