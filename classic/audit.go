package classic

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"time"
	"unicode/utf8"
)

// Audit records: every action a Service (and an Evaluator) carries out on
// the node is logged to Options.Audit at INFO — the command line and exit
// status of a process, the path and size of a file written, read or
// removed, the digest of evaluated source — with the outcome, so that a
// `hopwire exec -- rm -f …` leaves a trace on the node it ran on. The
// logger carries who asked (a relay adds the principal and fingerprint).
// Peer-supplied strings are bounded (auditMaxArg bytes each, auditMaxArgs
// arguments); slog's handlers quote and escape them.

const (
	auditMaxArg  = 256
	auditMaxArgs = 32
)

// audit logs one action: its name, its outcome and attrs.
func audit(log *slog.Logger, action string, err error, attrs ...any) {
	if log == nil {
		return
	}
	attrs = append([]any{"action", action}, attrs...)
	if err != nil {
		log.Info("classic action failed", append(attrs, "err", err)...)
		return
	}
	log.Info("classic action", attrs...)
}

// bounded cuts a peer-supplied string to auditMaxArg bytes (on a rune
// boundary), marking the cut.
func bounded(s string) string {
	if len(s) <= auditMaxArg {
		return s
	}
	cut := auditMaxArg
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// boundedArgv is argv for a log record: at most auditMaxArgs arguments,
// each bounded.
func boundedArgv(argv []string) []string {
	out := make([]string, 0, min(len(argv), auditMaxArgs+1))
	for i, a := range argv {
		if i == auditMaxArgs {
			out = append(out, "…")
			break
		}
		out = append(out, bounded(a))
	}
	return out
}

// sourceDigest names evaluated source in a log without its text.
func sourceDigest(src string) string {
	sum := sha256.Sum256([]byte(src))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// since is a duration for a log record, rounded for reading.
func since(t time.Time) time.Duration { return time.Since(t).Round(time.Microsecond) }
