package session_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"

	"github.com/hopwire/hopwire/session"
)

// Calc is a service: its exported methods are callable by the peer.
type Calc struct{}

// Add adds.
func (Calc) Add(a, b int) int { return a + b }

// Map calls f on each element: f is a callback into the caller.
func (Calc) Map(ctx context.Context, xs []int, f func(context.Context, int) (int, error)) ([]int, error) {
	out := make([]int, len(xs))
	for i, x := range xs {
		y, err := f(ctx, x)
		if err != nil {
			return nil, err
		}
		out[i] = y
	}
	return out, nil
}

// Stat fails like os.Stat does for a missing file.
func (Calc) Stat(name string) (int64, error) {
	return 0, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

// pair connects two sessions over an in-memory pipe; in real use the
// net.Conn comes from an authenticated transport.
func pair() (client, server *session.Conn) {
	a, b := net.Pipe()
	ch := make(chan *session.Conn)
	go func() {
		l, _ := session.NewLink(b, session.Server, &session.LinkConfig{Name: "server"})
		c, _ := session.NewConn(context.Background(), l, nil)
		ch <- c
	}()
	l, _ := session.NewLink(a, session.Client, &session.LinkConfig{Name: "client"})
	client, _ = session.NewConn(context.Background(), l, nil)
	return client, <-ch
}

// Expose a service on one side and call it from the other.
func Example() {
	client, server := pair()
	defer client.Close()
	defer server.Close()
	server.Expose("calc", Calc{})

	ctx := context.Background()
	sum, err := session.Call[int](ctx, client.Service("calc"), "Add", 2, 3)
	fmt.Println(sum, err)
	// Output: 5 <nil>
}

// Pass a callback: the server calls back into the client.
func Example_callback() {
	client, server := pair()
	defer client.Close()
	defer server.Close()
	server.Expose("calc", Calc{})

	square := func(ctx context.Context, x int) (int, error) { return x * x, nil }
	ys, err := session.Call[[]int](context.Background(), client.Service("calc"), "Map", []int{1, 2, 3}, square)
	fmt.Println(ys, err)
	// Output: [1 4 9] <nil>
}

// Start a call and wait for its result later, like RPyC's async_.
func Example_async() {
	client, server := pair()
	defer client.Close()
	defer server.Close()
	server.Expose("calc", Calc{})

	ctx := context.Background()
	a := client.Service("calc").Go(ctx, "Add", 40, 2)
	done := make(chan struct{})
	a.OnReady(func(*session.Async) { close(done) })
	res, err := a.Wait(ctx)
	var sum int
	if err == nil {
		err = res.Decode(&sum)
	}
	<-done
	fmt.Println(sum, err, a.Ready())
	// Output: 42 <nil> true
}

// Catch a remote error with errors.Is, as if it were local.
func Example_remoteError() {
	client, server := pair()
	defer client.Close()
	defer server.Close()
	server.Expose("calc", Calc{})

	_, err := client.Service("calc").Call(context.Background(), "Stat", "/no/such/file")
	var re *session.RemoteError
	fmt.Println(errors.Is(err, fs.ErrNotExist), errors.As(err, &re), re.Type)
	fmt.Println(strings.TrimPrefix(err.Error(), "remote *fs.PathError: "))
	// Output:
	// true true *fs.PathError
	// stat /no/such/file: file does not exist
}

// Bind a typed stub: calls read like local method calls.
func ExampleRef_Bind() {
	client, server := pair()
	defer client.Close()
	defer server.Close()
	server.Expose("calc", Calc{})

	var calc struct {
		Add func(ctx context.Context, a, b int) (int, error)
	}
	if err := client.Service("calc").Bind(&calc); err != nil {
		panic(err)
	}
	fmt.Println(calc.Add(context.Background(), 20, 22))
	// Output: 42 <nil>
}

// Adder is the narrow view of Calc that ExposeAs hands out.
type Adder interface {
	Add(a, b int) int
}

// Expose only the methods of an interface: the others fail as unknown
// methods.
func ExampleExposeAs() {
	client, server := pair()
	defer client.Close()
	defer server.Close()
	session.ExposeAs[Adder](server, "adder", Calc{})

	ctx := context.Background()
	sum, err := session.Call[int](ctx, client.Service("adder"), "Add", 2, 3)
	fmt.Println(sum, err)
	_, err = client.Service("adder").Call(ctx, "Stat", "/etc")
	fmt.Println(errors.Is(err, session.ErrNoMethod))
	// Output:
	// 5 <nil>
	// true
}

// Greeter calls back into whoever called it: ConnFrom gives a handler the
// session its call arrived on.
type Greeter struct{}

func (Greeter) Hello(ctx context.Context) (string, error) {
	caller := session.ConnFrom(ctx)
	name, err := session.Call[string](ctx, caller.Service("me"), "Name")
	if err != nil {
		return "", err
	}
	return "hello, " + name, nil
}

type Me struct{}

func (Me) Name() string { return "ada" }

// A service reaches the caller's own exposed services, as RPyC's
// self._conn.root does.
func ExampleConnFrom() {
	client, server := pair()
	defer client.Close()
	defer server.Close()
	server.Expose("greeter", Greeter{})
	client.Expose("me", Me{})
	s, err := session.Call[string](context.Background(), client.Service("greeter"), "Hello")
	fmt.Println(s, err)
	// Output: hello, ada <nil>
}
