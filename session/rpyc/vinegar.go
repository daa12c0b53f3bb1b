package rpyc

import (
	"errors"
	"fmt"
	"sort"
)

// loadException turns an EXCEPTION body into a *RemoteError.
func loadException(body any) error {
	if n, ok := body.(int64); ok && n == excStopIteration {
		return &RemoteError{Module: "builtins", Type: "StopIteration"}
	}
	if s, ok := body.(string); ok { // a string exception of old
		return &RemoteError{Type: s}
	}
	t, ok := body.(Tuple)
	if !ok || len(t) != 4 {
		return fmt.Errorf("%w: exception body %s", ErrProtocol, pyRepr(body))
	}
	name, ok := t[0].(Tuple)
	if !ok || len(name) != 2 {
		return fmt.Errorf("%w: exception name %s", ErrProtocol, pyRepr(t[0]))
	}
	mod, _ := name[0].(string)
	cls, _ := name[1].(string)
	e := &RemoteError{Module: mod, Type: cls, Attrs: map[string]any{}}
	e.Args, _ = t[1].(Tuple)
	if attrs, ok := t[2].(Tuple); ok {
		for _, a := range attrs {
			if pair, ok := a.(Tuple); ok && len(pair) == 2 {
				if k, ok := pair[0].(string); ok {
					e.Attrs[k] = pair[1]
				}
			}
		}
	}
	e.Traceback, _ = t[3].(string)
	return e
}

// dumpException appends the exception body for err; version is its
// _remote_version.
func dumpException(b []byte, err error, version string) []byte {
	if errors.Is(err, ErrStopIteration) {
		if re := (*RemoteError)(nil); !errors.As(err, &re) || re.Type == "StopIteration" {
			return appendInt(b, excStopIteration)
		}
	}
	re := goErrorToPy(err)
	mod := re.Module
	if mod == "" {
		mod = "builtins"
	}
	args := make(Tuple, len(re.Args))
	for i, a := range re.Args {
		args[i] = brineOrRepr(a)
	}
	keys := make([]string, 0, len(re.Attrs))
	for k := range re.Attrs {
		if k != "_remote_version" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	attrs := make(Tuple, 0, len(keys)+1)
	for _, k := range keys {
		attrs = append(attrs, Tuple{k, brineOrRepr(re.Attrs[k])})
	}
	attrs = append(attrs, Tuple{"_remote_version", version})
	tb := re.Traceback
	if _, denied := err.(tracebackDenied); denied {
		tb = "<traceback denied>"
	} else if tb == "" {
		tb = goTraceback(err, re)
	}
	out, encErr := appendBrine(b, Tuple{Tuple{mod, re.Type}, args, attrs, tb})
	if encErr != nil { // cannot happen: every item is brine by now
		out, _ = appendBrine(b, Tuple{Tuple{"builtins", "RuntimeError"}, Tuple{err.Error()}, Tuple{}, ""})
	}
	return out
}

func brineOrRepr(v any) any {
	if _, err := appendBrine(nil, v); err != nil {
		return pyRepr(v)
	}
	return v
}

// handlerError is the error of a Go handler, with the name of the method
// or func that returned it, for the traceback.
type handlerError struct {
	where string
	err   error
}

func (e *handlerError) Error() string { return e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

// goTraceback is the remote traceback text a Python peer shows for an
// error of this side, laid out as Python's own: where it happened (a Go
// handler has no Python frames), then "Type: message", the line tools
// that read tracebacks look for.
func goTraceback(err error, re *RemoteError) string {
	where := "in the hopwire Go service"
	var he *handlerError
	if errors.As(err, &he) {
		where = "in Go " + he.where
	}
	msg := re.Message()
	line := re.Type
	if re.Module != "" && re.Module != "builtins" {
		line = re.Module + "." + line
	}
	if msg != "" {
		line += ": " + msg
	}
	goErr := err
	if he != nil {
		goErr = he.err
	}
	return fmt.Sprintf("Traceback (most recent call last):\n  %s (Go error %T)\n%s\n", where, goErr, line)
}

// tracebackDenied marks an error whose traceback is not sent
// (Options.DenyTraceback).
type tracebackDenied struct{ error }

func (e tracebackDenied) Unwrap() error { return e.error }
