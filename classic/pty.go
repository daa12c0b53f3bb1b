package classic

import (
	"context"
	"errors"
	"io"
	"time"
)

// TTYEvent is what a terminal client sends while a command runs under a
// PTY: a new window size, or a signal to deliver (by name: "INT",
// "TERM", "HUP", "QUIT", "WINCH", "KILL").
type TTYEvent struct {
	Rows, Cols int
	Signal     string
}

// RunTTY runs a command under a pseudo-terminal of rows×cols: its
// terminal input is stdin and its terminal output (stdout and stderr
// together, as on a terminal) goes to stdout. While it runs, the service
// calls events — a callback into the client — for window-size changes and
// signals; events blocks until there is one, and returns an error once the
// client has no more. The command runs in a session of its own; the
// whole group is killed when the call is cancelled or the session ends.
// Under a root it needs AllowProcesses ([ErrProcessDenied]). A Windows
// node has no PTY to offer and returns an error saying so (use Run).
func (s *Service) RunTTY(ctx context.Context, req RunRequest, rows, cols int, stdin io.Reader, stdout io.Writer,
	events func(context.Context) (TTYEvent, error)) (status int, err error) {
	defer func(start time.Time) {
		audit(s.audit, "exec -t", err, "argv", boundedArgv(req.Argv), "status", status, "took", since(start))
	}(time.Now())
	if err := s.mayRun(req.Argv); err != nil {
		return -1, err
	}
	if len(req.Argv) == 0 {
		return -1, errors.New("classic: empty command")
	}
	dir, err := s.dir(req.Dir)
	if err != nil {
		return -1, err
	}
	return s.runTTY(ctx, req, dir, rows, cols, stdin, stdout, events)
}
