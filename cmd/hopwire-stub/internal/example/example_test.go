package example_test

import (
	"context"
	"fmt"
	"net"

	"github.com/hopwire/hopwire/cmd/hopwire-stub/internal/example"
	"github.com/hopwire/hopwire/session"
)

// connect makes the two sessions of one link over an in-memory pipe; in
// real use the net.Conn comes from an authenticated transport (or the
// whole chain from hopwire.Dial). Both sides register the application's
// errors.
func connect(ctx context.Context) (client, server *session.Conn, err error) {
	a, b := net.Pipe()
	opts := &session.Options{Errors: example.Errors}
	type result struct {
		c   *session.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		l, err := session.NewLink(b, session.Server, &session.LinkConfig{Name: "server"})
		if err != nil {
			b.Close()
			ch <- result{nil, err}
			return
		}
		c, err := session.NewConn(ctx, l, opts)
		ch <- result{c, err}
	}()
	l, err := session.NewLink(a, session.Client, &session.LinkConfig{Name: "client"})
	if err == nil {
		client, err = session.NewConn(ctx, l, opts)
	} else {
		a.Close()
	}
	r := <-ch
	if err == nil {
		err = r.err
	}
	if err != nil {
		if client != nil {
			client.Close()
		}
		if r.c != nil {
			r.c.Close()
		}
		return nil, nil, err
	}
	return client, r.c, nil
}

// The contract-first path: the server exposes an implementation through
// the interface, the client calls it through the generated stub.
func ExampleNewCalcStub() {
	ctx := context.Background()
	client, server, err := connect(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	defer server.Close()

	// The serving side: only Calc's methods are callable.
	if err := session.ExposeAs[example.Calc](server, "calc", &calculator{}); err != nil {
		fmt.Println(err)
		return
	}

	// The calling side: conn.root.add(1, 2) in RPyC.
	calc := example.NewCalcStub(client.Service("calc"))
	sum, err := calc.Add(ctx, 1, 2)
	fmt.Println(sum, err)

	q, r, err := calc.Div(ctx, 17, 5)
	fmt.Println(q, r, err)

	square := func(ctx context.Context, x int) (int, error) { return x * x, nil }
	ys, err := calc.Map(ctx, []int{1, 2, 3}, square)
	fmt.Println(ys, err)

	// An object by reference, called through its own stub.
	v, err := calc.Counter(ctx, 10)
	if err != nil {
		fmt.Println(err)
		return
	}
	ref := v.(*session.Ref)
	counter := example.NewCounterStub(ref)
	n, err := counter.Incr(ctx)
	fmt.Println(n, err)
	ref.Release()
	// Output:
	// 3 <nil>
	// 3 2 <nil>
	// [1 4 9] <nil>
	// 11 <nil>
}
