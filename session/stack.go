package session

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
)

// maxStack bounds the stack an error message carries (Options.ErrorStacks).
const maxStack = 16 << 10

// maxStackFrames bounds the frames of a panic's stack.
const maxStackFrames = 64

// invokeFunc is the prefix of the functions that call handlers: a
// panic's stack ends above them.
const invokeFunc = modulePath + "/session.(*Conn).invoke"

// panicStack returns the frames of a handler's panic, from the panicking
// function down to the handler, as Go prints them ("function", then
// "\tfile:line"). It is called by the deferred function that recovered.
func panicStack() string {
	pcs := make([]uintptr, maxStackFrames+8)
	n := runtime.Callers(1, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	var b strings.Builder
	var kept []runtime.Frame
	inPanic := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			inPanic = true
			kept = kept[:0] // what called the panic starts here
		case inPanic && len(kept) == 0 && strings.HasPrefix(f.Function, "runtime."):
			// The runtime's own frames of a run-time panic (sigpanic,
			// panicIndex, …).
		case !inPanic:
			// The recovering function, above the panic.
		case strings.HasPrefix(f.Function, invokeFunc):
			more = false
		default:
			kept = append(kept, f)
		}
		if !more {
			break
		}
	}
	if !inPanic {
		return ""
	}
	// The handler was called through reflect: its frames are not the
	// handler's.
	for len(kept) > 0 && strings.HasPrefix(kept[len(kept)-1].Function, "reflect.") {
		kept = kept[:len(kept)-1]
	}
	for _, f := range kept {
		fmt.Fprintf(&b, "%s\n\t%s:%d\n", f.Function, f.File, f.Line)
	}
	if n == len(pcs) {
		b.WriteString("…\n")
	}
	return b.String()
}

// returnedBy names the handler that returned an error, and where it is
// defined: Go errors carry no place of their own.
func (m *method) returnedBy() string {
	var pc uintptr
	switch {
	case m.owner == nil:
		pc = m.fn.Pointer() // a func passed by reference
	case m.owner.Kind() == reflect.Pointer:
		if mt, ok := m.owner.Elem().MethodByName(m.name); ok {
			pc = mt.Func.Pointer() // a value method, not the pointer's wrapper
			break
		}
		fallthrough
	default:
		if mt, ok := m.owner.MethodByName(m.name); ok {
			pc = mt.Func.Pointer()
		}
	}
	f := runtime.FuncForPC(pc)
	if f == nil {
		return ""
	}
	file, line := f.FileLine(f.Entry())
	return fmt.Sprintf("returned by %s\n\t%s:%d\n", f.Name(), file, line)
}
