package rpyc

import (
	"context"
	"errors"
	"net"
	"sync"
)

// Serve accepts connections on ln and runs each as a Conn with opts (whose
// Root is the service every client gets) until ctx ends or ln fails. It
// then closes ln and every connection and returns once they are gone;
// ctx's end is not an error.
func Serve(ctx context.Context, ln net.Listener, opts *Options) error {
	var (
		mu    sync.Mutex
		conns = map[*Conn]struct{}{}
		wg    sync.WaitGroup
	)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var err error
	for {
		nc, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil && !errors.Is(aerr, net.ErrClosed) {
				err = aerr
			}
			break
		}
		c := NewConn(nc, opts)
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-c.Done():
			case <-ctx.Done():
			}
			c.Close()
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
	ln.Close()
	mu.Lock()
	for c := range conns {
		go c.shutdown(ErrClosed)
	}
	mu.Unlock()
	wg.Wait()
	return err
}
