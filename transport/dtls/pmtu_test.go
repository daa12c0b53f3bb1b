package dtls_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hopwire/hopwire/transport/dtls"
	"github.com/hopwire/hopwire/transport/transporttest"
)

// waitMTU waits until c's MTU is want (probing runs on its own timers).
func waitMTU(t *testing.T, c *dtls.Conn, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.MTU() != want {
		if time.Now().After(deadline) {
			t.Fatalf("MTU is %d, want %d", c.MTU(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// On loopback, both ends probe their way from 1200 to the largest size.
func TestPathMTUProbe(t *testing.T) {
	p := pairIDs(t)
	ln := listen(t, p.server, nil)
	c1, c2 := connPair(t, ln, "", p.cli, nil)
	if c1.MTU() != dtls.DefaultMTU && c1.MTU() != 8192 {
		t.Fatalf("client starts at MTU %d", c1.MTU())
	}
	exchange(t, c1, c2, 4<<20)
	waitMTU(t, c1, 8192)
	waitMTU(t, c2, 8192)
	exchange(t, c1, c2, 4<<20)
}

// MaxMTU at or below MTU turns probing off.
func TestPathMTUOff(t *testing.T) {
	p := pairIDs(t)
	opts := &dtls.Options{MaxMTU: dtls.DefaultMTU}
	ln := listen(t, p.server, opts)
	c1, c2 := connPair(t, ln, "", p.cli, opts)
	exchange(t, c1, c2, 1<<20)
	time.Sleep(300 * time.Millisecond) // several probe rounds, had there been any
	if c1.MTU() != dtls.DefaultMTU || c2.MTU() != dtls.DefaultMTU {
		t.Fatalf("MTU %d and %d, want %d: probing is off", c1.MTU(), c2.MTU(), dtls.DefaultMTU)
	}
}

// A path that silently drops datagrams above 1500 bytes: the 8192-byte
// probes are lost, the Ethernet-sized one gets through, and the data
// arrives intact throughout.
func TestPathMTUBlackhole(t *testing.T) {
	p := pairIDs(t)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	ln := listen(t, p.server, nil)
	proxy := transporttest.NewUDPProxy(t, ln.Addr().String(), transporttest.Faults{Seed: seed, MTU: 1500})
	c1, c2 := connPair(t, ln, proxy.Addr().String(), p.cli, nil)
	exchange(t, c1, c2, 2<<20)
	waitMTU(t, c1, 1472) // 1500 less the IPv4 and UDP headers
	waitMTU(t, c2, 1472)
	exchange(t, c1, c2, 2<<20)
	if st := proxy.Stats(); st.Dropped == 0 {
		t.Errorf("no probe was dropped: %+v", st)
	}
}
