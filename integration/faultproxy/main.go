// Command faultproxy is the end-to-end tests' userspace fault injector
// (the test machines have no tc netem): it forwards TCP or UDP from
// -listen to -target through transporttest's fault proxies and takes
// commands on stdin, one per line, so a test can switch faults while bytes
// are moving:
//
//	tcp: stall | blackhole | forward | rst | fin | latency DUR [JITTER] | rate BYTES_PER_S
//	udp: drop P | delay DUR [JITTER] | reorder P | duplicate P | corrupt P | blackhole | forward
//
// It prints "ready" once listening and "ok CMD" after each command; the
// seed it uses is printed too, so a failing run can be replayed.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hopwire/hopwire/transport/transporttest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	target := flag.String("target", "", "address to forward to")
	udp := flag.Bool("udp", false, "forward UDP datagrams (default TCP)")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the fault generators")
	flag.Parse()
	if *target == "" {
		fmt.Fprintln(os.Stderr, "faultproxy: -target is required")
		os.Exit(2)
	}
	var apply func([]string) error
	if *udp {
		f := transporttest.Faults{Seed: *seed}
		p, err := transporttest.ListenUDPProxy(*listen, *target, f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "faultproxy:", err)
			os.Exit(1)
		}
		fmt.Printf("ready udp %s seed %d\n", p.Addr(), *seed)
		apply = func(w []string) error { return udpCommand(p, &f, w) }
	} else {
		p, err := transporttest.ListenTCPProxy(*listen, *target, transporttest.TCPFaults{Seed: *seed})
		if err != nil {
			fmt.Fprintln(os.Stderr, "faultproxy:", err)
			os.Exit(1)
		}
		fmt.Printf("ready tcp %s seed %d\n", p.Addr(), *seed)
		f := transporttest.TCPFaults{Seed: *seed}
		apply = func(w []string) error { return tcpCommand(p, &f, w) }
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) == 0 {
			continue
		}
		if err := apply(w); err != nil {
			fmt.Printf("error %s: %v\n", w[0], err)
			continue
		}
		fmt.Printf("ok %s\n", strings.Join(w, " "))
	}
	// stdin closed: the test is done with us.
}

func durations(w []string) (d, j time.Duration, err error) {
	if len(w) < 2 {
		return 0, 0, fmt.Errorf("want DURATION [JITTER]")
	}
	if d, err = time.ParseDuration(w[1]); err != nil {
		return
	}
	if len(w) > 2 {
		j, err = time.ParseDuration(w[2])
	}
	return
}

func prob(w []string) (float64, error) {
	if len(w) < 2 {
		return 0, fmt.Errorf("want a probability")
	}
	return strconv.ParseFloat(w[1], 64)
}

func tcpCommand(p *transporttest.TCPProxy, f *transporttest.TCPFaults, w []string) error {
	switch w[0] {
	case "stall":
		p.SetMode(transporttest.Stall)
	case "blackhole":
		p.SetMode(transporttest.Blackhole)
	case "forward":
		p.SetMode(transporttest.Forward)
	case "rst":
		p.Reset()
	case "fin":
		p.Fin()
	case "latency":
		d, j, err := durations(w)
		if err != nil {
			return err
		}
		f.Latency, f.Jitter = d, j
		p.SetFaults(*f)
	case "rate":
		if len(w) < 2 {
			return fmt.Errorf("want BYTES_PER_SECOND")
		}
		r, err := strconv.ParseInt(w[1], 10, 64)
		if err != nil {
			return err
		}
		f.Rate = r
		p.SetFaults(*f)
	default:
		return fmt.Errorf("unknown tcp command")
	}
	return nil
}

func udpCommand(p *transporttest.UDPProxy, f *transporttest.Faults, w []string) error {
	var err error
	switch w[0] {
	case "drop":
		f.Drop, err = prob(w)
	case "reorder":
		f.Reorder, err = prob(w)
	case "duplicate":
		f.Duplicate, err = prob(w)
	case "corrupt":
		f.Corrupt, err = prob(w)
	case "delay":
		f.Delay, f.Jitter, err = durations(w)
	case "blackhole":
		f.Blackhole = true
	case "forward":
		f.Blackhole = false
	default:
		return fmt.Errorf("unknown udp command")
	}
	if err != nil {
		return err
	}
	p.SetFaults(*f)
	return nil
}
