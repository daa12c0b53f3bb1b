package hopwire_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hopwire/hopwire"
	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/relay"
	"github.com/hopwire/hopwire/session"
)

// RPyC's tutorial, in one process and through two relays: a node serves
// a calculator; the client reaches it through r1 and r2, calls a method,
// passes a callback, makes an async call, and gets an object by
// reference and releases it. (startChain, at the bottom of this file,
// starts the three nodes with throwaway identities and writes the
// client's known_nodes, as "hopwire trust --known" does.)
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	target, via, home, stop, err := startChain(ctx, map[string]any{"calc": &Calc{}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	// rpyc.connect(host, port), here through two relays.
	cl, err := hopwire.Dial(ctx, target, &hopwire.Options{Home: home, Via: via})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()
	var names []string
	for _, h := range cl.Hops() {
		names = append(names, h.Peer.Name)
	}
	fmt.Println("route:", strings.Join(names, " → "))
	calc := cl.Conn().Service("calc") // conn.root

	// A method call: conn.root.add(2, 3).
	sum, err := session.Call[int](ctx, calc, "Add", 2, 3)
	fmt.Println("Add(2, 3) =", sum, err)

	// A callback: the node calls square back, here, for each element.
	square := func(ctx context.Context, x int) (int, error) { return x * x, nil }
	ys, err := session.Call[[]int](ctx, calc, "Map", []int{1, 2, 3}, square)
	fmt.Println("Map([1 2 3], square) =", ys, err)

	// An async call: rpyc.async_(conn.root.slow)(21) returns at once.
	a := calc.Go(ctx, "Slow", 21)
	res, err := a.Wait(ctx)
	var slow int
	if err == nil {
		err = res.Decode(&slow)
	}
	fmt.Println("Slow(21), async =", slow, err)

	// A netref: the counter stays on the node; the client holds a proxy.
	counter, err := session.Call[*session.Ref](ctx, calc, "Counter", 10)
	if err != nil {
		fmt.Println(err)
		return
	}
	n, err := session.Call[int](ctx, counter, "Incr")
	fmt.Println("counter.Incr() =", n, err)
	counter.Release() // the node drops it now, not when the proxy is collected
	_, err = counter.Call(ctx, "Incr")
	fmt.Println("after Release:", errors.Is(err, session.ErrUnknownRef))

	// Output:
	// route: r1 → r2 → target
	// Add(2, 3) = 5 <nil>
	// Map([1 2 3], square) = [1 4 9] <nil>
	// Slow(21), async = 42 <nil>
	// counter.Incr() = 11 <nil>
	// after Release: true
}

// Reach a node through two relays and fetch a page that only the node can
// reach; ask the node for its name over RPC. Every hop must be in
// ~/.hopwire/known_nodes (hopwire trust --known FP NAME --addr HOST:PORT).
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := hopwire.Dial(ctx, "tls://vm:7443", &hopwire.Options{
		Via:    []string{"tls://r1:7443", "tls://r2:7443"},
		Redial: true,
	})
	if err != nil {
		fmt.Println(err) // names the hop that failed, and why
		return
	}
	defer cl.Close()

	hc := &http.Client{Transport: &http.Transport{DialContext: cl.DialContext}}
	resp, err := hc.Get("http://10.0.0.5:8080/status")
	if err != nil {
		fmt.Println(err) // a policy refusal is a dial error (session.ErrDenied)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s\n", body)

	info, err := session.Call[relay.NodeInfo](ctx, cl.Conn().Service("node"), "Info")
	if err == nil {
		fmt.Println("reached", info.Name)
	}
}

// Calc is the service of Example's node: its exported methods are what
// the client may call (RPyC's exposed_ methods).
type Calc struct{}

// Add adds.
func (*Calc) Add(a, b int) int { return a + b }

// Map calls f, a callback into the caller, on each element.
func (*Calc) Map(ctx context.Context, xs []int, f func(context.Context, int) (int, error)) ([]int, error) {
	out := make([]int, len(xs))
	for i, x := range xs {
		y, err := f(ctx, x)
		if err != nil {
			return nil, err
		}
		out[i] = y
	}
	return out, nil
}

// Slow doubles x, taking its time (or until the caller gives up).
func (*Calc) Slow(ctx context.Context, x int) (int, error) {
	select {
	case <-time.After(50 * time.Millisecond):
		return 2 * x, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Counter returns a new counter by reference: it stays here, and the
// caller gets a proxy of it.
func (*Calc) Counter(start int) session.Object { return session.ByRef(&Counter{n: start}) }

// Counter counts (one caller at a time: Example's).
type Counter struct{ n int }

// Incr counts one more.
func (c *Counter) Incr() int { c.n++; return c.n }

// startChain runs a target node serving services and two relays in front
// of it, each on a free loopback port with a throwaway identity: r1 may
// forward the client to r2 only, r2 to the target only. The client's home
// (a throwaway identity too) has a known_nodes file that binds each
// node's key to the address it bound. It returns the target's address,
// the relays' (Options.Via), the client's home, and stop, which stops
// the nodes and removes the files.
func startChain(ctx context.Context, services map[string]any) (target string, via []string, home string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "hopwire-example-")
	if err != nil {
		return "", nil, "", nil, err
	}
	var nodes []*hopwire.Node
	cleanup := func() {
		for _, n := range nodes {
			n.Close()
		}
		os.RemoveAll(dir)
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	home = filepath.Join(dir, "client")
	client, err := certs.LoadOrCreate(home, "client")
	if err != nil {
		return "", nil, "", nil, err
	}
	// start runs a node that trusts the client (as the principal
	// "client") and applies grant, and trusts the node on the client.
	start := func(name string, services map[string]any, grant string) (string, error) {
		id, err := certs.LoadOrCreate(filepath.Join(dir, name), name)
		if err != nil {
			return "", err
		}
		opts := &hopwire.ServeOptions{Name: name, Identity: id, Trust: certs.Trust{Store: certs.StoreOf(client)},
			Listen: []string{"tls://127.0.0.1:0"}}
		if services != nil {
			opts.Services = func(session.Peer) map[string]any { return services }
		}
		if grant != "" {
			g, err := relay.ParseGrant(grant)
			if err != nil {
				return "", err
			}
			opts.Policy = relay.NewPolicy([]*relay.Grant{g})
		}
		node, err := hopwire.Start(ctx, opts)
		if err != nil {
			return "", err
		}
		nodes = append(nodes, node)
		addr := node.Addrs()[0] // tls://127.0.0.1:PORT
		// hopwire trust --known FINGERPRINT NAME --addr 127.0.0.1:PORT
		return addr, certs.AddEntry(filepath.Join(home, certs.KnownNodesFile),
			certs.Entry{Fingerprint: id.Fingerprint(), Name: name, Addrs: []string{strings.TrimPrefix(addr, "tls://")}})
	}
	if target, err = start("target", services, ""); err != nil {
		return "", nil, "", nil, err
	}
	r2, err := start("r2", nil, "client:connect="+strings.TrimPrefix(target, "tls://"))
	if err != nil {
		return "", nil, "", nil, err
	}
	r1, err := start("r1", nil, "client:connect="+strings.TrimPrefix(r2, "tls://"))
	if err != nil {
		return "", nil, "", nil, err
	}
	return target, []string{r1, r2}, home, cleanup, nil
}
