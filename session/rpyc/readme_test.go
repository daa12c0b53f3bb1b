package rpyc_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopwire/hopwire/session/rpyc"
	"github.com/hopwire/hopwire/session/rpyc/rpyctest"
)

// The Go service of README.md's RPyC section, verbatim (TestREADME
// checks that the README's go block is this text).

// README service start
// Shop is served to Python clients as their conn.root.
type Shop struct {
	stock map[string]int
}

// Order is Buy's one parameter: keywords fill its fields.
type Order struct {
	Item  string
	Count int
}

// Stock is the shop's own map (a pointer): a client's changes are the shop's.
func (s *Shop) Stock() *map[string]int { return &s.stock }

// Prices is a new map each call: the client gets its own dict.
func (s *Shop) Prices() map[string]float64 {
	return map[string]float64{"apples": 0.5, "pears": 0.75, "kiwis": 0.25}
}

// Items is a new slice: the client gets its own list.
func (s *Shop) Items() (items []string) {
	rpyc.Guard(func() { items = slices.Sorted(maps.Keys(s.stock)) })
	return items
}

// Buy is called as shop.buy(item="pears", count=2).
func (s *Shop) Buy(o Order) (cost float64, err error) {
	rpyc.Guard(func() {
		if s.stock[o.Item] < o.Count {
			err = fmt.Errorf("only %d %s left", s.stock[o.Item], o.Item)
			return
		}
		s.stock[o.Item] -= o.Count
	})
	return float64(o.Count) * s.Prices()[o.Item], err
}

// Receipt is an io.Closer, so with shop.receipt() as r: closes it.
func (s *Shop) Receipt() *Receipt { return &Receipt{} }

type Receipt struct {
	mu     sync.Mutex
	lines  []string
	closed bool
}

func (r *Receipt) Add(line string) { r.mu.Lock(); r.lines = append(r.lines, line); r.mu.Unlock() }
func (r *Receipt) Lines() []string { r.mu.Lock(); defer r.mu.Unlock(); return slices.Clone(r.lines) }
func (r *Receipt) Close() error    { r.mu.Lock(); r.closed = true; r.mu.Unlock(); return nil }

// README service end

// readmeBlock returns the first ```lang block after the RPyC section's
// heading in README.md.
func readmeBlock(t *testing.T, lang string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(data), "\n### Existing RPyC servers and clients\n")
	if !ok {
		t.Fatal("README.md has no RPyC section")
	}
	_, block, ok := strings.Cut(after, "\n```"+lang+"\n")
	if !ok {
		t.Fatalf("README's RPyC section has no %s block", lang)
	}
	block, _, _ = strings.Cut(block, "\n```\n")
	return block
}

// TestREADME runs the Python client of README.md's RPyC section, with the
// Python RPyC of each line, against the Go service above (the README's go
// block, checked to be the same text), and checks what it printed and
// what it changed.
func TestREADME(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, svc, _ := strings.Cut(string(src), "// README service start\n")
	svc, _, _ = strings.Cut(svc, "\n// README service end")
	goBlock := readmeBlock(t, "go")
	if !strings.HasPrefix(goBlock, strings.TrimSpace(svc)) {
		t.Errorf("README's go block is not readme_test.go's service:\n%s\n---\n%s", goBlock, svc)
	}
	script := readmeBlock(t, "python")
	for _, line := range rpyctest.Lines {
		t.Run(line, func(t *testing.T) {
			p := rpyctest.For(t, line)
			shop := &Shop{stock: map[string]int{"apples": 3, "pears": 5}}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- rpyc.Serve(ctx, ln, &rpyc.Options{Root: shop}) }()
			defer func() { cancel(); <-done }()
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			py := strings.Replace(script, `rpyc.connect("localhost", 18861)`, `rpyc.connect("127.0.0.1", `+port+`)`, 1)
			cctx, ccancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer ccancel()
			out, err := p.Command(cctx, "-c", py).CombinedOutput()
			if err != nil {
				t.Fatalf("README's python (rpyc %s): %v\n%s", p.Version, err, out)
			}
			want := "SHOP\n3 2 False\napples 3\npears 5\n1.5\n['apples', 'kiwis', 'pears', 'figs']\n['pears x2: 1.5']\nonly 3 pears left\n"
			if string(out) != want {
				t.Errorf("README's python (rpyc %s) printed\n%s\nwant\n%s", p.Version, out, want)
			}
			var stock string
			rpyc.Guard(func() { stock = fmt.Sprint(shop.stock) })
			if stock != "map[apples:3 kiwis:7 pears:3]" {
				t.Errorf("stock after the client: %s", stock)
			}
		})
	}
}
