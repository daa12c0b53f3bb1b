package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// Errors a caller may match (with errors.Is) on the error of a call. The
// peer reports them as a *RemoteError whose Code names them.
var (
	// ErrUnknownRef: the call named a reference the peer does not hold:
	// released, forged, or never issued to this session.
	ErrUnknownRef = errors.New("session: unknown reference")
	// ErrNoService: the peer exposes no service of that name.
	ErrNoService = errors.New("session: no such service")
	// ErrNoMethod: the object has no callable method of that name.
	ErrNoMethod = errors.New("session: no such method")
	// ErrBadArgs: the arguments do not fit the method's parameters.
	ErrBadArgs = errors.New("session: bad arguments")
	// ErrBusy: the peer already runs its limit of calls from this session.
	ErrBusy = errors.New("session: too many calls in flight")
	// ErrTooManyRefs: exporting another reference would pass the limit.
	ErrTooManyRefs = errors.New("session: too many references")
	// ErrMessageTooLarge: an encoded message exceeds the receiver's limit.
	ErrMessageTooLarge = errors.New("session: message too large")
	// ErrPanic: the remote handler panicked (the peer keeps serving).
	ErrPanic = errors.New("session: remote handler panicked")
	// ErrProtocol: the peer broke the protocol; the session is closed.
	ErrProtocol = errors.New("session: protocol violation")
	// ErrDenied: a node's policy refused the request. Nodes return errors
	// matching it for every refusal, so that callers can tell "not
	// allowed" from "failed" across the wire. The policy is relay's
	// (relay.ErrDenied is this value), but the sentinel lives here, with
	// the registry of wire codes that makes errors.Is work on the far
	// side, so that a client that imports no relay code still matches it.
	// Its text has no package prefix because it is the end of the
	// messages users read ("connect 10.0.0.5:22 denied by policy for
	// client (…)").
	ErrDenied = errors.New("denied by policy")
)

// RemoteError is a failure reported by the peer: the error a remote
// handler returned, a panic it raised, or a refusal of the session layer.
// Type is the Go type of the remote error, Message its text and Code, when
// not empty, the registered name of a sentinel the error matched on the far
// side. When this side knows the same code, errors.Is sees through the
// RemoteError to the sentinel: errors.Is(err, fs.ErrNotExist) works across
// the wire.
//
// Stack is where the error came from on the peer, when the peer serves
// with Options.ErrorStacks (off by default): for a panic, the panicking
// goroutine's frames from the panic down to the handler; for a returned
// error, the handler that returned it (Go errors record no place of
// their own); and below either, the stack of a RemoteError the handler's
// error wraps (a failure it got from a further peer). PeerVersion is the
// software the peer announced in its link hello (Peer.Version), e.g.
// "hopwire/v0.4.0", or "" for a peer that predates it. Error() shows
// neither.
type RemoteError struct {
	Type        string
	Message     string
	Code        string
	Stack       string
	PeerVersion string

	sentinel error
}

func (e *RemoteError) Error() string {
	if e.Type == "" {
		return "remote: " + e.Message
	}
	return fmt.Sprintf("remote %s: %s", e.Type, e.Message)
}

// Unwrap returns the local sentinel registered under Code, if any.
func (e *RemoteError) Unwrap() error { return e.sentinel }

// errorCode pairs a sentinel error with its name on the wire.
type errorCode struct {
	code string
	err  error
}

// builtinErrors are the sentinels every hopwire node knows, in the order
// they are tried when encoding. Codes are stable wire names.
var builtinErrors = []errorCode{
	{"unknown-ref", ErrUnknownRef},
	{"no-service", ErrNoService},
	{"no-method", ErrNoMethod},
	{"bad-args", ErrBadArgs},
	{"busy", ErrBusy},
	{"too-many-refs", ErrTooManyRefs},
	{"too-large", ErrMessageTooLarge},
	{"panic", ErrPanic},
	{"denied", ErrDenied},
	{"canceled", context.Canceled},
	{"deadline-exceeded", context.DeadlineExceeded},
	{"unexpected-eof", io.ErrUnexpectedEOF},
	{"eof", io.EOF},
	{"not-exist", fs.ErrNotExist},
	{"exist", fs.ErrExist},
	{"permission", fs.ErrPermission},
	{"invalid", fs.ErrInvalid},
	{"closed", fs.ErrClosed},
}

// errorTable maps codes to sentinels for one Conn: the built-ins plus the
// application's (Options.Errors).
type errorTable struct {
	list   []errorCode
	byCode map[string]error
}

// builtinTable is shared by every Conn without application sentinels.
var builtinTable, _ = buildErrorTable(nil)

func newErrorTable(app map[string]error) (*errorTable, error) {
	if len(app) == 0 {
		return builtinTable, nil
	}
	return buildErrorTable(app)
}

func buildErrorTable(app map[string]error) (*errorTable, error) {
	t := &errorTable{byCode: make(map[string]error, len(builtinErrors)+len(app))}
	for _, ec := range builtinErrors {
		t.byCode[ec.code] = ec.err
	}
	// Application sentinels are tried first: they are the more specific.
	var appList []errorCode
	for code, err := range app {
		if code == "" || err == nil {
			return nil, errors.New("session: Options.Errors has an empty code or a nil error")
		}
		if _, dup := t.byCode[code]; dup {
			return nil, fmt.Errorf("session: error code %q is reserved", code)
		}
		t.byCode[code] = err
		appList = append(appList, errorCode{code, err})
	}
	t.list = append(appList, builtinErrors...)
	return t, nil
}

// encode describes err for the wire.
func (t *errorTable) encode(err error) (code, typ, msg string) {
	var re *RemoteError
	if errors.As(err, &re) && re.Code != "" {
		// A remote error passed on keeps its code.
		code = re.Code
	} else {
		for _, ec := range t.list {
			if errors.Is(err, ec.err) {
				code = ec.code
				break
			}
		}
	}
	return code, fmt.Sprintf("%T", err), err.Error()
}

// decode builds the RemoteError for a wire error from a peer that
// announced version.
func (t *errorTable) decode(code, typ, msg, stack, version string) *RemoteError {
	return &RemoteError{Type: typ, Message: msg, Code: code, Stack: stack, PeerVersion: version, sentinel: t.byCode[code]}
}

// localError builds an error of the session layer itself as the peer will
// see it.
func localError(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}
