// Package lister declares an interface that testdata/embed embeds from
// another package.
package lister

import "context"

type Lister interface {
	List(ctx context.Context, prefix string) ([]string, error)
}
