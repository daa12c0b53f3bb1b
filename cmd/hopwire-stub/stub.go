package main

import (
	"bytes"
	"fmt"
	"go/format"
	"go/types"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

const sessionPath = "github.com/hopwire/hopwire/session"

// stub is one interface to write a stub for.
type stub struct {
	name    string        // the interface, as the package names it
	ctor    string        // NewCalcStub, or newCalcStub for an unexported calc
	impl    string        // calcStub
	methods []*types.Func // every method, embedded ones included, sorted by name
}

// file is the generated file while it is being written.
type file struct {
	p       *pkg
	imports map[string]imported // by path
	taken   map[string]bool     // names an import may not take: other imports', the stubs' own
}

type imported struct{ name, local string }

// generate writes the stubs of the interfaces names into one file, to be
// called file name in the package directory, and returns its source,
// formatted and type-checked.
func (p *pkg) generate(names []string, name string) ([]byte, error) {
	f := &file{p: p, imports: make(map[string]imported), taken: make(map[string]bool)}
	var stubs []*stub
	for _, n := range names {
		st, err := p.stubFor(n)
		if err != nil {
			return nil, err
		}
		for _, other := range stubs {
			if other.name == n {
				return nil, fmt.Errorf("%s: named twice", n)
			}
			if other.impl == st.impl {
				return nil, fmt.Errorf("%s and %s would both have a stub type %s", other.name, n, st.impl)
			}
		}
		f.taken[st.ctor], f.taken[st.impl] = true, true
		stubs = append(stubs, st)
	}

	var body bytes.Buffer
	for _, st := range stubs {
		f.writeStub(&body, st)
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "%s\n\npackage %s\n\n", header, p.types.Name())
	f.writeImports(&out)
	out.Write(body.Bytes())
	src, err := format.Source(out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("the generated code does not parse (a bug in hopwire-stub): %v", err)
	}
	if err := p.check(name, src); err != nil {
		return nil, err
	}
	return src, nil
}

// stubFor looks up the interface name and checks that every one of its
// methods can be called remotely through a stub.
func (p *pkg) stubFor(name string) (*stub, error) {
	obj := p.types.Scope().Lookup(name)
	if obj == nil {
		return nil, fmt.Errorf("%s: no such type in package %s", name, p.types.Name())
	}
	tn, ok := obj.(*types.TypeName)
	if !ok {
		return nil, fmt.Errorf("%s: not a type", name)
	}
	t := tn.Type()
	if named, ok := types.Unalias(t).(*types.Named); ok && named.TypeParams().Len() > 0 {
		return nil, fmt.Errorf("%s: generic interfaces are not supported", name)
	}
	if t.Underlying() == types.Typ[types.Invalid] {
		return nil, fmt.Errorf("%s: %v", name, p.typeError(tn.Pos()))
	}
	it, ok := t.Underlying().(*types.Interface)
	if !ok {
		return nil, fmt.Errorf("%s: not an interface type", name)
	}
	if !it.IsMethodSet() {
		return nil, fmt.Errorf("%s: a constraint (an interface with a type set) cannot be called remotely", name)
	}
	if it.NumMethods() == 0 {
		return nil, fmt.Errorf("%s: an interface without methods", name)
	}
	st := &stub{name: name}
	first, size := utf8.DecodeRuneInString(name)
	base := string(unicode.ToUpper(first)) + name[size:] + "Stub"
	st.impl = string(unicode.ToLower(first)) + name[size:] + "Stub"
	if tn.Exported() {
		st.ctor = "New" + base
	} else {
		st.ctor = "new" + base
	}
	for _, decl := range []string{st.ctor, st.impl} {
		if obj := p.types.Scope().Lookup(decl); obj != nil {
			return nil, fmt.Errorf("%s: the package already declares %s (%s)", name, decl, p.where(obj.Pos()))
		}
	}
	for m := range it.Methods() {
		if err := p.checkMethod(name, t, m); err != nil {
			return nil, err
		}
		st.methods = append(st.methods, m)
	}
	return st, nil
}

// checkMethod applies the rules to m, a method of the interface iface
// (of type t): exported, a context first, an error last, nothing that
// cannot cross the wire.
func (p *pkg) checkMethod(iface string, t types.Type, m *types.Func) error {
	label := iface + "." + m.Name()
	sig := m.Type().(*types.Signature)
	if recv := sig.Recv(); recv != nil && !types.Identical(recv.Type(), t) {
		if _, ok := recv.Type().(*types.Named); ok {
			label += " (from " + types.TypeString(recv.Type(), types.RelativeTo(p.types)) + ")"
		}
	}
	if !m.Exported() {
		return fmt.Errorf("%s: an unexported method cannot be called remotely", label)
	}
	if strings.Contains(types.TypeString(sig, nil), "invalid type") {
		return fmt.Errorf("%s: %v", label, p.typeError(m.Pos()))
	}
	params, results := sig.Params(), sig.Results()
	if params.Len() == 0 || !isContext(params.At(0).Type()) {
		return fmt.Errorf("%s: the first parameter must be a context.Context", label)
	}
	if results.Len() == 0 || !isError(results.At(results.Len()-1).Type()) {
		return fmt.Errorf("%s: the last result must be an error", label)
	}
	for i := 1; i < params.Len(); i++ {
		pt := params.At(i).Type()
		if sig.Variadic() && i == params.Len()-1 {
			pt = pt.(*types.Slice).Elem()
		}
		if why := wireless(pt); why != "" {
			return fmt.Errorf("%s: parameter %s is %s, which cannot cross the wire", label, describe(params.At(i), i), why)
		}
	}
	for i := 0; i < results.Len()-1; i++ {
		if why := wireless(results.At(i).Type()); why != "" {
			return fmt.Errorf("%s: result %s is %s, which cannot cross the wire", label, describe(results.At(i), i), why)
		}
	}
	return nil
}

// describe names a parameter or result for an error message: by name, or
// by position (counted from 1) when it has none.
func describe(v *types.Var, i int) string {
	if v.Name() != "" && v.Name() != "_" {
		return v.Name()
	}
	return strconv.Itoa(i + 1)
}

// wireless says why values of type t cannot be call arguments or
// results, or "" when they can (the session refuses the same kinds when
// it exposes a method).
func wireless(t types.Type) string {
	switch u := t.Underlying().(type) {
	case *types.Chan:
		return "a channel"
	case *types.Basic:
		if u.Kind() == types.UnsafePointer {
			return "an unsafe.Pointer"
		}
	}
	return ""
}

func isContext(t types.Type) bool {
	named, ok := types.Unalias(t).(*types.Named)
	if !ok {
		return false
	}
	obj := named.Obj()
	return obj.Pkg() != nil && obj.Pkg().Path() == "context" && obj.Name() == "Context"
}

func isError(t types.Type) bool {
	return types.Identical(t, types.Universe.Lookup("error").Type())
}

// use returns the name the file refers to the package path by, and
// imports it under a name that clashes with nothing else at file scope.
func (f *file) use(path, name string) string {
	if im, ok := f.imports[path]; ok {
		return im.local
	}
	local := name
	for i := 2; f.taken[local] || f.p.types.Scope().Lookup(local) != nil; i++ {
		local = name + strconv.Itoa(i)
	}
	f.imports[path] = imported{name: name, local: local}
	f.taken[local] = true
	return local
}

func (f *file) qualifier(pkg *types.Package) string {
	if pkg == f.p.types {
		return ""
	}
	return f.use(pkg.Path(), pkg.Name())
}

func (f *file) typeString(t types.Type) string { return types.TypeString(t, f.qualifier) }

// qualified returns name qualified by the package path.
func (f *file) qualified(path, pkgName, name string) string {
	return f.use(path, pkgName) + "." + name
}

// zero returns an expression for the zero value of t.
func (f *file) zero(t types.Type) string {
	switch u := t.Underlying().(type) {
	case *types.Basic:
		switch {
		case u.Info()&types.IsBoolean != 0:
			return "false"
		case u.Info()&types.IsString != 0:
			return `""`
		case u.Info()&types.IsNumeric != 0:
			return "0"
		}
	case *types.Struct, *types.Array:
		return f.typeString(t) + "{}"
	}
	return "nil"
}

// writeImports writes the import declaration: the standard library's
// packages, then the others, each group by path.
func (f *file) writeImports(w *bytes.Buffer) {
	var std, other []string
	for path := range f.imports {
		if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
			other = append(other, path)
		} else {
			std = append(std, path)
		}
	}
	slices.Sort(std)
	slices.Sort(other)
	w.WriteString("import (\n")
	for i, group := range [][]string{std, other} {
		if i > 0 && len(std) > 0 && len(other) > 0 {
			w.WriteString("\n")
		}
		for _, path := range group {
			im := f.imports[path]
			if im.local != im.name {
				w.WriteString(im.local + " ")
			}
			w.WriteString(strconv.Quote(path) + "\n")
		}
	}
	w.WriteString(")\n\n")
}

