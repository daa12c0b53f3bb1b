package dtls_test

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hopwire/hopwire/transport/dtls"
)

// A path that shrinks under conns that have raised their MTU (here the
// MTU of the loopback interface of a network namespace drops from 65536
// to 1500 mid-transfer): the kernel refuses the large datagrams, the
// conns go back to their starting MTU and let the kernel fragment the
// segments already cut, and every byte arrives.
func TestPathMTUShrinks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
	ns := fmt.Sprintf("hwdtls-%d", os.Getpid())
	ipCmd(t, "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ipCmd(t, "-n", ns, "link", "set", "lo", "up")

	p := pairIDs(t)
	var c1, c2 *dtls.Conn
	inNetns(t, ns, func() {
		// Sockets belong to the namespace they are created in, whichever
		// thread uses them later.
		ln := listen(t, p.server, nil)
		c1, c2 = connPair(t, ln, "", p.cli, nil)
	})
	exchange(t, c1, c2, 2<<20)
	waitMTU(t, c1, 8192)
	waitMTU(t, c2, 8192)

	errc := make(chan error, 1)
	go func() {
		time.Sleep(20 * time.Millisecond) // mid-transfer
		errc <- exec.Command("ip", "-n", ns, "link", "set", "lo", "mtu", "1500").Run()
	}()
	exchange(t, c1, c2, 16<<20)
	if err := <-errc; err != nil {
		t.Fatalf("ip link set mtu: %v", err)
	}
	exchange(t, c1, c2, 2<<20)
	if c1.MTU() != dtls.DefaultMTU || c2.MTU() != dtls.DefaultMTU {
		t.Errorf("MTU %d and %d after the path shrank, want %d", c1.MTU(), c2.MTU(), dtls.DefaultMTU)
	}
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v\n%s", args, err, out)
	}
}

// inNetns runs f on a thread inside network namespace ns.
func inNetns(t *testing.T, ns string, f func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer target.Close()
	if err := setns(target); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer func() {
		// A thread that cannot go back stays locked, and dies with
		// its goroutine.
		if setns(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	f()
}

func setns(f *os.File) error { return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET) }
