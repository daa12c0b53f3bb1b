package session

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// chunkReader returns data in chunks of random sizes, then err.
type chunkReader struct {
	data []byte
	rng  *rand.Rand
	err  error
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, c.err
	}
	n := min(len(p), len(c.data), 1+c.rng.IntN(40<<10))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// TestReadBuf checks that reads through a readBuf, of any sizes, see the
// source's bytes in order and then its error.
func TestReadBuf(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		data := make([]byte, rng.IntN(200<<10))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		wantErr := errors.New("broken")
		b := &readBuf{src: &chunkReader{data: data, rng: rng, err: wantErr}}
		var got bytes.Buffer
		for {
			p := make([]byte, 1+rng.IntN(40<<10))
			if rng.IntN(3) == 0 {
				p = p[:8] // a frame header
			}
			n, err := b.Read(p)
			got.Write(p[:n])
			if err != nil {
				if err != wantErr {
					t.Fatalf("round %d: error %v, want %v", round, err, wantErr)
				}
				break
			}
		}
		if !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("round %d: read %d bytes that differ from the %d sent", round, got.Len(), len(data))
		}
	}
}

// TestReadBufIdle checks that a link waiting for small frames (keepalives)
// holds no big buffer: it is taken for a burst and given back after it.
func TestReadBufIdle(t *testing.T) {
	pr, pw := io.Pipe()
	defer pr.Close()
	b := &readBuf{src: pr}
	go func() {
		pw.Write(make([]byte, 8))              // a keepalive
		pw.Write(make([]byte, 3*readBufSmall)) // a burst: fills the small buffer, then a big one
		pw.Write(make([]byte, 8))              // a keepalive after it
		pw.Close()
	}()
	p := make([]byte, 8)
	if _, err := io.ReadFull(b, p); err != nil || b.big != nil {
		t.Fatalf("after a keepalive: err %v, holding a big buffer: %v", err, b.big != nil)
	}
	sawBig := false
	for range 3 * readBufSmall / 8 {
		if _, err := io.ReadFull(b, p); err != nil {
			t.Fatal(err)
		}
		sawBig = sawBig || b.big != nil
	}
	if !sawBig {
		t.Error("a burst was read without the big buffer")
	}
	if _, err := io.ReadFull(b, p); err != nil || b.big != nil {
		t.Fatalf("after the burst and a keepalive: err %v, holding a big buffer: %v", err, b.big != nil)
	}
	if _, err := b.Read(p); err != io.EOF {
		t.Fatalf("at the end: %v, want EOF", err)
	}
}
