//go:build soak && linux

package relay

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/session/connect"
	htls "github.com/hopwire/hopwire/transport/tls"
)

// The agentstall PoC of the security review (F9, -mode data), in a soak:
// a client of a reverse agent with no grant there opens 45 chains through
// the relay to the agent; in each it fills the nested link with data
// streams that no call names (130 × 256 KiB) and sends a 2 MiB call
// behind them. Before the budgets the agent stopped reading those
// chains, each chain's outer stream then pinned its window of the agent's
// link to the relay, and past ~32 chains that link stalled for everyone:
// another client's call through it took ~10 s. The test reports another
// client's ping through the relay to the agent, unloaded and while the
// chains load; it asserts nothing about time.
//
//	go test -tags soak -run 'TestSoakAgentStall$' -v ./relay/
func TestSoakAgentStall(t *testing.T) {
	const (
		chains  = 45
		streams = 130
		size    = 256 << 10
	)
	alice, bob := newIdentity(t, "alice"), newIdentity(t, "bob")
	agentID := newIdentity(t, "agent1")
	relayNode := startNode(t, "relay", "tls://127.0.0.1:0", []*certs.Identity{alice, bob, agentID}, "agent1:register=db-*", "alice:agent", "bob:agent")
	agent, err := New(&Options{Name: "agent1", Identity: agentID, Trust: certs.Trust{Pinned: []string{alice.Fingerprint(), bob.Fingerprint()}}})
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	actx, acancel := context.WithCancel(t.Context())
	ready := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- agent.RunAgent(actx, dialer(agentID, relayNode), nil, mustAddr(t, relayNode.url), "db-1", func() { ready <- struct{}{} })
	}()
	defer func() {
		acancel()
		<-done
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not register")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	via := []hop.Addr{mustAddr(t, relayNode.url)}
	agentTrust := certs.Trust{Pinned: []string{agentID.Fingerprint()}}
	toAgent := func(id *certs.Identity) *hop.Dialer {
		d := dialer(id, relayNode)
		base := d.Trust
		d.Trust = func(a hop.Addr) certs.Trust {
			if a.Name == "db-1" {
				return agentTrust
			}
			return base(a)
		}
		return d
	}

	rb, err := toAgent(bob).Dial(ctx, via, mustAddr(t, "db-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	ping := func() time.Duration {
		pctx, pcancel := context.WithTimeout(ctx, 60*time.Second)
		defer pcancel()
		rtt, err := rb.Target().Ping(pctx)
		if err != nil {
			t.Errorf("bob's ping: %v", err)
		}
		return rtt
	}
	var unloaded []time.Duration
	for range 20 {
		unloaded = append(unloaded, ping())
		time.Sleep(50 * time.Millisecond)
	}

	// Bob pings through the relay to the agent while alice loads chains.
	stop := make(chan struct{})
	pinged := make(chan []time.Duration)
	go func() {
		var out []time.Duration
		for {
			select {
			case <-stop:
				pinged <- out
				return
			case <-time.After(100 * time.Millisecond):
			}
			out = append(out, ping())
		}
	}()

	ra, err := dialer(alice, relayNode).Dial(ctx, nil, via[0])
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	link := ra.Target().Link()
	cfg, err := certs.ClientConfig(alice, agentTrust, "db-1")
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, size)
	big := string(make([]byte, 2<<20))
	var keep []*session.Conn
	defer func() {
		for _, c := range keep {
			c.Close()
		}
	}()
	loaded, refused := 0, 0
	var firstRefusal error
	start := time.Now()
	for range chains {
		st, err := connect.Open(ctx, link, &connect.Request{Network: connect.Agent, Address: "db-1"})
		if err != nil {
			t.Fatal(err)
		}
		hctx, hcancel := context.WithTimeout(ctx, 30*time.Second)
		tc, err := htls.Client(hctx, st, cfg)
		hcancel()
		if err != nil {
			t.Fatalf("chain %d: %v", loaded+refused+1, err)
		}
		nl, err := session.NewLink(tc, session.Client, &session.LinkConfig{Name: "attacker", KeepAlive: 5 * time.Second, KeepAliveTimeout: time.Hour})
		if err != nil {
			refused++
			if firstRefusal == nil {
				firstRefusal = err
			}
			continue
		}
		nc, err := session.NewConn(ctx, nl, nil)
		if err != nil {
			t.Fatal(err)
		}
		keep = append(keep, nc)
		for range streams {
			var tok [8]byte
			rand.Read(tok[:])
			ds, err := nl.OpenStream(ctx, session.KindData, tok[:])
			if err != nil {
				break
			}
			go ds.Write(payload)
		}
		go nc.Service("node").Call(ctx, "Info", big)
		loaded++
	}
	took := time.Since(start)
	time.Sleep(5 * time.Second)
	close(stop)
	under := <-pinged
	report := fmt.Sprintf("alice: %d chains loaded, %d refused (%v) in %v; bob's ping through the relay to the agent median/p90/max unloaded %v/%v/%v, while the chains load %v/%v/%v (%d pings)",
		loaded, refused, firstRefusal, took.Round(time.Millisecond),
		quantile(unloaded, 0.5), quantile(unloaded, 0.9), quantile(unloaded, 1),
		quantile(under, 0.5), quantile(under, 0.9), quantile(under, 1), len(under))
	t.Log(report)
	fmt.Println("AGENTSTALL:", report)
}
