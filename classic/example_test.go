package classic_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/hopwire/hopwire/classic"
	"github.com/hopwire/hopwire/session"
)

// connect serves the classic service over an in-memory pipe; in real use
// the session comes from hopwire.Dial through a chain.
func connect(extra map[string]any) (*session.Conn, func()) {
	a, b := net.Pipe()
	services := map[string]any{classic.ServiceName: &classic.Service{}}
	for k, v := range extra {
		services[k] = v
	}
	ch := make(chan *session.Conn)
	go func() {
		l, _ := session.NewLink(b, session.Server, nil)
		c, _ := session.NewConn(context.Background(), l, &session.Options{Services: services})
		ch <- c
	}()
	l, _ := session.NewLink(a, session.Client, nil)
	client, _ := session.NewConn(context.Background(), l, nil)
	server := <-ch
	return client, func() { client.Close(); server.Close() }
}

// RPyC's remote_ls: list a directory on the far side with each entry's
// size, owner and name.
func Example_remoteLs() {
	dir, _ := os.MkdirTemp("", "ls")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.bin"), make([]byte, 1024), 0o600)

	conn, done := connect(nil)
	defer done()
	c := classic.New(conn)
	entries, err := c.ReadDir(context.Background(), dir)
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		fmt.Println(e.Size, e.UID == os.Getuid(), e.Name)
	}
	// Output:
	// 5 true a.txt
	// 1024 true b.bin
}

// A remote "no such file" is caught with errors.Is, as if it were local.
func Example_notExist() {
	conn, done := connect(nil)
	defer done()
	_, err := classic.New(conn).Stat(context.Background(), "/no/such/file")
	fmt.Println(errors.Is(err, fs.ErrNotExist))
	// Output: true
}

// Shouter calls back into its caller for each word.
type Shouter struct{}

// Each calls emit for every word of s, in capitals.
func (Shouter) Each(ctx context.Context, s string, emit func(context.Context, string) error) error {
	for _, w := range strings.Fields(s) {
		if err := emit(ctx, strings.ToUpper(w)); err != nil {
			return err
		}
	}
	return nil
}

// The far side calls back into this side: a func passed as an argument.
func Example_callback() {
	conn, done := connect(map[string]any{"shout": Shouter{}})
	defer done()
	var got []string
	_, err := conn.Service("shout").Call(context.Background(), "Each", "through the chain",
		func(ctx context.Context, w string) error { got = append(got, w); return nil })
	fmt.Println(got, err)
	// Output: [THROUGH THE CHAIN] <nil>
}

// Start a remote command and collect its result later (RPyC's async_).
func Example_async() {
	conn, done := connect(nil)
	defer done()
	ctx := context.Background()
	a := conn.Service(classic.ServiceName).Go(ctx, "Checksum", "/dev/null", int64(-1))
	// … other work …
	res, err := a.Wait(ctx)
	var sum string
	if err == nil {
		err = res.Decode(&sum)
	}
	fmt.Println(sum[:16], err)
	// Output: e3b0c44298fc1c14 <nil>
}
