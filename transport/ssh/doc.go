// Package ssh is hopwire's SSH transport, for the ssh:// hop scheme. Its
// client side reaches plain OpenSSH servers with the user's own SSH setup;
// its server side is the embedded SSH listener of a hopwire node.
//
// # Client
//
// [LoadClientConfig] resolves a host the way ssh(1) does: ~/.ssh/config
// (Host patterns with *, ? and !, first value wins, Include, HostName,
// User, Port, IdentityFile, IdentitiesOnly, IdentityAgent, ProxyJump,
// UserKnownHostsFile, HostKeyAlias, StrictHostKeyChecking) and the
// caller's [ClientOptions] (the -l, -p, -i flags). [Dial] connects over
// TCP; [NewClient] runs the same handshake over a conn the caller already
// has, which is how a chain runs an SSH hop over a stream through the
// previous hop. ProxyJump is returned as a list for the hop layer to
// expand into a chain; this package never dials it itself, and Dial
// refuses a config that has one.
//
// A [Client] then opens channels, each returned as a net.Conn:
//
//   - [Client.DialContext]: a direct-tcpip channel (RFC 4254 §7.2), the
//     next hop reached through a plain OpenSSH bastion, as with ssh -J;
//   - [Client.Exec]: a command's stdin and stdout as an [ExecConn] (to run
//     "hopwire serve --stdio" on the far host), with [Client.Run] and
//     [Client.Upload] built on it for zero-install;
//   - [Client.OpenHopwire]: the "hopwire" channel of a node's embedded
//     server.
//
// Keys are offered in this order: ClientOptions.Signers, the identity
// files (-i, then IdentityFile, or the default ~/.ssh/id_ed25519,
// id_ecdsa and id_rsa), then the other keys of the ssh-agent at
// $SSH_AUTH_SOCK (unless IdentitiesOnly). An encrypted key file is used
// through the agent if the agent holds it, and otherwise skipped with a
// debug note: hopwire never prompts for passphrases.
//
// # Host keys: strict, always
//
// The server's host key must be in known_hosts (UserKnownHostsFile and
// GlobalKnownHostsFile, by default ~/.ssh/known_hosts and
// /etc/ssh/ssh_known_hosts). An unknown host fails with a [HostKeyError]
// that shows the key's SHA256 fingerprint and the ssh-keyscan or ssh
// command that adds it; a changed key fails naming the known_hosts file
// and line that disagree. StrictHostKeyChecking no, off and accept-new are
// not honoured: hopwire never trusts a key on first use, silently or not,
// and the unknown-host error says so. Checking is the same for every hop,
// bastions included. The host key algorithms offered are restricted to
// the types known_hosts holds for the host (golang/go#49631), so a server
// that prefers another key type does not cause a spurious mismatch.
//
// # Server
//
// [Listen] runs an SSH server that authenticates clients by public key
// against an OpenSSH authorized_keys file (re-read at every attempt) and
// accepts one channel of type [ChannelType] ("hopwire") per connection,
// which [Listener.Accept] returns as a *[Conn]; the hopwire link runs over
// it. Every other channel type (session, direct-tcpip, …) and every global
// request is refused. [Conn.PeerKey] and [Conn.PeerFingerprint] name the
// client's key, taken only from the ssh.Permissions of the authentication
// that succeeded, never from keys offered earlier (CVE-2024-45337).
// authorized_keys entries with options that would restrict the key in
// ways this server does not enforce (from=, command=, principals=,
// expiry-time=, cert-authority, …) are ignored. Each handshake has a
// deadline, and at most MaxPreAuth connections (64) wait between the TCP
// accept and Accept, at most a quarter of them from one network (an IPv4
// /24, an IPv6 /64); beyond that, a newcomer takes the slot of a stalled
// handshake (silent, or begun and left hanging; of its own network when
// its share is full; under a flood from several networks, sooner when
// another network holds many more slots than its own) or is closed at
// once.
//
// # Where it sits
//
// ssh is a leaf at the bottom of the stack (STYLE.md §1): it imports
// golang.org/x/crypto/ssh and the standard library, and from hopwire only
// the pre-auth listener it shares with the tls transport
// (transport/internal/preauth: the accept loop, slots, deadlines,
// eviction, drop counting and Close; this package supplies the SSH
// handshake).
// It returns net.Conns; hop and relay use them through the scheme table
// that cmd builds.
//
// # Who closes what
//
// The caller closes every Client, conn and Listener returned. A Client
// owns the conn it runs over (NewClient closes it on failure too) and
// every goroutine its channels use; closing it ends all its channels.
// Conns from a Client can be closed on their own, before or after it. A
// Conn from a Listener owns its SSH connection: closing it ends that
// client's connection. Contexts govern setup only (dial, handshake,
// opening a channel, starting a command), except for Run and Upload,
// which they govern whole. See [Conn] for deadlines and half-close.
//
// # Usage
//
//	cfg, err := ssh.LoadClientConfig("bastion", &ssh.ClientOptions{Logger: log})
//	c, err := ssh.Dial(ctx, cfg) // known_hosts-checked, key-authenticated
//	if err != nil { … }
//	defer c.Close()
//	next, err := c.DialContext(ctx, "tcp", "r2.internal:7443") // the next hop
//	// …run the next hop's transport over next…
//
//	// On the far host: run hopwire over the exec channel.
//	x, err := c.Exec(ctx, "hopwire serve --stdio")
//	defer x.Close()
//
//	// A node's embedded server.
//	ln, err := ssh.Listen(ctx, ":2222", &ssh.ServerConfig{
//		HostKeys:           []gossh.Signer{hostKey},
//		AuthorizedKeysFile: "/etc/hopwire/authorized_keys",
//	})
//	conn, err := ln.AcceptContext(ctx)
//	log.Info("link", "peer", conn.PeerFingerprint())
//
// # References
//
//   - RFC 4254 §6.5 (exec), §6.10 (exit-status), §7.2 (direct-tcpip).
//   - ssh_config(5) and sshd(8) AUTHORIZED_KEYS FILE FORMAT.
//   - PITFALLS.md §1.5: CVE-2024-45337 (authorize from the Permissions of
//     the method that succeeded), golang/go#49631 (HostKeyAlgorithms from
//     known_hosts), host keys never ignored, no silent TOFU; x/crypto ≥
//     v0.45.0 for the fixes listed there.
package ssh
