package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/relay"
	"github.com/hopwire/hopwire/session"
)

// Errors as the user reads them: like ssh's, one line saying what failed,
// where, and what to do. The Go detail (type names, every wrapping layer)
// is kept under -v.

// goTypeName matches a Go type name in an error message: *fs.PathError,
// *fmt.wrapError, relay.DeniedError.
var goTypeName = regexp.MustCompile(`\*?\b[a-z][a-z0-9]*\.[A-Za-z_]\w*(Error|Err|error)\b`)

// remoteType is the "remote TYPE: " a RemoteError puts before the far
// side's message.
var remoteType = regexp.MustCompile(`remote \*?[A-Za-z_][\w]*\.[A-Za-z_]\w*: `)

// userMessage returns err's message for the user: remote error types left
// out, the noise of a lost link reduced to one reason. verbose keeps
// everything.
func userMessage(err error, verbose bool) string {
	msg := err.Error()
	if verbose {
		return msg
	}
	var re *session.RemoteError
	if errors.As(err, &re) {
		msg = strings.Replace(msg, re.Error(), re.Message, 1)
	}
	msg = remoteType.ReplaceAllString(msg, "") // remote errors passed on by a node
	msg = goTypeName.ReplaceAllString(msg, "")
	if errors.Is(err, session.ErrLinkClosed) || errors.Is(err, session.ErrPeerSilent) {
		why := "a hop or the network went away"
		if errors.Is(err, session.ErrPeerSilent) {
			why = "no answer within the keepalive timeout"
		}
		msg = "connection to the target lost: " + why
		var he *hop.Error
		if errors.As(err, &he) {
			msg = fmt.Sprintf("hop %d (%s): connection lost: %s", he.Index, he.Addr, why)
		}
	}
	// A stream the far side aborted carries its reason at the end.
	for _, noise := range []string{"session: stream aborted by peer: ", "aborted: reader failed: ", "aborted: writer failed: "} {
		msg = strings.ReplaceAll(msg, noise, "")
	}
	return strings.Join(strings.Fields(msg), " ")
}

// explainDial turns a failed chain dial into what the user must know: a
// node that refused this client's key says who and how to authorize it;
// a chain that was not up in time says so.
func explainDial(ctx context.Context, err error, id *certs.Identity, timeout time.Duration) error {
	var he *hop.Error
	if !errors.As(err, &he) {
		return err
	}
	msg := err.Error()
	switch {
	case ctx.Err() != nil:
		return err
	case refusedCertificate(msg):
		fp, name := "", "NAME"
		if id != nil {
			fp = id.Fingerprint()
			name = id.Name()
		}
		return fmt.Errorf("hop %d (%s) refused this client: it does not authorize the key %s (this identity, %q); its operator can run: hopwire trust --authorized %s %s",
			he.Index, he.Addr, fp, name, fp, name)
	case he.Index > 1 && deniedConnect.MatchString(msg):
		m := deniedConnect.FindStringSubmatch(msg)
		return fmt.Errorf("%w; the operator of hop %d can allow it with --grant %s:connect=%s", err, he.Index-1, m[2], m[1])
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("hop %d (%s): no answer within %v (the hop is down, filtered, or does not speak %s; --connect-timeout sets the limit)",
			he.Index, he.Addr, timeout, orDefault(he.Addr.Scheme, "hopwire"))
	}
	return err
}

// deniedConnect is a relay's refusal of a CONNECT: the destination and
// the principal it was refused for.
var deniedConnect = regexp.MustCompile(`connect (\S+) denied by policy for (\S+) \(`)

// refusedCertificate reports whether a handshake error is the peer's
// refusal of this side's certificate. With TLS 1.3 the client learns it
// at its first read, as the alert the server sent.
func refusedCertificate(msg string) bool { return hop.RefusedByPeer(errors.New(msg)) }

// explainRemote rewrites the failure of a call on the target route
// reached: a service the node does not grant this client says which
// grant would allow it.
func explainRemote(ctx context.Context, route *hop.Route, err error) error {
	if err == nil || route == nil || !errors.Is(err, session.ErrNoService) {
		return err
	}
	svc := "classic"
	var re *session.RemoteError
	if errors.As(err, &re) {
		if i := strings.LastIndex(re.Message, ": "); i >= 0 {
			svc = strings.Trim(re.Message[i+2:], `"`)
		}
	}
	t := route.Hops[len(route.Hops)-1]
	node := orDefault(t.Peer.Principal, t.Addr.String())
	me := "NAME"
	ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if info, ierr := session.Call[relay.NodeInfo](ictx, route.Target().Service("node"), "Info"); ierr == nil && info.Peer != "" {
		me = info.Peer
	}
	switch svc {
	case "classic":
		return fmt.Errorf("node %s does not grant you (%s) classic administration (its operator can add --grant %s:classic)", quoteName(node), quoteName(me), quoteName(me))
	case "eval":
		return fmt.Errorf("node %s does not grant you (%s) Go evaluation (its operator can add --grant %s:classic=eval)", quoteName(node), quoteName(me), quoteName(me))
	}
	return fmt.Errorf("node %s has no service %q (or does not grant it to %s)", quoteName(node), svc, quoteName(me))
}
