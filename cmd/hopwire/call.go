package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// runCall: hopwire call [-J chain] TARGET SERVICE.METHOD [JSON-ARG...]
// Arguments are JSON values; the results are printed as a JSON array (one
// value alone when there is one). A remote error goes to stderr, exit 1.
func runCall(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	rc := newRouteCmd("call", stderr).withJSON("the results (always JSON: the flag is accepted for scripts)")
	if err := parse(rc.fs, args); err != nil {
		return err
	}
	if rc.fs.NArg() < 2 {
		return fmt.Errorf("%w: call TARGET SERVICE.METHOD [JSON-ARG...]", errUsage)
	}
	svc, method, ok := strings.Cut(rc.fs.Arg(1), ".")
	if !ok || svc == "" || method == "" {
		return fmt.Errorf("%w: %q is not SERVICE.METHOD", errUsage, rc.fs.Arg(1))
	}
	var callArgs []any
	for _, a := range rc.fs.Args()[2:] {
		var v any
		dec := json.NewDecoder(strings.NewReader(a))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("%w: argument %q is not JSON: %v", errUsage, a, err)
		}
		callArgs = append(callArgs, jsonToGo(v))
	}
	route, err := dialTarget(ctx, rc.fs, &rc.idf, &rc.cf, stderr)
	if err != nil {
		return err
	}
	defer route.Close()
	res, err := route.Target().Service(svc).Call(ctx, method, callArgs...)
	if err != nil {
		return explainRemote(ctx, route, err)
	}
	out := make([]any, res.Len())
	ptrs := make([]any, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	if err := res.Decode(ptrs...); err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	if len(out) == 1 {
		return enc.Encode(out[0])
	}
	return enc.Encode(out)
}

// jsonToGo turns json.Numbers into int64 when integral, float64 otherwise,
// so that they decode into the remote method's integer parameters.
func jsonToGo(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = jsonToGo(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = jsonToGo(x[k])
		}
		return x
	}
	return v
}
