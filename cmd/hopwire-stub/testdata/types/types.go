// Package types has methods whose parameters and results are of types
// from this and other packages, two of which have the same name.
package types

import (
	"context"
	htmltemplate "html/template"
	"io"
	"text/template"
	"time"

	hsession "github.com/hopwire/hopwire/session"
)

type Point struct{ X, Y int }

type Celsius float64

type Name string

type Grid [2][2]int

// session and session2 are names of this package: the stubs import the
// session package under yet another name.
type session2 = int

var session = "not the package"

type Kinds interface {
	Counter(ctx context.Context, start int) (*hsession.Ref, error)
	Callback(ctx context.Context, f func(context.Context, int) (int, error)) (func(context.Context) error, error)
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	Upload(ctx context.Context, name string, r io.Reader) (int64, error)
	When(ctx context.Context) (time.Time, time.Duration, error)
	Local(ctx context.Context, p Point, c Celsius) (Point, Celsius, Name, Grid, error)
	Composite(ctx context.Context, m map[string][]Point) (map[Name]*Point, []byte, struct{ A int }, error)
	Templates(ctx context.Context, t *template.Template) (*htmltemplate.Template, error)
	Anything(ctx context.Context, v any) (any, error, error)
}
