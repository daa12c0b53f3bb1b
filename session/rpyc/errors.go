package rpyc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// Errors a caller may match with errors.Is.
var (
	// ErrClosed: the connection is closed (by either side, or broken).
	ErrClosed = errors.New("rpyc: connection closed")
	// ErrProtocol: the peer sent something the protocol does not allow;
	// the connection is closed.
	ErrProtocol = errors.New("rpyc: protocol violation")
	// ErrReleased: the proxy was released with Release and is unusable.
	ErrReleased = errors.New("rpyc: proxy released")
	// ErrStopIteration: the remote side raised StopIteration.
	ErrStopIteration = errors.New("rpyc: StopIteration")
	// ErrBadArgs: the arguments a peer sent do not fit the Go function.
	ErrBadArgs = errors.New("rpyc: bad arguments")
	// ErrNoAttr: the Go object has no such attribute (AttributeError on
	// the Python side).
	ErrNoAttr = errors.New("rpyc: no such attribute")
	// ErrNotReady: Async.Result was asked before the result arrived.
	ErrNotReady = errors.New("rpyc: result not ready")
	// ErrDialect: Dial could not find out which dialect (5.x or 6.x) the
	// server speaks, or the peer closed the connection on this side's
	// dialect; Options.Dialect chooses it.
	ErrDialect = errors.New("rpyc: dialect")
)

// RemoteError is an exception raised on the far side: a Python exception
// from a Python peer, or an error a Go handler returned. errors.Is sees
// through it to the Go sentinel of its Python type (FileNotFoundError is
// fs.ErrNotExist, PermissionError fs.ErrPermission, FileExistsError
// fs.ErrExist, TimeoutError os.ErrDeadlineExceeded, EOFError io.EOF,
// NotImplementedError errors.ErrUnsupported, StopIteration
// ErrStopIteration), also for subclasses of builtin exceptions, and it
// matches a *RemoteError target whose Type (and Module, if set) name the
// exception or one of its builtin base classes:
//
//	errors.Is(err, &rpyc.RemoteError{Type: "OSError"})
//
// A Go handler may return a *RemoteError to raise that exact exception in
// a Python caller.
type RemoteError struct {
	Module    string // "builtins" for Python's own exceptions
	Type      string // the exception class, e.g. "FileNotFoundError"
	Args      Tuple  // the exception's args (non-brine items as their repr)
	Attrs     map[string]any
	Traceback string // the remote traceback text, if the peer sent one
}

func (e *RemoteError) Error() string {
	var b strings.Builder
	b.WriteString("rpyc: remote ")
	if e.Module != "" && e.Module != "builtins" {
		b.WriteString(e.Module + ".")
	}
	b.WriteString(e.Type)
	if msg := e.Message(); msg != "" {
		b.WriteString(": " + msg)
	}
	return b.String()
}

// Message renders the exception's arguments the way Python's str() does
// for the common cases.
func (e *RemoteError) Message() string {
	if len(e.Args) == 2 {
		if errno, ok := e.Args[0].(int64); ok {
			msg := fmt.Sprintf("[Errno %d] %v", errno, e.Args[1])
			if fn, ok := e.Attrs["filename"]; ok && fn != nil {
				msg += fmt.Sprintf(": %s", pyRepr(fn))
			}
			return msg
		}
	}
	switch len(e.Args) {
	case 0:
		return ""
	case 1:
		if s, ok := e.Args[0].(string); ok {
			if e.Type == "KeyError" {
				return pyRepr(s)
			}
			return s
		}
		return pyRepr(e.Args[0])
	}
	return pyRepr(e.Args)
}

