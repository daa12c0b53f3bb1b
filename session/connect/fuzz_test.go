package connect

import (
	"bytes"
	"testing"
)

// FuzzReadDatagram reads framed datagrams of a connect udp stream: no
// panic, each no longer than the buffer, and never more than was sent.
func FuzzReadDatagram(f *testing.F) {
	var b bytes.Buffer
	WriteDatagram(&b, []byte("one"))
	WriteDatagram(&b, make([]byte, 3000))
	f.Add(b.Bytes())
	f.Add([]byte{0xff, 0xff, 1, 2})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		buf := make([]byte, 1500)
		for {
			n, err := ReadDatagram(r, buf)
			if err != nil {
				return
			}
			if n > len(buf) {
				t.Fatalf("datagram of %d bytes in a %d-byte buffer", n, len(buf))
			}
		}
	})
}
