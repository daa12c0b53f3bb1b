// Package stale has a stub file from an earlier version of its
// interface, which no longer compiles: regenerating replaces it.
package stale

import "context"

type Calc interface {
	Add(ctx context.Context, a, b int) (int, error)
	Neg(ctx context.Context, a int) (int, error)
}
