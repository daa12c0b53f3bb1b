//go:build soak

package directory

import (
	"testing"
	"time"
)

// TestSoakClusterFailover: on a three-server cluster with Replicas 3, the
// directory outlives the server a relay was connected to: after a
// reconnect it finds the agents registered before and takes new
// registrations.
func TestSoakClusterFailover(t *testing.T) {
	t.Parallel()
	c, d := openOnCluster(t)
	ctx := ctxFor(t, 150*time.Second)
	if err := d.Register(ctx, "db1", fp("db1")); err != nil {
		t.Fatal(err)
	}
	// A fleet in its steady state loses a server: both buckets have a
	// leader and two followers caught up with it.
	eventually(t, 30*time.Second, "the buckets' replicas current", func() bool {
		for _, b := range []string{"hopwire-agents", "hopwire-relays"} {
			st, err := d.js.Stream(ctx, "KV_"+b)
			if err != nil {
				return false
			}
			info, err := st.Info(ctx)
			if err != nil || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
				return false
			}
			for _, p := range info.Cluster.Replicas {
				if !p.Current || p.Offline {
					return false
				}
			}
		}
		return true
	})
	connected := d.nc.ConnectedUrl()
	for _, s := range c.servers {
		if s.URL == connected {
			s.kill()
		}
	}
	var last error
	defer func() {
		if t.Failed() {
			t.Logf("the last error: %v", last)
			for i, s := range c.servers {
				if s.out != nil {
					out := s.out.String()
					t.Logf("server %d (%s):\n%s", i+1, s.URL, out[max(0, len(out)-3000):])
				}
			}
		}
	}()
	eventually(t, time.Minute, "db1 found after its server died", func() bool {
		var e Entry
		e, last = d.Lookup(ctx, "db1")
		return last == nil && e.Fingerprint == fp("db1")
	})
	eventually(t, time.Minute, "a registration after its server died", func() bool {
		last = d.Register(ctx, "db2", fp("db2"))
		return last == nil
	})
	if d.nc.ConnectedUrl() == connected {
		t.Errorf("still connected to %s, which was killed", connected)
	}
}
