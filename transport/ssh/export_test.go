package ssh

import "golang.org/x/crypto/ssh"

// SetOffered makes a Listener built from cfg call f with every key a
// client offers (tests of CVE-2024-45337 attribution).
func SetOffered(cfg *ServerConfig, f func(user string, key ssh.PublicKey)) { cfg.offered = f }

// Internals exercised directly by tests.
var (
	Wildcard          = wildcard
	SplitArgs         = splitArgs
	ShellPath         = shellPath
	MatchHostPatterns = matchHostPatterns
)
