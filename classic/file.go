package classic

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/hopwire/hopwire/session"
)

// Open opens a file on the far side and returns it by reference: the
// caller gets a proxy whose Read, Write, Seek and Close run here ([File]
// wraps it in the io interfaces). flag and mode are os.OpenFile's.
func (s *Service) Open(name string, flag int, mode uint32) (_ session.Object, err error) {
	defer func() { audit(s.audit, "open", err, "path", bounded(name), "flag", flag) }()
	fsys, p, err := s.fs(name)
	if err != nil {
		return session.Object{}, err
	}
	f, err := fsys.OpenFile(p, flag, os.FileMode(mode).Perm())
	if err != nil {
		return session.Object{}, err
	}
	return session.ByRef(&handle{f: f}), nil
}

// maxChunk bounds one remote Read or Write of a handle: bulk transfers
// belong in ReadFile/WriteFile, which stream.
const maxChunk = 1 << 20

// handle is an open file, callable by reference.
type handle struct{ f *os.File }

// Read reads up to n bytes; at the end of the file it returns io.EOF
// (which crosses the wire as itself).
func (h *handle) Read(n int) ([]byte, error) {
	if n <= 0 || n > maxChunk {
		n = maxChunk
	}
	b := make([]byte, n)
	k, err := h.f.Read(b)
	if k > 0 {
		return b[:k], nil
	}
	return nil, err
}

// Write writes b.
func (h *handle) Write(b []byte) (int, error) { return h.f.Write(b) }

// Seek sets the offset, as io.Seeker.
func (h *handle) Seek(offset int64, whence int) (int64, error) { return h.f.Seek(offset, whence) }

// Close closes the file.
func (h *handle) Close() error { return h.f.Close() }

// File is a remote file: an io.ReadWriteSeeker and io.Closer whose
// methods are calls to a handle the far side keeps (see Service.Open).
// Close it: that closes the remote file and releases the reference. It is
// safe for use by one goroutine at a time, like an *os.File.
type File struct {
	ref  *session.Ref
	stub struct {
		Read  func(ctx context.Context, n int) ([]byte, error)
		Write func(ctx context.Context, b []byte) (int, error)
		Seek  func(ctx context.Context, offset int64, whence int) (int64, error)
		Close func(ctx context.Context) error
	}
	ctx context.Context
}

// OpenFile opens name on the far side through c (flag and mode as for
// os.OpenFile). ctx governs the calls made through the File.
func OpenFile(ctx context.Context, c *session.Conn, name string, flag int, mode os.FileMode) (*File, error) {
	var ref *session.Ref
	res, err := c.Service(ServiceName).Call(ctx, "Open", name, flag, uint32(mode))
	if err == nil {
		err = res.Decode(&ref)
	}
	if err != nil {
		return nil, err
	}
	f := &File{ref: ref, ctx: ctx}
	if err := ref.Bind(&f.stub); err != nil {
		ref.Release()
		return nil, err
	}
	return f, nil
}

var (
	_ io.ReadWriteSeeker = (*File)(nil)
	_ io.Closer          = (*File)(nil)
)

// Read reads into p.
func (f *File) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b, err := f.stub.Read(f.ctx, min(len(p), maxChunk))
	n := copy(p, b)
	if errors.Is(err, io.EOF) {
		return n, io.EOF
	}
	return n, err
}

// Write writes p.
func (f *File) Write(p []byte) (int, error) {
	var total int
	for len(p) > 0 {
		c := min(len(p), maxChunk)
		n, err := f.stub.Write(f.ctx, p[:c])
		total += n
		if err != nil {
			return total, err
		}
		p = p[c:]
	}
	return total, nil
}

// Seek sets the remote offset.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	return f.stub.Seek(f.ctx, offset, whence)
}

// Close closes the remote file and releases the handle.
func (f *File) Close() error {
	err := f.stub.Close(f.ctx)
	f.ref.Release()
	return err
}
