// Package example is hopwire-stub's worked example: a contract (the
// interfaces Calc and Counter), the stubs generated for it
// (calc_stub.go), and tests that serve an implementation with
// session.ExposeAs and call it through the stubs over a real session.
package example

import (
	"context"
	"errors"
	"io"
)

//go:generate go run github.com/hopwire/hopwire/cmd/hopwire-stub -type Calc,Counter

// ErrDivByZero is Div's error for a zero divisor. Errors registers it, so
// that errors.Is finds it in the caller's error.
var ErrDivByZero = errors.New("example: division by zero")

// Errors are the application's errors by wire code, for both sides'
// session.Options.Errors.
var Errors = map[string]error{"div-by-zero": ErrDivByZero}

// Adder is embedded in Calc: a stub has the methods of embedded
// interfaces too.
type Adder interface {
	Add(ctx context.Context, a, b int) (int, error)
}

// Calc is the contract of a calculator service. Its serving side is
// session.ExposeAs[Calc](conn, "calc", impl); its calling side is
// NewCalcStub(conn.Service("calc")).
type Calc interface {
	Adder
	// Div returns a/b and a%b, or ErrDivByZero.
	Div(ctx context.Context, a, b int) (q, r int, err error)
	// Sum adds its arguments.
	Sum(ctx context.Context, xs ...int) (int, error)
	// Map calls f, a callback into the caller, on each element of xs.
	Map(ctx context.Context, xs []int, f func(context.Context, int) (int, error)) ([]int, error)
	// Counter returns a counter that stays with the serving side: it
	// returns session.ByRefAs[Counter](c), and the caller receives a
	// *session.Ref, which NewCounterStub makes a Counter. (The result is
	// declared any because those two types are not the same.)
	Counter(ctx context.Context, start int) (any, error)
	// Open returns a document as a stream.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// Wait returns when ctx ends, with ctx's error: the caller's
	// cancellation reaches it.
	Wait(ctx context.Context) error
}

// Counter is an object handed out by reference.
type Counter interface {
	Incr(ctx context.Context) (int, error)
}
