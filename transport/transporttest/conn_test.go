package transporttest_test

import (
	"net"
	"testing"

	"go.uber.org/goleak"

	"github.com/hopwire/hopwire/transport/transporttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestTCP runs the suite over plain loopback TCP, the reference every
// transport is measured against.
func TestTCP(t *testing.T) {
	transporttest.TestConn(t, func(t *testing.T) (net.Conn, net.Conn) {
		return transporttest.TCPPair(t)
	})
}
