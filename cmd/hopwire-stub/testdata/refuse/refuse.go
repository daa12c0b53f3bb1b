// Package refuse has interfaces that hopwire-stub refuses, one rule each.
package refuse

import (
	"context"
	"io"
	"unsafe"
)

type NoCtx interface {
	Add(a, b int) (int, error)
}

type CtxSecond interface {
	Add(a int, ctx context.Context) error
}

type NoErr interface {
	Add(ctx context.Context, a, b int) int
}

type ErrFirst interface {
	Add(ctx context.Context, a, b int) (error, int)
}

type NoResults interface {
	Ping(ctx context.Context)
}

type Embeds interface {
	io.Closer
	Get(ctx context.Context) error
}

type Unexported interface {
	get(ctx context.Context) error
}

type Chan interface {
	Feed(ctx context.Context, c chan int) error
}

type ChanResult interface {
	Watch(ctx context.Context) (<-chan int, error)
}

type VariadicChan interface {
	Feed(ctx context.Context, cs ...chan int) error
}

type Unsafe interface {
	Peek(ctx context.Context, p unsafe.Pointer) error
}

type Generic[T any] interface {
	Get(ctx context.Context) (T, error)
}

type Constraint interface {
	~int
	Get(ctx context.Context) error
}

type Empty interface{}

type NotIface struct{}

type Broken interface {
	Get(ctx context.Context) (Missing, error)
}

type Taken interface {
	Get(ctx context.Context) error
}

func NewTakenStub() {}

func NotAType() {}

// NoCtx2 and noCtx2 are fine each, but would share a stub type.
type NoCtx2 interface {
	Add(ctx context.Context, a, b int) (int, error)
}

type noCtx2 interface {
	Add(ctx context.Context, a, b int) (int, error)
}
