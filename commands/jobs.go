package commands

import (
	"context"
	"fmt"
	"path"
	"sync"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/ops"
)

// jobs keeps one changing command per service at a time, and one command that
// changes a checkout per checkout: while an update of bridge runs, a restart
// of bridge is refused, and so is an update or rollback of another service
// deployed from bridge's project directory on the same host (their fetches,
// resets and builds would run over each other); other services are not held
// up, nor are restarts of the other service, which leave the checkout alone.
type jobs struct {
	mu        sync.Mutex
	running   map[string]*job   // by service
	checkouts map[checkout]*job // by checkout, the jobs that change one
}

// checkout is a project directory on a host: every service deployed from it
// shares it.
type checkout struct{ host, dir string }

// checkoutOf is the checkout svc is deployed from; the zero checkout if it has none.
func checkoutOf(svc *ops.ServiceConfig) checkout {
	if svc.Directory == "" {
		return checkout{}
	}
	return checkout{host: svc.Host, dir: path.Clean(svc.Directory)}
}

// changesCheckout says whether verb changes the service's checkout (fetch,
// reset, build), not only its container.
func changesCheckout(verb string) bool {
	return verb == "update" || verb == "rollback"
}

type job struct {
	verb     string
	service  string
	checkout checkout // what it holds besides the service; zero if nothing
	who      id.UserID
	since    time.Time
	cancel   context.CancelFunc

	cancelledBy id.UserID // set under jobs.mu
}

// begin claims the service for verb, and its checkout if verb changes it, or
// says who holds them.
func (j *jobs) begin(svc *ops.ServiceConfig, verb string, who id.UserID, cancel context.CancelFunc) (*job, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if cur := j.running[svc.Name]; cur != nil {
		return nil, fmt.Errorf("%s of %s in progress since %s, started by %s; try again when it is done",
			cur.verb, svc.Name, cur.since.Format("15:04 MST"), cur.who)
	}
	var co checkout
	if changesCheckout(verb) {
		co = checkoutOf(svc)
	}
	if cur := j.checkouts[co]; co != (checkout{}) && cur != nil {
		return nil, fmt.Errorf("%s of %s in progress since %s, started by %s (%s shares its checkout %s on %s); try again when it is done",
			cur.verb, cur.service, cur.since.Format("15:04 MST"), cur.who, svc.Name, code(co.dir), code(co.host))
	}
	if j.running == nil {
		j.running, j.checkouts = map[string]*job{}, map[checkout]*job{}
	}
	jb := &job{verb: verb, service: svc.Name, checkout: co, who: who, since: time.Now(), cancel: cancel}
	j.running[svc.Name] = jb
	if co != (checkout{}) {
		j.checkouts[co] = jb
	}
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

// end releases what jb holds, if it still holds it.
func (j *jobs) end(jb *job) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.running[jb.service] == jb {
		delete(j.running, jb.service)
	}
	if j.checkouts[jb.checkout] == jb {
		delete(j.checkouts, jb.checkout)
	}
}

// claim holds the service for a changing command (and its checkout, for one
// that changes it), and tells the watcher that what happens to it now is the
// command's doing; it returns the command's context (cancelled when the job
// is), and release, or the refusal to show.
func claim(ce *Event, svc *ops.ServiceConfig, verb string) (context.Context, *job, func(), *outcome) {
	ctx, cancel := context.WithCancel(ce.Ctx)
	jb, err := ce.Meta.jobs.begin(svc, verb, ce.Sender, cancel)
	if err != nil {
		cancel()
		o := invalid(err.Error())
		o.Service = svc.Name
		return nil, nil, nil, &o
	}
	expected := func() {}
	if ce.Meta.Watcher != nil {
		expected = ce.Meta.Watcher.Expect(svc.Name, ops.Cause{By: string(ce.Sender), Command: verb})
	}
	return ctx, jb, func() {
		expected()
		ce.Meta.jobs.end(jb)
		cancel()
	}, nil
}
