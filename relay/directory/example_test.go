package directory_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/hopwire/hopwire/relay/directory"
)

// Two relays of one in-process fleet: an agent registered at one is found
// from the other, and its name is its key's.
func ExampleMemory_Join() {
	ctx := context.Background()
	r1 := directory.NewMemory(directory.RelayInfo{ID: "SHA256:r1", Addr: "tls://10.0.0.1:7443"})
	defer r1.Close()
	r2 := r1.Join(directory.RelayInfo{ID: "SHA256:r2", Addr: "tls://10.0.0.2:7443"})
	defer r2.Close()

	if err := r1.Register(ctx, "db1", "SHA256:db1-key"); err != nil {
		fmt.Println(err)
	}
	e, err := r2.Lookup(ctx, "db1")
	fmt.Println(e.Name, "is at", e.Relay, e.Addr, err)

	err = r2.Register(ctx, "db1", "SHA256:another-key")
	fmt.Println(errors.Is(err, directory.ErrTaken))

	// db1 fails over to r2: the same key moves its name.
	r2.Register(ctx, "db1", "SHA256:db1-key")
	e, _ = r1.Lookup(ctx, "db1")
	fmt.Println(e.Name, "is at", e.Relay)

	// r2 goes away: its agents with it.
	r2.Close()
	_, err = r1.Lookup(ctx, "db1")
	fmt.Println(err)
	// Output:
	// db1 is at SHA256:r1 tls://10.0.0.1:7443 <nil>
	// true
	// db1 is at SHA256:r2
	// directory: agent not found
}
