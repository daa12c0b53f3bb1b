package rpyc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Finding out a server's dialect.
//
// No message is understood by both lines, and each refuses the other's
// the same way: RPyC 5.x cannot unpack a 6.x payload and 6.x sees a 5.x
// payload's first byte (0x12) as an unknown message kind; either way the
// server sends its CLOSE request, in its own dialect, and drops the
// connection (5.x at once, 6.x once the CLOSE is answered or the peer
// hangs up). So a client learns the dialect from its first request: an
// answer confirms it, the peer's CLOSE names the other one. dialAuto asks
// in 5.x first, the line Debian and Ubuntu package; a 6.x server costs a
// second connection, once per address and process, and logs the 5.x try
// as a connection "terminated abruptly".

// probeTimeout bounds each try of dialAuto (and ctx bounds both).
const probeTimeout = 10 * time.Second

// dialects caches the dialect found per server: dialectKey → Dialect.
var dialects sync.Map

func dialectKey(addr string, o *Options) string {
	if o.TLS != nil {
		return "tls " + addr
	}
	return "tcp " + addr
}

// dialAuto dials addr in the dialect cached for it, or finds the dialect
// out with a GETROOT in each, 5.x first.
func dialAuto(ctx context.Context, addr string, o *Options) (*Conn, error) {
	key := dialectKey(addr, o)
	if d, ok := dialects.Load(key); ok {
		c, err := dialAs(ctx, addr, o, d.(Dialect))
		if err != nil {
			return nil, err
		}
		c.cacheKey.Store(&key)
		return c, nil
	}
	var tried []string
	for _, d := range []Dialect{Dialect5, Dialect6} {
		c, err := dialAs(ctx, addr, o, d)
		if err != nil {
			return nil, err
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		_, err = c.Root(pctx)
		cancel()
		if answered(err) {
			dialects.Store(key, d)
			c.cacheKey.Store(&key)
			return c, nil
		}
		c.Close()
		switch {
		case ctx.Err() != nil:
			tried = append(tried, fmt.Sprintf("as %s: no answer before the deadline", d))
			return nil, fmt.Errorf("%w: cannot tell which one %s speaks (%s; set Options.Dialect): %w",
				ErrDialect, addr, strings.Join(tried, "; "), ctx.Err())
		case errors.Is(err, context.DeadlineExceeded):
			tried = append(tried, fmt.Sprintf("as %s: no answer within %v", d, probeTimeout))
		case errors.Is(err, ErrDialect):
			tried = append(tried, fmt.Sprintf("as %s: refused with a CLOSE in %s", d, other(d)))
		default:
			tried = append(tried, fmt.Sprintf("as %s: %v", d, err))
		}
	}
	return nil, fmt.Errorf("%w: cannot tell which one %s speaks (%s); set Options.Dialect",
		ErrDialect, addr, strings.Join(tried, "; "))
}

func other(d Dialect) Dialect {
	if d == Dialect6 {
		return Dialect5
	}
	return Dialect6
}

// answered reports whether a request's outcome came from the peer (a
// reply or an exception), not from the connection's end or a deadline.
func answered(err error) bool {
	return err == nil || !(errors.Is(err, ErrClosed) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled))
}

// isClose reports whether a request body is RPyC's CLOSE.
func isClose(body any) bool {
	t, ok := body.(Tuple)
	return ok && len(t) == 2 && t[0] == int64(hClose)
}

// wrongDialect is the error that ends a connection whose peer closed it,
// in dialect peer, on this side's messages in ours. A Conn that Dial made
// corrects the dialect cached for its server.
func (c *Conn) wrongDialect(peer, ours Dialect) error {
	next := ""
	if key := c.cacheKey.Load(); key != nil {
		dialects.Store(*key, peer)
		next = fmt.Sprintf("; the next Dial of it uses %s", peer)
	}
	return fmt.Errorf("%w: the peer speaks RPyC %s and closed the connection on this side's %s messages (set Options.Dialect%s)",
		ErrDialect, peer, ours, next)
}
