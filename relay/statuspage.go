package relay

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The status page: GET / on the admin listener, rendered by the node
// with html/template (which escapes every name a peer gave), its live
// part re-fetched every few seconds (GET status/live) by a small script,
// and the same snapshot as JSON (GET status.json). The assets are
// embedded; the page loads nothing from elsewhere, and its
// Content-Security-Policy says so.

//go:embed static
var staticFS embed.FS

var statusTmpl = template.Must(template.New("status.html").Funcs(template.FuncMap{
	"stamp":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"ago":    func(t, now time.Time) string { return roughly(now.Sub(t)) },
	"expiry": expiry,
	"short":  shortFP,
	"bytes": func(n *int64) string {
		if n == nil {
			return "—"
		}
		return humanBytes(*n)
	},
	"rtt": func(ms *float64) string {
		if ms == nil {
			return "—"
		}
		if *ms < 10 {
			return fmt.Sprintf("%.2f ms", *ms)
		}
		return fmt.Sprintf("%.0f ms", *ms)
	},
}).ParseFS(staticFS, "static/status.html"))

// statusCSP allows the page its own script, style and fetches, and
// nothing else (no inline script, no frames).
const statusCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// statusView is what the templates render.
type statusView struct {
	status
	Topo topology
	Ring int
}

// handleStatus adds the status page's routes to mux.
func (s *Server) handleStatus(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(static)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "status.html" { // a template, not an asset
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})))
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			st := s.status(r.Context())
			v := statusView{status: st, Topo: layout(&st), Ring: denialRing}
			var buf bytes.Buffer
			if err := statusTmpl.ExecuteTemplate(&buf, name, v); err != nil {
				s.log.Warn("status page", "err", err)
				http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
				return
			}
			h := w.Header()
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Content-Security-Policy", statusCSP)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Cache-Control", "no-store")
			w.Write(buf.Bytes())
		}
	}
	mux.HandleFunc("GET /{$}", page("page"))
	mux.HandleFunc("GET /status/live", page("live"))
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(s.status(r.Context()))
	})
}

