package dtls

import "sync"

// Buffers for segments and datagrams, in two classes: one for the
// Ethernet-sized payloads a conn starts with, one for the 8 KiB ones a
// probed loopback or jumbo path carries. Each segment sent, each segment
// received and each datagram a Listener routes would otherwise be an
// allocation of its own, and at 100 MB/s the garbage collector was a fifth
// of the transport's CPU.
var bufPools = [2]sync.Pool{
	{New: func() any { b := make([]byte, 0, smallBuf); return &b }},
	{New: func() any { b := make([]byte, 0, maxRecord); return &b }},
}

const smallBuf = 2048

// getBuf returns an empty buffer with room for n bytes.
func getBuf(n int) []byte {
	switch {
	case n <= smallBuf:
		return (*bufPools[0].Get().(*[]byte))[:0]
	case n <= maxRecord:
		return (*bufPools[1].Get().(*[]byte))[:0]
	}
	return make([]byte, 0, n)
}

// putBuf returns b, which nothing may use afterwards, to its pool.
func putBuf(b []byte) {
	switch cap(b) {
	case smallBuf:
		b = b[:0]
		bufPools[0].Put(&b)
	case maxRecord:
		b = b[:0]
		bufPools[1].Put(&b)
	}
}
