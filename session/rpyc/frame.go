package rpyc

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// frameHeader is the length (u32, big endian) and the compression flag.
const frameHeader = 5

// ErrFrameTooLarge: a frame (or its inflated payload) exceeds the limit.
var ErrFrameTooLarge = errors.New("rpyc: frame too large")

// readFrame reads one channel frame from r and returns its payload,
// inflated if the peer compressed it. Memory grows with the bytes that
// actually arrive, never with the declared length alone.
func readFrame(r io.Reader, buf *bytes.Buffer, limit int) ([]byte, error) {
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int64(binary.BigEndian.Uint32(hdr[:4]))
	flag := hdr[4]
	if flag > 1 {
		return nil, fmt.Errorf("%w: compression flag %d", ErrProtocol, flag)
	}
	if n > int64(limit) {
		return nil, fmt.Errorf("%w: %d bytes declared, limit %d", ErrFrameTooLarge, n, limit)
	}
	buf.Reset()
	// The payload and the trailing newline, which is not checked.
	if got, err := io.CopyN(buf, r, n+1); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("rpyc: frame cut short after %d of %d bytes: %w", got, n+1, err)
	}
	p := buf.Bytes()[:n]
	if flag == 0 {
		return p, nil
	}
	return inflate(p, limit)
}

// inflate undoes zlib compression, refusing output beyond limit.
func inflate(p []byte, limit int) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(p))
	if err != nil {
		return nil, fmt.Errorf("%w: zlib: %v", ErrProtocol, err)
	}
	defer zr.Close()
	var out bytes.Buffer
	if _, err := io.Copy(&out, io.LimitReader(zr, int64(limit)+1)); err != nil {
		return nil, fmt.Errorf("%w: zlib: %v", ErrProtocol, err)
	}
	if out.Len() > limit {
		return nil, fmt.Errorf("%w: inflates past %d bytes", ErrFrameTooLarge, limit)
	}
	return out.Bytes(), nil
}

// sealFrame turns msg, which starts with frameHeader reserved bytes
// followed by the payload, into a complete frame: header filled in,
// payload compressed when it is longer than threshold (0: never), and the
// trailing newline.
func sealFrame(msg []byte, threshold int) []byte {
	payload := msg[frameHeader:]
	if threshold > 0 && len(payload) > threshold {
		var z bytes.Buffer
		z.Grow(frameHeader + len(payload)/2)
		z.Write(make([]byte, frameHeader))
		zw, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
		zw.Write(payload)
		zw.Close()
		if z.Len() < len(msg) {
			out := z.Bytes()
			binary.BigEndian.PutUint32(out, uint32(len(out)-frameHeader))
			out[4] = 1
			return append(out, '\n')
		}
	}
	binary.BigEndian.PutUint32(msg, uint32(len(payload)))
	msg[4] = 0
	return append(msg, '\n')
}
