package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// hopSyntax is how a hop is written, for every command's help.
const hopSyntax = `Hops (TARGET, -J): tls://HOST:PORT, quic://HOST:PORT, dtls://HOST:PORT,
  ssh://[USER@]HOST[:PORT], tcp://127.0.0.1:PORT, stdio:COMMAND ARGS, a bare
  NAME (an agent at the previous relay, or a host in $HOPWIRE_HOME/config);
  pin a key with tls://HOST:PORT#SHA256:…; -J takes a comma-separated chain.`

// helpText is a command's synopsis (after "hopwire NAME ") and examples.
type helpText struct {
	synopsis string
	examples []string
	hops     bool // the command reaches a TARGET through hops
}

var helps = map[string]helpText{
	"demo": {synopsis: "[--bytes N]", examples: []string{"hopwire demo"}},
	"serve": {synopsis: "--listen URL... [--grant RULE...] | --stdio | --connect RELAY --name NAME", examples: []string{
		"hopwire serve --listen quic://10.0.2.2:7443 --grant client:classic",
		"hopwire serve --listen tls://0.0.0.0:7443 --grant client:connect=10.0.2.2:7443",
		"hopwire serve --name db1 --connect tls://relay.example:7443 --grant client:classic",
		"hopwire serve --listen tls://10.0.0.1:7443 --directory nats://10.0.0.9:4222 --ca fleet-ca.crt --grant fleet-relay:relay --grant db1:register --grant client:agent",
		"hopwire serve --name db1 --connect tls://10.0.0.1:7443 --connect tls://10.0.0.2:7443 --grant client:classic",
	}, hops: true},
	"ping": {synopsis: "[flags] TARGET", examples: []string{
		"hopwire ping -J tls://r1.example:7443 quic://10.0.2.2:7443",
		"hopwire ping -c 3 --json db1",
	}, hops: true},
	"trace": {synopsis: "[flags] TARGET", examples: []string{
		"hopwire trace -J tls://r1.example:7443 quic://10.0.2.2:7443",
		"hopwire trace -J ssh://ops@bastion.example tls://10.0.3.7:7443",
	}, hops: true},
	"peers": {synopsis: "[flags] RELAY", examples: []string{
		"hopwire peers tls://relay.example:7443",
		"hopwire peers --json tls://relay.example:7443",
		"hopwire peers --fleet tls://relay.example:7443",
	}, hops: true},
	"trust": {synopsis: "--known FINGERPRINT NAME [--addr HOST:PORT]... | --authorized FINGERPRINT NAME | --list | --remove FINGERPRINT", examples: []string{
		"hopwire trust --authorized SHA256:… client",
		"hopwire trust --known SHA256:… r1 --addr r1.example:7443",
		"hopwire trust --list",
		"hopwire trust --remove SHA256:…",
	}},
	"exec": {synopsis: "[flags] TARGET -- CMD [ARGS...] | [flags] --targets FILE -- CMD [ARGS...]", examples: []string{
		"hopwire exec -J tls://r1.example:7443 quic://10.0.2.2:7443 -- uname -a",
		"hopwire exec -C /var/log db1 -- ls",
		"hopwire exec --targets hosts.txt -- uptime",
	}, hops: true},
	"shell": {synopsis: "[flags] TARGET", examples: []string{
		"hopwire shell -J tls://r1.example:7443 quic://10.0.2.2:7443",
		"hopwire shell db1",
	}, hops: true},
	"put": {synopsis: "[flags] TARGET LOCAL... REMOTE | [flags] --targets FILE LOCAL... REMOTE", examples: []string{
		"hopwire put db1 ./app.tar.gz /tmp/",
		"hopwire put -r -J tls://r1.example:7443 quic://10.0.2.2:7443 ./site /srv/",
	}, hops: true},
	"get": {synopsis: "[flags] TARGET REMOTE... LOCAL | [flags] --targets FILE REMOTE... LOCAL", examples: []string{
		"hopwire get db1 /var/log/syslog .",
		"hopwire get -r db1 /etc/nginx ./nginx",
		"hopwire get --targets hosts.txt /etc/os-release ./collected",
	}, hops: true},
	"call": {synopsis: "[flags] TARGET SERVICE.METHOD [JSON-ARG...]", examples: []string{
		"hopwire call db1 classic.Host",
		`hopwire call db1 eval.Eval '"len(\"hopwire\") * 6"'`,
	}, hops: true},
	"rpyc": {synopsis: "[flags] HOST:PORT EXPR", examples: []string{
		`hopwire rpyc -J tls://r1:7443 lab-rig:18812 'modules.os.listdir("/tmp")'`,
		"hopwire rpyc localhost:18812 modules.sys.platform",
	}, hops: true},
	"forward": {synopsis: "[flags] TARGET -L [BIND:]PORT:HOST:PORT... -R [BIND:]PORT:HOST:PORT... -D [BIND:]PORT...", examples: []string{
		"hopwire forward db1 -L 8080:intranet:80",
		"hopwire forward -J tls://r1.example:7443 quic://10.0.2.2:7443 -D 1080",
		"hopwire forward db1 -R 127.0.0.1:9000:localhost:3000",
	}, hops: true},
	"mux": {synopsis: "--control PATH [--persist DURATION] [flags] TARGET", examples: []string{
		"hopwire mux --control ~/.hopwire/db1.sock --persist 10m -J tls://r1.example:7443 db1 &",
		"hopwire exec --control ~/.hopwire/db1.sock db1 -- uptime",
	}, hops: true},
	"ls": {synopsis: "[flags] TARGET [PATH...]", examples: []string{
		"hopwire ls -l db1 /var/log",
		"hopwire ls --json db1 /etc",
	}, hops: true},
	"cat":   {synopsis: "[flags] TARGET PATH...", examples: []string{"hopwire cat db1 /etc/os-release"}, hops: true},
	"rm":    {synopsis: "[flags] TARGET PATH...", examples: []string{"hopwire rm db1 /tmp/old.log", "hopwire rm -r db1 /tmp/site"}, hops: true},
	"mkdir": {synopsis: "[flags] TARGET PATH...", examples: []string{"hopwire mkdir db1 /srv/site/assets"}, hops: true},
	"state": {synopsis: "[--gc] SOCKET", examples: []string{"hopwire state /run/hopwire/state.sock"}},
	"id": {synopsis: "[--name NAME] [--json]", examples: []string{
		"hopwire id",
		"hopwire id --name client",
		"hopwire --home ~/.hopwire-lab id --name lab",
	}},
	"uninstall": {synopsis: "[flags] ssh://[USER@]HOST[:PORT]", examples: []string{
		"hopwire uninstall ssh://ops@10.0.3.9",
		"hopwire uninstall --identity -J ssh://ops@bastion.example ssh://ops@10.0.3.9",
	}, hops: true},
	"certs": {synopsis: "init --dir DIR | issue --dir DIR --name NAME [--host HOST]...", examples: []string{
		"hopwire certs init --dir ./ca",
		"hopwire certs issue --dir ./ca --name relay1 --host relay1.example",
	}},
	"bench":      {synopsis: "[flags]", examples: []string{"hopwire bench -only TLS -count 3", "hopwire bench -list"}},
	"completion": {synopsis: "bash|zsh|fish", examples: []string{"source <(hopwire completion bash)", "hopwire completion fish | source"}},
	"version":    {synopsis: "", examples: []string{"hopwire --version"}},
	"help":       {synopsis: "COMMAND", examples: []string{"hopwire help exec"}},
	"man":        {synopsis: "DIR", examples: []string{"hopwire man /usr/local/share/man/man1"}},
}

