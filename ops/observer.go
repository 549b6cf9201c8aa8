package ops

import (
	"time"
)

// Observer hears what the fleet and its watcher do, for opsroom's metrics.
// ops declares it and calls it inline, so an implementation must return at
// once (count, observe a histogram) and never block; the default does nothing.
type Observer interface {
	// RemoteExec is one remote command on host: how long it took, waiting
	// for a session included, and the error if it did not run to an exit.
	RemoteExec(host string, took time.Duration, err error)
	// Probed is one probe of a host's services by the watcher, finished.
	Probed(host string, took time.Duration)
}

type noObserver struct{}

func (noObserver) RemoteExec(string, time.Duration, error) {}
func (noObserver) Probed(string, time.Duration)            {}

// Observe has the fleet and its watcher tell o what they do. Call it before
// the fleet is used.
func (f *Fleet) Observe(o Observer) {
	if o == nil {
		o = noObserver{}
	}
	f.observer = o
}

// Connection is the state of the SSH connection to one host.
type Connection struct {
	Host          string
	Up            bool // connected now (a dropped connection is dialled again when next needed)
	SessionsInUse int
	MaxSessions   int
}

// Connections says, for every host sorted by name, whether opsroom is
// connected to it and how many of its sessions are taken.
func (f *Fleet) Connections() []Connection {
	conns := f.now().conns
	out := make([]Connection, 0, len(conns))
	for _, name := range sortedKeys(conns) {
		c := conns[name]
		c.mu.Lock()
		up := c.client != nil
		c.mu.Unlock()
		out = append(out, Connection{Host: name, Up: up, SessionsInUse: c.slots.inUse(), MaxSessions: c.slots.max})
	}
	return out
}
