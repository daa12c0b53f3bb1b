package hopwire_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hopwire/hopwire"
	"github.com/hopwire/hopwire/relay"
	"github.com/hopwire/hopwire/session"
)

// Reach a node through two relays and fetch a page that only the node can
// reach; ask the node for its name over RPC. Every hop must be in
// ~/.hopwire/known_nodes (hopwire trust --known FP NAME --addr HOST:PORT).
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := hopwire.Dial(ctx, "tls://vm:7443", &hopwire.Options{
		Via:    []string{"tls://r1:7443", "tls://r2:7443"},
		Redial: true,
	})
	if err != nil {
		fmt.Println(err) // names the hop that failed, and why
		return
	}
	defer cl.Close()

	hc := &http.Client{Transport: &http.Transport{DialContext: cl.DialContext}}
	resp, err := hc.Get("http://10.0.0.5:8080/status")
	if err != nil {
		fmt.Println(err) // a policy refusal is a dial error (session.ErrDenied)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s\n", body)

	info, err := session.Call[relay.NodeInfo](ctx, cl.Conn().Service("node"), "Info")
	if err == nil {
		fmt.Println("reached", info.Name)
	}
}
