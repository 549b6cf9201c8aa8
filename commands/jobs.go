package commands

import (
	"context"
	"fmt"
	"sync"
	"time"

	"maunium.net/go/mautrix/id"
)

// jobs keeps one changing command per service at a time: while an update of
// bridge runs, a restart of bridge is refused; other services are not held up.
type jobs struct {
	mu      sync.Mutex
	running map[string]*job
}

type job struct {
	verb   string
	who    id.UserID
	since  time.Time
	cancel context.CancelFunc
}

// begin claims the service for verb, or says who holds it.
func (j *jobs) begin(service, verb string, who id.UserID, cancel context.CancelFunc) (*job, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if cur := j.running[service]; cur != nil {
		return nil, fmt.Errorf("%s of %s in progress since %s, started by %s; try again when it is done",
			cur.verb, service, cur.since.Format("15:04"), cur.who)
	}
	if j.running == nil {
		j.running = map[string]*job{}
	}
	jb := &job{verb: verb, who: who, since: time.Now(), cancel: cancel}
	j.running[service] = jb
	return jb, nil
}

// end releases the service, if jb still holds it.
func (j *jobs) end(service string, jb *job) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.running[service] == jb {
		delete(j.running, service)
	}
}
