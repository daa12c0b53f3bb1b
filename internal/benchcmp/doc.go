// Package benchcmp reads `go test -bench` output and puts each hopwire
// figure beside its reference, measured in the same run: the table of
// `hopwire bench` and `make compare`.
//
// It sits outside the stack of DESIGN.md (it imports nothing of hopwire
// and is imported only by cmd/hopwire). [Parse] reads the output, [Plan]
// turns a list of [Figure]s into one -bench pattern per package, [Compare]
// pairs the i-th run of each benchmark with the i-th run of its reference
// and [Format] prints min/median/max of those ratios as one Markdown
// table. [Figures] is hopwire's catalogue; a figure whose benchmark does
// not exist in the tree is reported as [NotAvailable] rather than failing
// the run. Nothing here times anything or fails on a figure: the goals of
// the issues are only marked met or not.
package benchcmp
