package commands

import (
	"slices"
	"time"

	"github.com/opsroom/opsroom/store"
)

// Observer hears of every command once it is answered, for opsroom's
// metrics. It is called inline and must return at once.
type Observer interface {
	// Command is one command answered: its verb (a registered name, or
	// "unknown"), the host of the service it was about ("" if none), how it
	// ended and how long it took.
	Command(verb, host string, result store.Result, took time.Duration)
}

// observe tells the observer, if there is one, of a finished command.
func (d *Deps) observe(typed, service string, result store.Result, took time.Duration) {
	if d.Observer == nil {
		return
	}
	host := ""
	if service != "" && d.Fleet != nil {
		if svc, err := d.Fleet.Lookup(service); err == nil {
			host = svc.Host
		}
	}
	d.Observer.Command(d.verb(typed), host, result, took)
}

// verb is the registered name of what a user typed: what metrics are
// labelled with, so that typos do not make a label value each.
func (d *Deps) verb(typed string) string {
	for _, c := range d.registry {
		if c.Name == typed || slices.Contains(c.Aliases, typed) {
			return c.Name
		}
	}
	return cmdUnknown.Name
}

// PendingConfirmations is how many commands wait for their ✅ now.
func (d *Deps) PendingConfirmations() int {
	d.confirms.mu.Lock()
	defer d.confirms.mu.Unlock()
	return len(d.confirms.waiting)
}
