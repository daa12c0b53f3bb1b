package session

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// Regression tests for review findings.

type keeper struct {
	kept   func(int) int
	closer *Conn
}

func (k *keeper) Keep(f func(int) int) { k.kept = f }

func (k *keeper) CloseMe() { k.closer.Close() }

func TestSlotHeldUntilLateReply(t *testing.T) {
	cc, sc := rpcPair(t, "tcp", nil, &Options{MaxCalls: 1})
	sc.Expose("calc", &calc{})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := cc.Service("calc").Call(ctx, "Sleep", 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first call: %v", err)
	}
	// The next call waits for the slot instead of being refused as busy.
	if n, err := Call[int](t.Context(), cc.Service("calc"), "Add", 1, 2); err != nil || n != 3 {
		t.Fatalf("second call: %d %v", n, err)
	}
}

func TestCloseFromHandler(t *testing.T) {
	cc, sc := rpcPair(t, "pipe", nil, nil)
	sc.Expose("k", &keeper{closer: sc})
	done := make(chan struct{})
	go func() {
		cc.Service("k").Call(context.Background(), "CloseMe")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a handler closing its own session deadlocked")
	}
	select {
	case <-sc.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session not closed")
	}
}

func TestKeptCallbackOutlivesCall(t *testing.T) {
	cc, sc := rpcPair(t, "tcp", nil, nil)
	k := &keeper{}
	sc.Expose("k", k)
	if _, err := cc.Service("k").Call(t.Context(), "Keep", func(x int) int { return x * 10 }); err != nil {
		t.Fatal(err)
	}
	if got := k.kept(4); got != 40 {
		t.Fatalf("kept callback = %d", got)
	}
}

func TestBadArgsWithWriterReturnsPromptly(t *testing.T) {
	cc, sc := rpcPair(t, "tcp", nil, nil)
	sc.Expose("calc", &calc{})
	start := time.Now()
	var buf bytes.Buffer
	_, err := cc.Service("calc").Call(t.Context(), "Produce", "not-a-number", &buf)
	if !errors.Is(err, ErrBadArgs) || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

func TestBindEmptyTag(t *testing.T) {
	cc, _ := rpcPair(t, "pipe", nil, nil)
	var stub struct {
		F func(context.Context) error `hopwire:""`
	}
	if err := cc.Service("x").Bind(&stub); err == nil {
		t.Fatal("empty tag accepted")
	}
}

func TestArgumentCountBounded(t *testing.T) {
	cc, sc := rpcPair(t, "pipe", nil, nil)
	sc.Expose("calc", &calc{})
	args := make([]any, 5000)
	for i := range args {
		args[i] = 1
	}
	if _, err := cc.Service("calc").Call(t.Context(), "Add", args...); !errors.Is(err, ErrBadArgs) {
		t.Fatalf("5000 args to Add: %v", err)
	}
}
