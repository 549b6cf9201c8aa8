package ops

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// defaultMaxSessions leaves two of OpenSSH's default ten sessions per
// connection (MaxSessions 10) to spare.
const defaultMaxSessions = 8

// sessionQueue hands out a host's SSH sessions: at most max at once, to the
// commands in the order they asked for one (FIFO), so that opsroom never opens
// more sessions on its connection than the host's sshd allows. A command that
// cannot wait its turn (ending the processes of a cancelled one) goes to the
// front of the queue.
type sessionQueue struct {
	max int

	mu   sync.Mutex
	used int
	// waiting holds a channel per waiting command, first in line first; a
	// freed session is handed to the first by closing its channel.
	waiting list.List
}

func newSessionQueue(max int) *sessionQueue {
	if max <= 0 {
		max = defaultMaxSessions
	}
	return &sessionQueue{max: max}
}

// acquire takes a session, waiting in line until one is free or ctx ends.
// Every successful acquire must be followed by one release.
func (q *sessionQueue) acquire(ctx context.Context, urgent bool) error {
	q.mu.Lock()
	if q.used < q.max && q.waiting.Len() == 0 {
		q.used++
		q.mu.Unlock()
		return nil
	}
	turn := make(chan struct{})
	var place *list.Element
	if urgent {
		place = q.waiting.PushFront(turn)
	} else {
		place = q.waiting.PushBack(turn)
	}
	q.mu.Unlock()
	select {
	case <-turn:
		return nil
	case <-ctx.Done():
	}
	q.mu.Lock()
	select {
	case <-turn:
		// The turn came as ctx ended: pass the session on.
		q.mu.Unlock()
		q.release()
	default:
		q.waiting.Remove(place)
		q.mu.Unlock()
	}
	return ctx.Err()
}

// release gives a session back: to the first command in line, if any.
func (q *sessionQueue) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if first := q.waiting.Front(); first != nil {
		q.waiting.Remove(first)
		close(first.Value.(chan struct{}))
		return
	}
	if q.used == 0 {
		panic("ops: an SSH session released twice")
	}
	q.used--
}

// inUse is how many sessions are taken.
func (q *sessionQueue) inUse() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.used
}

// NoSessionError is a command that waited for one of the host's SSH sessions
// for as long as its timeout allowed, and did not start.
type NoSessionError struct {
	Host   string
	Max    int
	Waited time.Duration
}

func (e *NoSessionError) Error() string {
	return fmt.Sprintf("host %q: no SSH session free within %s (max_sessions %d, all in use); the command did not start",
		e.Host, roundWait(e.Waited), e.Max)
}

// roundWait shows a wait as people say it: 60s, 900ms, 15m0s.
func roundWait(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
	}
	return d.Round(time.Second).String()
}

// SessionRefusedError is a session the host's sshd refused to open, or a
// command it refused to start, on a connection that stays up (and the
// commands running on it with it): an error for that command alone.
type SessionRefusedError struct {
	Host   string
	Reason string // what the server said
	Open   int    // opsroom's sessions on the connection, this one included
	Max    int    // the host's max_sessions
}

func (e *SessionRefusedError) Error() string {
	return fmt.Sprintf("host %q: the SSH server refused a session (%s) with %d of opsroom's sessions open (max_sessions %d); the command did not start. "+
		"If the host's sshd allows fewer sessions per connection (MaxSessions), lower hosts.%s.max_sessions below it",
		e.Host, e.Reason, e.Open, e.Max, e.Host)
}

// refusal says whether err is the server refusing a session or the command
// in it, which leaves the connection up, and what it said. Any other failure
// to open a session or start a command means the connection is gone.
func refusal(err error) (reason string, refused bool) {
	if err == nil {
		return "", false
	}
	var open *ssh.OpenChannelError
	if errors.As(err, &open) {
		return fmt.Sprintf("%s: %s", open.Reason, open.Message), true
	}
	// Session.Start's words when the server answers the exec request with a
	// no (it could not fork, say); they quote the whole command line.
	if msg := err.Error(); strings.HasPrefix(msg, "ssh: command ") && strings.HasSuffix(msg, " failed") {
		return "it did not start the command", true
	}
	return "", false
}

// takeSession waits in line for one of the host's sessions, within ctx; the
// caller gives it back with release once the session is closed.
func (c *conn) takeSession(ctx context.Context, urgent bool) (release func(), err error) {
	start := time.Now()
	if err := c.slots.acquire(ctx, urgent); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, &NoSessionError{Host: c.host.Name, Max: c.slots.max, Waited: time.Since(start)}
		}
		return nil, err
	}
	return c.slots.release, nil
}

// refused is the error of a session the server refused.
func (c *conn) refused(reason string) error {
	return &SessionRefusedError{Host: c.host.Name, Reason: reason, Open: c.slots.inUse(), Max: c.slots.max}
}
