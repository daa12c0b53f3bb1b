package rpyc_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"

	"github.com/hopwire/hopwire/session/rpyc"
)

// A Go program drives a classic RPyC server.
func Example_classic() {
	ctx := context.Background()
	c, err := rpyc.Dial(ctx, "lab-rig:18812", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	k, err := rpyc.NewClassic(ctx, c)
	if err != nil {
		log.Fatal(err)
	}
	osm, _ := k.Module(ctx, "os")
	listing, err := osm.CallAttr(ctx, "listdir", "/tmp")
	if err != nil {
		log.Fatal(err)
	}
	names, _ := listing.(*rpyc.Ref).Items(ctx)
	fmt.Println(rpyc.Repr(names))

	builtins, _ := k.Builtins(ctx)
	_, err = builtins.CallAttr(ctx, "open", "/no/such/file")
	fmt.Println(errors.Is(err, fs.ErrNotExist)) // a Python FileNotFoundError
}

// Calculator is served to Python clients: conn.root.add(1, 2), or
// conn.root.apply(lambda x: x * 2, 21) to be called back.
type Calculator struct{}

func (Calculator) Add(a, b int) int { return a + b }

func (Calculator) Apply(ctx context.Context, f func(context.Context, int) (int, error), x int) (int, error) {
	return f(ctx, x)
}

// A Go service for Python RPyC clients.
func ExampleServe() {
	ln, err := net.Listen("tcp", "127.0.0.1:18861")
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(rpyc.Serve(context.Background(), ln, &rpyc.Options{Root: &Calculator{}}))
}