// writeStub writes the stub type of st, its constructor and its methods.
func (f *file) writeStub(w *bytes.Buffer, st *stub) {
	ref := f.qualified(sessionPath, "session", "Ref")
	expose := f.qualified(sessionPath, "session", "ExposeAs")
	fmt.Fprintf(w, "// %s calls the methods of %s on a remote object.\n", st.impl, st.name)
	fmt.Fprintf(w, "type %s struct{ r *%s }\n\n", st.impl, ref)
	byRef := f.qualified(sessionPath, "session", "ByRefAs")
	fmt.Fprintf(w, "// %s returns a %s that calls the remote object r: each\n", st.ctor, st.name)
	fmt.Fprintf(w, "// method calls the method of the same name with r.Call. r is a service\n")
	fmt.Fprintf(w, "// of the peer (Conn.Service), exposed there with %s[%s],\n", expose, st.name)
	fmt.Fprintf(w, "// or an object the peer returned by reference (%s[%s]).\n", byRef, st.name)
	fmt.Fprintf(w, "// The stub does not own r.\n")
	fmt.Fprintf(w, "func %s(r *%s) %s {\n\treturn &%s{r: r}\n}\n\n", st.ctor, ref, st.name, st.impl)
	fmt.Fprintf(w, "var _ %s = (*%s)(nil)\n\n", st.name, st.impl)
	for _, m := range st.methods {
		f.writeMethod(w, st, m)
	}
}