// helpDoc is a command's help, in parts: printHelp writes it as text,
// writeMan as roff, so the man pages say what the help says.
type helpDoc struct {
	name, synopsis, summary string
	hops                    bool // the hop syntax applies
	examples                []string
	flags                   []flagGroup
}

// flagGroup is one FlagSet's flags; title is "" for a command's only one.
type flagGroup struct {
	title string
	flags []flagDoc
}

// flagDoc is one flag: "--listen URL" and its usage, default included.
type flagDoc struct {
	head, usage string
}

// helpOf returns the help of the command name.
func helpOf(name string) (helpDoc, error) {
	c, ok := lookup(name)
	if !ok && name != "help" {
		return helpDoc{}, fmt.Errorf("%w: no command %q; run hopwire --help for the list", errUsage, name)
	}
	if name == "help" {
		c = command{name: "help", summary: "print a command's usage, examples and flags"}
	}
	h := helps[name]
	d := helpDoc{name: name, synopsis: h.synopsis, summary: c.summary, hops: h.hops, examples: h.examples}
	if name == "certs" {
		// Two verbs, two flag sets.
		for _, verb := range []string{"init", "issue"} {
			sink := &helpSink{Writer: io.Discard}
			runCerts(context.Background(), []string{verb, "-h"}, nil, io.Discard, sink)
			d.flags = append(d.flags, flagGroup{title: "certs " + verb, flags: flagDocs(sink.fs)})
		}
		return d, nil
	}
	if c.run != nil {
		if fs := flagSetOf(c); fs != nil {
			d.flags = []flagGroup{{flags: flagDocs(fs)}}
		}
	}
	return d, nil
}

// printHelp prints a command's help to w: usage line, description, hop
// syntax, examples and flags in --double-dash form.
func printHelp(name string, w io.Writer) error {
	d, err := helpOf(name)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "usage: hopwire %s %s\n\n%s\n", name, d.synopsis, d.summary)
	if d.hops {
		fmt.Fprintf(w, "\n%s\n", hopSyntax)
	}
	if len(d.examples) > 0 {
		fmt.Fprintln(w, "\nexamples:")
		for _, e := range d.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	for _, g := range d.flags {
		if g.title != "" {
			fmt.Fprintf(w, "\nflags of %s:\n", g.title)
		} else {
			fmt.Fprintln(w, "\nflags:")
		}
		for _, f := range g.flags {
			fmt.Fprintln(w, flagLine(f))
		}
	}
	return nil
}

// flagLine is a flag as the help lists it.
func flagLine(f flagDoc) string {
	return fmt.Sprintf("  %-22s %s", f.head, strings.ReplaceAll(f.usage, "\n", "\n                         "))
}

// flagDocs returns a FlagSet's flags as -x / --long, with their
// defaults, in the help's order.
func flagDocs(fs *flag.FlagSet) []flagDoc {
	if fs == nil {
		return nil
	}
	var out []flagDoc
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		head := dashes(f.Name)
		if arg != "" {
			head += " " + arg
		}
		if def := f.DefValue; def != "" && def != "false" && def != "0" && def != "0s" {
			usage += fmt.Sprintf(" (default %s)", def)
		}
		out = append(out, flagDoc{head: head, usage: usage})
	})
	sort.Slice(out, func(i, j int) bool { return flagLine(out[i]) < flagLine(out[j]) })
	return out
}