// loopbackOnly refuses requests whose Host is not a loopback address or
// localhost: a plain-HTTP admin listener on loopback is otherwise open to
// any web page the node's operator visits that rebinds its own name to
// 127.0.0.1 (DNS rebinding), and the status page names peers and
// destinations.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = strings.Trim(r.Host, "[]")
		}
		if !loopbackHost(host) {
			http.Error(w, "admin: this listener answers to a loopback address or localhost only", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// roughly is a duration as a person reads it: 42s, 3m12s, 5h4m, 12d3h.
func roughly(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// expiry says when a certificate expires and how long that is from now.
func expiry(t, now time.Time) string {
	if t.IsZero() {
		return "— (no certificate)"
	}
	if t.Year() >= 9999 {
		return "never (9999-12-31)"
	}
	left := t.Sub(now)
	if left <= 0 {
		return fmt.Sprintf("%s (EXPIRED %s ago)", t.Format("2006-01-02"), roughly(-left))
	}
	return fmt.Sprintf("%s (in %s)", t.Format("2006-01-02"), roughly(left))
}

// shortFP is a fingerprint cut to its first characters (the page has the
// whole one in the title).
func shortFP(fp string) string {
	if fp == "" {
		return "—"
	}
	if len(fp) > 19 {
		return fp[:19] + "…"
	}
	return fp
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// topology is the SVG picture of the node and its neighbours: the peers
// linked to it on the left (clients), and on the right the agents
// registered here, the relays it is registered at, and the destinations
// of the forwards open now. It is laid out here and drawn by the
// "topology" template.
type topology struct {
	W, H    int
	Nodes   []topoNode
	Edges   []topoEdge
	Columns []topoColumn
}

type topoNode struct {
	X, Y, W, HalfW int
	Kind           string // self, client, agent, relay, dest, more
	Label, Sub     string
	Title          string
}

type topoEdge struct {
	X1, Y1, X2, Y2 int
	Kind           string
}

type topoColumn struct {
	X     int
	Label string
}

// Layout of the picture.
const (
	topoW       = 760
	topoNodeW   = 180
	topoRow     = 44
	topoTop     = 44
	topoMaxRows = 10 // per column; the rest are one "+N more" box
	topoLabel   = 24 // runes of a label
)

// layout places st's neighbours in two columns around the node.
func layout(st *status) topology {
	var left, right []topoNode
	for _, l := range st.Links {
		if l.Kind == "agent" {
			continue // drawn as its agents, on the right
		}
		left = append(left, topoNode{Kind: "client", Label: cut(l.Peer), Sub: l.Transport + " · " + rttText(l.RTTMillis),
			Title: fmt.Sprintf("client %s (%s) over %s, announced as %s", l.Peer, l.Fingerprint, l.Transport, l.Name)})
	}
	for _, a := range st.Agents {
		right = append(right, topoNode{Kind: "agent", Label: cut(a.Name), Sub: "agent · " + a.Transport,
			Title: fmt.Sprintf("agent %s registered here by %s (%s)", a.Name, a.Peer, a.Fingerprint)})
	}
	for _, u := range st.Uplinks {
		right = append(right, topoNode{Kind: "relay", Label: cut(u.Peer), Sub: "relay · " + cut(u.Relay),
			Title: fmt.Sprintf("relay %s at %s, where this node is agent %s", u.Peer, u.Relay, u.Agent)})
	}
	dests := map[string][]string{} // destination → networks
	var order []string
	for _, f := range st.Forwards {
		if _, ok := dests[f.Dest]; !ok {
			order = append(order, f.Dest)
		}
		if !slices.Contains(dests[f.Dest], f.Network) {
			dests[f.Dest] = append(dests[f.Dest], f.Network)
		}
	}
	for _, d := range order {
		right = append(right, topoNode{Kind: "dest", Label: cut(d), Sub: strings.Join(dests[d], ", ") + " forward",
			Title: "forward to " + d})
	}
	left, right = capColumn(left), capColumn(right)
	rows := max(len(left), len(right), 1)
	t := topology{W: topoW, H: topoTop + rows*topoRow + 8}
	self := topoNode{X: topoW / 2, Y: topoTop + rows*topoRow/2 - 4, Kind: "self", Label: cut(st.Node.Name), Sub: "this node",
		Title: "this node, " + st.Node.Name + " " + st.Node.Fingerprint}
	lx, rx := topoNodeW/2+10, topoW-topoNodeW/2-10
	t.Columns = []topoColumn{{X: lx, Label: "clients"}, {X: topoW / 2, Label: ""}, {X: rx, Label: "agents · relays · forwards"}}
	place := func(col []topoNode, x int) {
		top := topoTop + (rows-len(col))*topoRow/2 // centred on the node
		for i := range col {
			n := &col[i]
			n.X, n.Y = x, top+i*topoRow+topoRow/2-4
			edge := topoEdge{X1: self.X, Y1: self.Y, X2: n.X, Y2: n.Y, Kind: n.Kind}
			if x < self.X {
				edge.X1, edge.X2 = n.X+topoNodeW/2, self.X-topoNodeW/2
			} else {
				edge.X1, edge.X2 = self.X+topoNodeW/2, n.X-topoNodeW/2
			}
			t.Edges = append(t.Edges, edge)
			t.Nodes = append(t.Nodes, *n)
		}
	}
	place(left, lx)
	place(right, rx)
	t.Nodes = append(t.Nodes, self)
	for i := range t.Nodes {
		t.Nodes[i].W, t.Nodes[i].HalfW = topoNodeW, topoNodeW/2
	}
	return t
}

// capColumn keeps the first topoMaxRows-1 of a long column and sums up
// the rest in one box.
func capColumn(col []topoNode) []topoNode {
	if len(col) <= topoMaxRows {
		return col
	}
	rest := len(col) - (topoMaxRows - 1)
	return append(col[:topoMaxRows-1:topoMaxRows-1], topoNode{Kind: "more", Label: fmt.Sprintf("+%d more", rest),
		Sub: "see the tables", Title: fmt.Sprintf("%d more not drawn", rest)})
}

// cut shortens a label for the picture (the node's title has it whole).
func cut(s string) string {
	if utf8.RuneCountInString(s) <= topoLabel {
		return s
	}
	r := []rune(s)
	return string(r[:topoLabel-1]) + "…"
}

func rttText(ms *float64) string {
	if ms == nil {
		return "RTT —"
	}
	return fmt.Sprintf("%.1f ms", *ms)
}