// namer picks the names of one method's parameters and result variables
// so that none shadows what the method's body refers to.
type namer struct{ taken map[string]bool }

// bodyNames are the predeclared names a method's body may use besides
// types.
var bodyNames = []string{"any", "append", "false", "len", "make", "nil", "true"}

func (f *file) namer(variadic bool) *namer {
	nm := &namer{taken: map[string]bool{"s": true, "res": true, "err": true}}
	if variadic {
		nm.taken["args"] = true
	}
	for _, n := range bodyNames {
		nm.taken[n] = true
	}
	for _, scope := range []*types.Scope{types.Universe, f.p.types.Scope()} {
		for _, n := range scope.Names() {
			if _, ok := scope.Lookup(n).(*types.TypeName); ok {
				nm.taken[n] = true
			}
		}
	}
	for _, im := range f.imports {
		nm.taken[im.local] = true
	}
	return nm
}

// pick returns name if it is free, else fallback (numbered if need be).
func (nm *namer) pick(name, fallback string) string {
	if name == "" || name == "_" || nm.taken[name] {
		name = fallback
	}
	for i := 2; nm.taken[name]; i++ {
		name = fallback + "_" + strconv.Itoa(i)
	}
	nm.taken[name] = true
	return name
}

// writeMethod writes the stub's method m: one call, its results decoded.
func (f *file) writeMethod(w *bytes.Buffer, st *stub, m *types.Func) {
	sig := m.Type().(*types.Signature)
	params, results := sig.Params(), sig.Results()

	// The result types first: the packages they import are what the
	// body refers to, which the parameters' names must not shadow.
	nres := results.Len() - 1
	resTypes := make([]string, nres)
	zeros := make([]string, nres)
	for i := range nres {
		resTypes[i] = f.typeString(results.At(i).Type())
		zeros[i] = f.zero(results.At(i).Type())
	}
	nm := f.namer(sig.Variadic())
	names := make([]string, params.Len())
	decl := make([]string, params.Len())
	for i := range params.Len() {
		fallback := "arg" + strconv.Itoa(i)
		if i == 0 {
			fallback = "ctx"
		}
		names[i] = nm.pick(params.At(i).Name(), fallback)
		t := params.At(i).Type()
		if sig.Variadic() && i == params.Len()-1 {
			decl[i] = names[i] + " ..." + f.typeString(t.(*types.Slice).Elem())
		} else {
			decl[i] = names[i] + " " + f.typeString(t)
		}
	}
	vars := make([]string, nres)
	for i := range nres {
		vars[i] = nm.pick(results.At(i).Name(), "r"+strconv.Itoa(i))
	}

	fmt.Fprintf(w, "func (s *%s) %s(%s) (%s) {\n", st.impl, m.Name(), strings.Join(decl, ", "), strings.Join(append(resTypes, "error"), ", "))
	args := append([]string{names[0], strconv.Quote(m.Name())}, names[1:]...)
	if sig.Variadic() {
		fixed, rest := names[1:len(names)-1], names[len(names)-1]
		elem := params.At(params.Len() - 1).Type().(*types.Slice).Elem()
		isAny := types.Identical(elem, types.Universe.Lookup("any").Type())
		switch {
		case len(fixed) == 0 && isAny:
			args[len(args)-1] += "..." // a []any already
		default:
			if len(fixed) == 0 {
				fmt.Fprintf(w, "args := make([]any, 0, len(%s))\n", rest)
			} else {
				fmt.Fprintf(w, "args := make([]any, 0, %d+len(%s))\n", len(fixed), rest)
				fmt.Fprintf(w, "args = append(args, %s)\n", strings.Join(fixed, ", "))
			}
			if isAny {
				fmt.Fprintf(w, "args = append(args, %s...)\n", rest)
			} else {
				fmt.Fprintf(w, "for _, v := range %s {\nargs = append(args, v)\n}\n", rest)
			}
			args = []string{names[0], strconv.Quote(m.Name()), "args..."}
		}
	}
	fmt.Fprintf(w, "res, err := s.r.Call(%s)\n", strings.Join(args, ", "))
	if nres == 0 {
		// Decode with no destinations releases whatever the peer sent anyway.
		fmt.Fprintf(w, "if err != nil {\nreturn err\n}\nreturn res.Decode()\n}\n\n")
		return
	}
	fail := strings.Join(append(zeros[:nres:nres], "err"), ", ")
	fmt.Fprintf(w, "if err != nil {\nreturn %s\n}\n", fail)
	ptrs := make([]string, nres)
	for i := range nres {
		fmt.Fprintf(w, "var %s %s\n", vars[i], resTypes[i])
		ptrs[i] = "&" + vars[i]
	}
	fmt.Fprintf(w, "if err := res.Decode(%s); err != nil {\nreturn %s\n}\n", strings.Join(ptrs, ", "), fail)
	fmt.Fprintf(w, "return %s\n}\n\n", strings.Join(append(vars, "nil"), ", "))
}