// builtinBase maps Python's builtin exceptions to their base class, far
// enough to answer errors.Is for the usual families.
var builtinBase = map[string]string{
	"Exception": "BaseException", "KeyboardInterrupt": "BaseException", "SystemExit": "BaseException",
	"GeneratorExit":   "BaseException",
	"ArithmeticError": "Exception", "AssertionError": "Exception", "AttributeError": "Exception",
	"BufferError": "Exception", "EOFError": "Exception", "ImportError": "Exception",
	"LookupError": "Exception", "MemoryError": "Exception", "NameError": "Exception",
	"OSError": "Exception", "ReferenceError": "Exception", "RuntimeError": "Exception",
	"StopIteration": "Exception", "StopAsyncIteration": "Exception", "SyntaxError": "Exception",
	"SystemError": "Exception", "TypeError": "Exception", "ValueError": "Exception", "Warning": "Exception",
	"FloatingPointError": "ArithmeticError", "OverflowError": "ArithmeticError", "ZeroDivisionError": "ArithmeticError",
	"ModuleNotFoundError": "ImportError", "IndexError": "LookupError", "KeyError": "LookupError",
	"UnboundLocalError": "NameError", "NotImplementedError": "RuntimeError", "RecursionError": "RuntimeError",
	"IndentationError": "SyntaxError", "TabError": "IndentationError", "UnicodeError": "ValueError",
	"UnicodeDecodeError": "UnicodeError", "UnicodeEncodeError": "UnicodeError",
	"BlockingIOError": "OSError", "ChildProcessError": "OSError", "ConnectionError": "OSError",
	"FileExistsError": "OSError", "FileNotFoundError": "OSError", "InterruptedError": "OSError",
	"IsADirectoryError": "OSError", "NotADirectoryError": "OSError", "PermissionError": "OSError",
	"ProcessLookupError": "OSError", "TimeoutError": "OSError",
	"BrokenPipeError": "ConnectionError", "ConnectionAbortedError": "ConnectionError",
	"ConnectionRefusedError": "ConnectionError", "ConnectionResetError": "ConnectionError",
}

// pySentinels: Python builtin exception → Go sentinel.
var pySentinels = map[string]error{
	"FileNotFoundError":   fs.ErrNotExist,
	"PermissionError":     fs.ErrPermission,
	"FileExistsError":     fs.ErrExist,
	"TimeoutError":        os.ErrDeadlineExceeded,
	"EOFError":            io.EOF,
	"NotImplementedError": errors.ErrUnsupported,
	"StopIteration":       ErrStopIteration,
}

// lineage lists the exception's class and its known builtin bases.
func (e *RemoteError) lineage() []string {
	out := []string{e.Type}
	if e.Module != "builtins" {
		return out
	}
	for t := e.Type; builtinBase[t] != ""; {
		t = builtinBase[t]
		out = append(out, t)
	}
	return out
}

// Is reports whether target is the Go sentinel of this exception's type
// or a *RemoteError template naming it or a builtin base.
func (e *RemoteError) Is(target error) bool {
	if t, ok := target.(*RemoteError); ok {
		if t.Module != "" && t.Module != e.Module {
			return false
		}
		for _, name := range e.lineage() {
			if name == t.Type {
				return true
			}
		}
		return false
	}
	if e.Module != "builtins" {
		return false
	}
	for _, name := range e.lineage() {
		if s := pySentinels[name]; s != nil && s == target {
			return true
		}
	}
	return false
}

// goErrorToPy chooses the Python exception a Go error is raised as.
func goErrorToPy(err error) *RemoteError {
	var re *RemoteError
	if errors.As(err, &re) {
		return re
	}
	msg := err.Error()
	oserr := func(typ string, errno int64) *RemoteError {
		r := &RemoteError{Module: "builtins", Type: typ, Args: Tuple{errno, msg},
			Attrs: map[string]any{"errno": errno, "strerror": msg}}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			r.Attrs["filename"] = pe.Path
		}
		return r
	}
	plain := func(typ string) *RemoteError {
		return &RemoteError{Module: "builtins", Type: typ, Args: Tuple{msg}}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return oserr("FileNotFoundError", 2)
	case errors.Is(err, fs.ErrPermission):
		return oserr("PermissionError", 13)
	case errors.Is(err, fs.ErrExist):
		return oserr("FileExistsError", 17)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return plain("TimeoutError")
	case errors.Is(err, io.EOF):
		return plain("EOFError")
	case errors.Is(err, fs.ErrClosed):
		// Python: I/O operation on closed file.
		return plain("ValueError")
	case errors.Is(err, errors.ErrUnsupported):
		return plain("NotImplementedError")
	case errors.Is(err, ErrNoAttr):
		return plain("AttributeError")
	case errors.Is(err, ErrBadArgs):
		return plain("TypeError")
	case errors.Is(err, ErrStopIteration):
		return plain("StopIteration")
	}
	return plain("RuntimeError")
}
