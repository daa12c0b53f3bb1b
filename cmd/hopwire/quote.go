package main

import (
	"strconv"
	"unicode/utf8"
)

// quoteName returns s ready to print on a terminal. Names and other text
// that a remote side chose (file names, symlink targets, agent names,
// principals, error messages) pass through it, so that a hostile node
// cannot send terminal escapes or fake lines. A printable UTF-8 string is
// returned as it is, so plain names print as before; one with a control
// or other non-printing character (strconv.IsPrint), or with invalid
// UTF-8, comes back Go-quoted, as strconv.Quote does.
func quoteName(s string) string {
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
