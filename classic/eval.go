package classic

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"
)

// EvalServiceName is the name a node exposes the evaluator under, to
// principals granted classic=eval only.
const EvalServiceName = "eval"

// Evaluator evaluates Go source on the far side — RPyC's execute/eval —
// with the standard library available (github.com/traefik/yaegi). State
// persists between calls of one session: declare a func in one call, call
// it in the next. It is safe for concurrent use (calls are serialised).
type Evaluator struct {
	// Audit, if set, receives one INFO record per evaluation: the
	// source's digest and length (never its text) and the outcome.
	Audit *slog.Logger

	mu sync.Mutex
	in *interp.Interpreter
}

// Eval evaluates src and returns the value of its last expression: data
// by value; a func by reference, so the caller gets a func that runs
// here. The call's context cancels a running evaluation.
func (e *Evaluator) Eval(ctx context.Context, src string) (_ any, err error) {
	defer func(start time.Time) {
		audit(e.Audit, "eval", err, "source", sourceDigest(src), "bytes", len(src), "took", since(start))
	}(time.Now())
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.in == nil {
		e.in = interp.New(interp.Options{})
		if err := e.in.Use(stdlib.Symbols); err != nil {
			return nil, err
		}
	}
	v, err := e.in.EvalWithContext(ctx, src)
	if err != nil {
		return nil, err
	}
	if !v.IsValid() || (v.Kind() == reflect.Func && v.IsNil()) {
		return nil, nil
	}
	return v.Interface(), nil
}
