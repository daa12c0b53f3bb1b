package rpyc

import (
	"context"
	"fmt"
	"sync"
)

// Classic drives a classic RPyC server (rpyc_classic, or any server whose
// root is a SlaveService): import modules, evaluate and execute Python.
// It is as powerful as a shell on the server.
type Classic struct {
	c    *Conn
	root *Ref
	mu   sync.Mutex
	mods map[string]*Ref
}

// NewClassic gets the root of a classic server on c.
func NewClassic(ctx context.Context, c *Conn) (*Classic, error) {
	root, err := c.Root(ctx)
	if err != nil {
		return nil, err
	}
	return &Classic{c: c, root: root, mods: map[string]*Ref{}}, nil
}

// Conn returns the underlying connection.
func (k *Classic) Conn() *Conn { return k.c }

// Module imports the named module on the server ("os", "os.path") and
// returns its proxy; modules are cached, like RPyC's conn.modules.
func (k *Classic) Module(ctx context.Context, name string) (*Ref, error) {
	k.mu.Lock()
	m := k.mods[name]
	k.mu.Unlock()
	if m != nil {
		return m, nil
	}
	v, err := k.root.CallAttr(ctx, "getmodule", name)
	if err != nil {
		return nil, err
	}
	m, ok := v.(*Ref)
	if !ok {
		return nil, fmt.Errorf("%w: getmodule(%q) returned %s", ErrProtocol, name, pyRepr(v))
	}
	k.mu.Lock()
	if old := k.mods[name]; old != nil {
		m = old
	} else {
		k.mods[name] = m
	}
	k.mu.Unlock()
	return m, nil
}

// Builtins returns the server's builtins module (open, len, tuple, …).
func (k *Classic) Builtins(ctx context.Context) (*Ref, error) { return k.Module(ctx, "builtins") }

// Eval evaluates a Python expression in the server's namespace.
func (k *Classic) Eval(ctx context.Context, expr string) (any, error) {
	return k.root.CallAttr(ctx, "eval", expr)
}

// Execute runs Python statements in the server's namespace.
func (k *Classic) Execute(ctx context.Context, code string) error {
	_, err := k.root.CallAttr(ctx, "execute", code)
	return err
}
