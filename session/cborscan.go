package session

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// errCBOR reports a malformed or refused CBOR item.
var errCBOR = errors.New("session: malformed CBOR")

// maxScanDepth bounds nesting while scanning, as the decoder does.
const maxScanDepth = 32

// maxResults bounds the values of a result list, and of a variadic call.
const maxResults = 1 << 12

// splitArray splits a CBOR array (the body of a call or reply) into its
// encoded items, as slices of body: no copies. It checks the structure
// only (definite lengths, depth, lengths within the body); each item's
// content is checked when it is decoded.
//
// At most max items are accepted, so a peer cannot make this side allocate
// more than the method (or result list) can take.
func splitArray(body []byte, max int) ([][]byte, error) {
	if len(body) == 0 || body[0]>>5 != 4 {
		return nil, fmt.Errorf("%w: not an array", errCBOR)
	}
	n, hl, err := cborArg(body)
	if err != nil {
		return nil, err
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%w: %d items, at most %d expected", errCBOR, n, max)
	}
	if n > uint64(len(body)) { // every item takes at least one byte
		return nil, fmt.Errorf("%w: array of %d items in %d bytes", errCBOR, n, len(body))
	}
	items := make([][]byte, 0, n)
	off := hl
	for i := uint64(0); i < n; i++ {
		l, err := cborItemLen(body[off:], 1)
		if err != nil {
			return nil, err
		}
		items = append(items, body[off:off+l:off+l])
		off += l
	}
	if off != len(body) {
		return nil, fmt.Errorf("%w: %d trailing bytes", errCBOR, len(body)-off)
	}
	return items, nil
}

// cborArg decodes the argument of the head at b[0]: the length, count or
// value, and the size of the head.
func cborArg(b []byte) (uint64, int, error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("%w: truncated", errCBOR)
	}
	info := b[0] & 0x1f
	switch {
	case info < 24:
		return uint64(info), 1, nil
	case info == 24:
		if len(b) < 2 {
			return 0, 0, fmt.Errorf("%w: truncated", errCBOR)
		}
		return uint64(b[1]), 2, nil
	case info == 25:
		if len(b) < 3 {
			return 0, 0, fmt.Errorf("%w: truncated", errCBOR)
		}
		return uint64(binary.BigEndian.Uint16(b[1:])), 3, nil
	case info == 26:
		if len(b) < 5 {
			return 0, 0, fmt.Errorf("%w: truncated", errCBOR)
		}
		return uint64(binary.BigEndian.Uint32(b[1:])), 5, nil
	case info == 27:
		if len(b) < 9 {
			return 0, 0, fmt.Errorf("%w: truncated", errCBOR)
		}
		return binary.BigEndian.Uint64(b[1:]), 9, nil
	}
	return 0, 0, fmt.Errorf("%w: indefinite length or reserved head 0x%02x", errCBOR, b[0])
}

// cborItemLen returns the encoded length of the item at b.
func cborItemLen(b []byte, depth int) (int, error) {
	if depth > maxScanDepth {
		return 0, fmt.Errorf("%w: nested deeper than %d", errCBOR, maxScanDepth)
	}
	if len(b) == 0 {
		return 0, fmt.Errorf("%w: truncated", errCBOR)
	}
	major := b[0] >> 5
	if major == 7 {
		switch info := b[0] & 0x1f; {
		case info < 24:
			return 1, nil
		case info == 24:
			return 2, lenErr(b, 2)
		case info == 25:
			return 3, lenErr(b, 3)
		case info == 26:
			return 5, lenErr(b, 5)
		case info == 27:
			return 9, lenErr(b, 9)
		}
		return 0, fmt.Errorf("%w: reserved or break byte 0x%02x", errCBOR, b[0])
	}
	arg, hl, err := cborArg(b)
	if err != nil {
		return 0, err
	}
	rest := uint64(len(b) - hl)
	switch major {
	case 0, 1:
		return hl, nil
	case 2, 3:
		if arg > rest {
			return 0, fmt.Errorf("%w: string of %d bytes in %d", errCBOR, arg, rest)
		}
		return hl + int(arg), nil
	case 4, 5:
		items := arg
		if major == 5 {
			if arg > rest/2 {
				return 0, fmt.Errorf("%w: map of %d pairs in %d bytes", errCBOR, arg, rest)
			}
			items = 2 * arg
		}
		if items > rest {
			return 0, fmt.Errorf("%w: %d items in %d bytes", errCBOR, items, rest)
		}
		off := hl
		for i := uint64(0); i < items; i++ {
			l, err := cborItemLen(b[off:], depth+1)
			if err != nil {
				return 0, err
			}
			off += l
		}
		return off, nil
	case 6:
		l, err := cborItemLen(b[hl:], depth+1)
		if err != nil {
			return 0, err
		}
		return hl + l, nil
	}
	return 0, fmt.Errorf("%w: bad head 0x%02x", errCBOR, b[0])
}

func lenErr(b []byte, n int) error {
	if len(b) < n {
		return fmt.Errorf("%w: truncated", errCBOR)
	}
	return nil
}
