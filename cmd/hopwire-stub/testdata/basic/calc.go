// Package basic is hopwire-stub's plainest case: one interface of plain
// values, variadics and several results.
package basic

import "context"

type Calc interface {
	Add(ctx context.Context, a, b int) (int, error)
	// Div has named results, which name the stub's variables.
	Div(ctx context.Context, a, b int) (q, r int, err error)
	// Sum is variadic: its elements go as arguments of their own.
	Sum(ctx context.Context, xs ...int) (int, error)
	// Logf has fixed parameters before a ...any.
	Logf(ctx context.Context, level int, format string, args ...any) error
	// Print passes its ...any on as it is.
	Print(ctx context.Context, args ...any) error
	// Reset has no results but the error.
	Reset(context.Context) error
	// Unnamed has neither parameter nor result names.
	Unnamed(context.Context, int, string) (float64, bool, string, error)
	// Shadow's names collide with what the stub's body uses.
	Shadow(s context.Context, res, err int, int64 string) (res2 int64, len string, _ error)
}

// pinger is unexported: its constructor is newPingerStub.
type pinger interface {
	Ping(ctx context.Context) error
}
