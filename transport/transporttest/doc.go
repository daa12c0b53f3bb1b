// Package transporttest is the conformance suite that every hopwire
// transport's net.Conn passes, plus small helpers for transport tests,
// and the module's one starter of a private OpenSSH sshd ([StartSSHD]),
// which transport/ssh's, relay's and the integration tests share.
//
// # Where it sits
//
// transporttest is imported only by _test.go files. It imports the
// standard library and golang.org/x/crypto/ssh (for sshd's key files) and
// nothing from the module, so the transports stay leaves.
//
// golang.org/x/net/nettest is not a dependency of hopwire; [TestConn]
// covers the same ground and adds the cases a relay network cares about:
// a 16 MiB transfer each way checked with SHA-256, half-close and
// close-unblocks-write.
//
// # Who closes what
//
// A [MakePipe] returns a fresh connected pair for every subtest. The suite
// closes both conns when the subtest ends (closing twice must be harmless);
// anything else the maker created (listeners, child processes) it releases
// with t.Cleanup. Each subtest closes its conns if it runs for more than a
// minute, so a hang fails the test rather than the whole binary.
//
// # Usage
//
//	func TestConformance(t *testing.T) {
//		transporttest.TestConn(t, func(t *testing.T) (net.Conn, net.Conn) {
//			return transporttest.TCPPair(t)
//		})
//	}
package transporttest
