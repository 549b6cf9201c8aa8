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

	cancelledBy id.UserID // set under jobs.mu
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

// cancelJob cancels what runs on the service, in the name of who.
func (j *jobs) cancelJob(service string, who id.UserID) (*job, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	jb := j.running[service]
	if jb == nil {
		return nil, fmt.Errorf("nothing is running on %s", service)
	}
	if jb.cancelledBy == "" {
		jb.cancelledBy = who
	}
	jb.cancel()
	return jb, nil
}

// canceller says who cancelled jb, if anyone did.
func (j *jobs) canceller(jb *job) id.UserID {
	j.mu.Lock()
	defer j.mu.Unlock()
	return jb.cancelledBy
}

// end releases the service, if jb still holds it.
func (j *jobs) end(service string, jb *job) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.running[service] == jb {
		delete(j.running, service)
	}
}

// claim holds the service for a changing command, and tells the watcher that
// what happens to it now is the command's doing; it returns the command's
// context (cancelled when the job is), and release, or the refusal to show.
func claim(ce *Event, service, verb string) (context.Context, *job, func(), *outcome) {
	ctx, cancel := context.WithCancel(ce.Ctx)
	jb, err := ce.Meta.jobs.begin(service, verb, ce.Sender, cancel)
	if err != nil {
		cancel()
		o := invalid(err.Error())
		o.Service = service
		return nil, nil, nil, &o
	}
	expected := func() {}
	if ce.Meta.Watcher != nil {
		expected = ce.Meta.Watcher.Expect(service)
	}
	return ctx, jb, func() {
		expected()
		ce.Meta.jobs.end(service, jb)
		cancel()
	}, nil
}
