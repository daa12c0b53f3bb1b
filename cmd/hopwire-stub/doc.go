// Command hopwire-stub writes typed client stubs for Go interfaces: for an
// interface Calc it writes a constructor NewCalcStub that turns a
// *session.Ref into a Calc whose methods call the remote object, so that a
// caller writes calc.Add(ctx, 1, 2) where RPyC's programmer writes
// conn.root.add(1, 2).
//
// Go cannot make an interface's implementation at run time (reflect makes
// funcs, not methods), so the stubs are generated, as stringer generates
// String methods. session's Ref.Bind is the reflective alternative when a
// struct of func fields will do.
//
// # Usage
//
// Put a go:generate line beside the interface:
//
//	//go:generate go run github.com/hopwire/hopwire/cmd/hopwire-stub -type Calc
//
//	type Calc interface {
//		Add(ctx context.Context, a, b int) (int, error)
//		Map(ctx context.Context, xs []int, f func(context.Context, int) (int, error)) ([]int, error)
//	}
//
// and run go generate. Flags:
//
//	-type Name[,Name...]  the interfaces to write stubs for (required)
//	-output file          where to write them (default: name_stub.go in the package directory, after the first type, lower case)
//
// An optional argument names the package directory (default ".", which is
// where go generate runs the command). Outside this module, pin the
// generator with go.mod's tool directive and write go tool hopwire-stub.
//
// # What it writes
//
// For an exported interface Calc: an unexported type calcStub holding the
// *session.Ref, one method per method of Calc, and
//
//	func NewCalcStub(r *session.Ref) Calc
//
// For an unexported interface calc the constructor is newCalcStub. Each
// method calls r.Call(ctx, "Method", args...) with the method's name and
// its arguments after the context (a variadic parameter's elements go as
// arguments of their own, which is how the serving side's variadic method
// receives them) and decodes the results with session's Result.Decode
// into variables of the declared types: a *session.Ref, a func (a
// callback into the peer), an io.ReadCloser (a stream), or any value type
// the session carries. On error the other results are zero values. The
// file starts with the standard "Code generated ... DO NOT EDIT." line,
// asserts at compile time that the stub implements the interface, and is
// checked by the compiler's type checker before it is written.
//
// # Rules
//
// Every method of the interface, the methods of embedded interfaces
// included, must be exported, take a context.Context first (its deadline
// and cancellation reach the remote handler) and return an error last
// (where a call's failure goes: a *session.RemoteError, a broken link,
// the context's end). A method that breaks a rule is refused with one
// line naming the method and the rule; no file is written. Channel
// parameters and results, which cannot cross the wire, are refused too.
// Generic and constraint interfaces are not supported.
//
// # Contract first
//
// The interface is the contract, as a gRPC service definition is. The
// serving side exposes an implementation through exactly that interface,
//
//	session.ExposeAs[Calc](conn, "calc", impl)
//
// and the calling side uses the stub:
//
//	calc := NewCalcStub(conn.Service("calc"))
//	sum, err := calc.Add(ctx, 1, 2)
//
// Both are checked by the compiler against the same interface. The stub
// works on any *session.Ref: a service, or an object the peer returned by
// reference (session.ByRefAs[Calc] on the serving side). It does not own
// the Ref: releasing a referenced object is still Ref.Release.
//
// An object handed out by reference is the one value whose types differ
// between the sides: the serving side returns a session.Object
// (session.ByRefAs[Counter](c)), the calling side receives a
// *session.Ref. A method that returns one declares the result any, which
// both satisfy, and the caller makes the Ref a Counter with
// NewCounterStub(v.(*session.Ref)).
//
// The package github.com/hopwire/hopwire/cmd/hopwire-stub/internal/example
// is a worked example: a contract with callbacks, streams, an application
// error and an object by reference, its generated file, and tests over a
// real session (ExampleNewCalcStub).
package main
