// Package embed has interfaces that embed others, of this package and of
// another, and is generated with two -type names into one file.
package embed

import (
	"context"

	"github.com/hopwire/hopwire/cmd/hopwire-stub/testdata/embed/lister"
)

type Reader interface {
	Get(ctx context.Context, key string) ([]byte, error)
}

type Store interface {
	Reader
	lister.Lister
	Put(ctx context.Context, key string, value []byte) error
}

// The package uses the stubs (the file of an earlier run is left out
// while generating, and these uses do not stop it).
var (
	_ Store  = NewStoreStub(nil)
	_ Reader = NewReaderStub(nil)
)
