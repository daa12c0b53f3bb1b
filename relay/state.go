package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// State is a snapshot of a node's resources, for monitoring and for tests
// that check a node is "back to baseline" after sessions end. It is
// served as JSON on [Options.StateSocket] (GET /state; ?gc=1 collects
// garbage first) and returned by [Server.State].
type State struct {
	Node string    `json:"node"`
	Time time.Time `json:"time"`

	// Process-wide figures.
	Goroutines int    `json:"goroutines"`
	FDs        int    `json:"fds"`      // open file descriptors; -1 where unknown
	Children   int    `json:"children"` // live child processes; -1 where unknown
	HeapAlloc  uint64 `json:"heap_alloc"`

	// Sessions are the authenticated links with an RPC session; Streams
	// the streams open on them (connects, data streams, RPC); Refs the
	// references the node exports to its peers; Agents the registered
	// reverse agents.
	Sessions int `json:"sessions"`
	Streams  int `json:"streams"`
	Refs     int `json:"refs"`
	Agents   int `json:"agents"`
	// Buffered is what the links hold in their receive buffers (data
	// received, not yet read), counted against Options.MemoryBudget.
	Buffered int64 `json:"buffered"`

	// PreAuth counts connections accepted and not yet authenticated, over
	// every listener that counts them (tls, ssh, dtls; quic-go keeps its
	// own).
	PreAuth int `json:"preauth"`
	// Drops counts what the node refused since it started, by reason:
	// "SCHEME:cap", "SCHEME:silent" and "SCHEME:refused" for connections
	// dropped before authentication (see the transports' Stats), "link"
	// (a hello failed), "session" (the RPC session could not start),
	// "denied" (a CONNECT refused by policy) and "malformed" (a CONNECT
	// request that could not be parsed).
	Drops map[string]uint64 `json:"drops"`
}

// State returns a snapshot of the node's resources. Its counts come from
// where the node's /metrics reads them (see [Server.AdminHandler]).
func (s *Server) State() State {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := State{
		Node:       s.opts.Name,
		Time:       time.Now().UTC(),
		Goroutines: runtime.NumGoroutine(),
		FDs:        countFDs(),
		Children:   countChildren(),
		HeapAlloc:  ms.HeapAlloc,
		Buffered:   s.adm.budget.Used(),
	}
	n := s.census()
	st.Sessions, st.Streams, st.Refs, st.Agents = n.sessions, n.streams, n.refs, n.agents
	d := s.dropped()
	st.PreAuth, st.Drops = d.preAuth, d.node
	for k, v := range d.preAuthDrops {
		st.Drops[k[0]+":"+k[1]] += v
	}
	return st
}

// countFDs returns how many file descriptors the process has open, or -1.
func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents) - 1 // the directory's own
}

// countChildren returns the process's live (or unreaped) children, or -1.
func countChildren() int {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return -1
	}
	n := 0
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc/self/task", t.Name(), "children"))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // the thread ended
			}
			return -1
		}
		n += len(strings.Fields(string(b)))
	}
	return n
}

// stateServer serves State on a unix socket.
type stateServer struct {
	path string
	srv  *http.Server
	done chan struct{}
}

// serveState listens on the unix socket path (replacing a stale socket,
// never another kind of file) and serves GET /state.
func (s *Server) serveState(path string) (*stateServer, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("relay: state socket %s: exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("relay: state socket %s: another process is serving it", path)
		}
		os.Remove(path)
	}
	ln, err := listenPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("relay: state socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /state", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") != "" {
			runtime.GC() // so HeapAlloc is live memory, comparable with a baseline
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(s.State())
	})
	st := &stateServer{path: path, done: make(chan struct{}),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
			BaseContext: func(net.Listener) context.Context { return s.ctx }}}
	go func() {
		defer close(st.done)
		st.srv.Serve(ln)
	}()
	s.log.Info("state endpoint", "socket", path)
	return st, nil
}

// listenPrivate listens on a unix socket at path that is mode 0600 from
// the moment it appears there. A socket is created with the mode the
// umask leaves, and a chmod after listening leaves a window in which
// another user may connect. So the socket is bound inside a new directory
// beside path that only this user can enter (a umask is process-wide,
// and other goroutines create files too), made 0600 there, then given its
// name by a hard link, which fails rather than replace whatever appeared
// at path meanwhile. The directory is removed; the listener does not
// unlink path when closed (stateServer.close removes it).
func listenPrivate(path string) (net.Listener, error) {
	dir, err := os.MkdirTemp(filepath.Dir(path), ".hopwire-state-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.Link(tmp, path); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func (st *stateServer) close() {
	st.srv.Close()
	<-st.done
	os.Remove(st.path)
}

// ReadState fetches a node's State from its state socket; with gc, the
// node collects garbage first, so HeapAlloc counts live memory only.
func ReadState(ctx context.Context, socket string, gc bool) (State, error) {
	cl := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}}
	defer cl.CloseIdleConnections()
	u := "http://hopwire/state"
	if gc {
		u += "?gc=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return State{}, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return State{}, fmt.Errorf("relay: state %s: %w", socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return State{}, fmt.Errorf("relay: state %s: %s", socket, resp.Status)
	}
	var st State
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return State{}, fmt.Errorf("relay: state %s: %w", socket, err)
	}
	return st, nil
}
