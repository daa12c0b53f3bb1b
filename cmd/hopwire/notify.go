package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"
)

// notifier tells systemd how a Type=notify service is doing (the
// sd_notify protocol: newline-separated VAR=value assignments in one
// datagram to the unix socket named by $NOTIFY_SOCKET). A zero notifier,
// outside systemd, sends nothing. Its methods are safe for concurrent
// use.
type notifier struct {
	socket string // a path, or @name for an abstract socket
	log    *slog.Logger
}

// takeNotifySocket returns the notifier of $NOTIFY_SOCKET and removes the
// variable from the environment, so that the processes the node spawns
// (exec, shells, stdio: hops) cannot speak for it.
func takeNotifySocket(log *slog.Logger) *notifier {
	s := os.Getenv("NOTIFY_SOCKET")
	os.Unsetenv("NOTIFY_SOCKET")
	return &notifier{socket: s, log: log}
}

// send sends the assignments in state; a failure is logged (the service
// manager then times the service out, which says more than we could).
func (n *notifier) send(state string) {
	if n == nil || n.socket == "" {
		return
	}
	if err := sdNotify(n.socket, state); err != nil {
		n.log.Warn("systemd notification failed", "state", strings.ReplaceAll(state, "\n", " "), "err", err)
	}
}

// ready reports READY=1, with the listeners as the status systemctl
// shows, and returns the function that reports STOPPING=1.
func (n *notifier) ready(addrs []string) (stopping func()) {
	status := "serving"
	if len(addrs) > 0 {
		status = "listening " + strings.Join(addrs, " ")
	}
	n.send("READY=1\nSTATUS=" + status)
	return func() { n.send("STOPPING=1\nSTATUS=stopping") }
}

// reloading reports RELOADING=1 (with the CLOCK_MONOTONIC time systemd
// asks for) and returns the function that reports READY=1 again.
func (n *notifier) reloading() (done func()) {
	msg := "RELOADING=1\nSTATUS=reloading"
	if usec, ok := monotonicUsec(); ok {
		msg += fmt.Sprintf("\nMONOTONIC_USEC=%d", usec)
	}
	n.send(msg)
	return func() { n.send("READY=1\nSTATUS=reloaded") }
}

// sdNotify sends one notification datagram to socket.
func sdNotify(socket, state string) error {
	if !strings.HasPrefix(socket, "/") && !strings.HasPrefix(socket, "@") {
		return fmt.Errorf("NOTIFY_SOCKET=%q: want an absolute path or an @abstract name (vsock is not supported)", socket)
	}
	// Go maps a leading @ to the abstract namespace.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("NOTIFY_SOCKET %s: %w", socket, err)
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("NOTIFY_SOCKET %s: %w", socket, err)
	}
	return nil
}
