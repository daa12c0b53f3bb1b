package transporttest_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hopwire/hopwire/transport/transporttest"
)

// TestStartSSHD: the sshd it starts answers with OpenSSH's banner.
func TestStartSSHD(t *testing.T) {
	d := transporttest.StartSSHD(t, nil)
	c, err := net.DialTimeout("tcp", d.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	banner, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(banner, "SSH-2.0-OpenSSH") {
		t.Fatalf("banner %q, %v", banner, err)
	}
	if len(d.HostKeys) != 1 || d.HostKeys[0].Type() != "ssh-ed25519" {
		t.Fatalf("host keys %v, want one Ed25519 key", d.HostKeys)
	}
}
