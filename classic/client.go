package classic

import (
	"context"
	"io"

	"github.com/hopwire/hopwire/session"
)

// ServiceName is the name a node exposes the classic service under.
const ServiceName = "classic"

// Client is the typed client of a node's classic service: each field calls
// the method of the same name on the far side (see [Service]); remote
// errors keep errors.Is (fs.ErrNotExist, fs.ErrPermission, …).
type Client struct {
	Stat       func(ctx context.Context, name string) (FileInfo, error)
	Lstat      func(ctx context.Context, name string) (FileInfo, error)
	ReadDir    func(ctx context.Context, name string) ([]FileInfo, error)
	ReadFile   func(ctx context.Context, name string, offset int64) (io.ReadCloser, error)
	WriteFile  func(ctx context.Context, name string, r io.Reader, mode uint32) (int64, error)
	AppendFile func(ctx context.Context, name string, r io.Reader, mode uint32) (int64, error)
	Remove     func(ctx context.Context, name string) error
	RemoveAll  func(ctx context.Context, name string) error
	MkdirAll   func(ctx context.Context, name string, mode uint32) error
	Rename     func(ctx context.Context, from, to string) error
	Chmod      func(ctx context.Context, name string, mode uint32) error
	Chown      func(ctx context.Context, name string, uid, gid int) error
	Symlink    func(ctx context.Context, oldname, newname string) error
	Readlink   func(ctx context.Context, name string) (string, error)
	Glob       func(ctx context.Context, pattern string) ([]string, error)
	Checksum   func(ctx context.Context, name string, n int64) (string, error)
	DiskUsage  func(ctx context.Context, name string) (int64, error)
	Host       func(ctx context.Context) (HostInfo, error)
	Environ    func(ctx context.Context) ([]string, error)
	Getenv     func(ctx context.Context, key string) (string, bool, error)
	Run        func(ctx context.Context, req RunRequest, stdin io.Reader, stdout, stderr io.Writer) (int, error)
	Start      func(ctx context.Context, req RunRequest) (int, error)
	Signal     func(ctx context.Context, pid int, sig string) error
	RunTTY     func(ctx context.Context, req RunRequest, rows, cols int, stdin io.Reader, stdout io.Writer,
		events func(context.Context) (TTYEvent, error)) (int, error)
}

// New binds a Client to the classic service of the session's peer.
func New(c *session.Conn) *Client {
	var cl Client
	if err := c.Service(ServiceName).Bind(&cl); err != nil {
		panic(err) // the struct above is fixed: Bind cannot fail on it
	}
	return &cl
}
