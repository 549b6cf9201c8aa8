package ops

import (
	"slices"
	"strings"
)

// A backend operates one kind of service on a host: the one command that
// probes all of the host's services of that kind and what its output means,
// the commands behind each action, and the event stream that says when to
// probe. The fleet, the watcher and the commands only ever talk to a backend;
// adding a kind (or an engine) is a file with its backend, and a line in
// backendFor.
type backend interface {
	// name says which backend this is, in logs and in the messages that
	// name it ("Docker on spark does not answer"); services whose backends
	// share a name are probed in one command.
	name() string
	// object is what the backend calls the service: its container or unit.
	object(s *ServiceConfig) string
	// noun is what an object is, for people: "container", "unit".
	noun() string
	// probeCommand reports the state of the given services of one host in one command.
	probeCommand(services []*ServiceConfig) string
	// parseProbe reads that command's result into a Status per object. A
	// result that says the backend itself does not answer is an *EngineError.
	parseProbe(host string, services []*ServiceConfig, res RunResult) (map[string]Status, error)
	// actionCommand is the command of logs (the last lines), restart, stop or start.
	actionCommand(s *ServiceConfig, action string, lines int) string
	// actionOutcome is how that command went, as far as its exit code does
	// not say (podman-compose exits 0 when what it ran failed); most
	// backends return res as it is.
	actionOutcome(s *ServiceConfig, action string, res RunResult) RunResult
	// healthLogCommand prints what the service's own health check said last,
	// or is "" for a kind without health checks.
	healthLogCommand(s *ServiceConfig) string
	// eventsCommand follows what happens to the given services: a first
	// line once it listens, then a line an event. "" when the kind has no
	// stream; its services are then probed on the interval only.
	eventsCommand(services []*ServiceConfig) string
	// preflight is what the host must do for the backend to operate the given
	// services (its engine answers, the journal is readable), each check a
	// command: Preflight runs them once per host.
	preflight(services []*ServiceConfig) []hostCheck
	// parseEvent reads a line of that stream: the object it concerns, whether
	// it can change what a probe sees, and whether the object's process died.
	parseEvent(line []byte) (object string, relevant, died bool)
}

// backendOf is the backend that operates the service on its host.
func (f *Fleet) backendOf(s *ServiceConfig) backend { return backendFor(f.hostOf(s), s) }

// composeBackend is a backend of compose services: what the update's up
// runs, and how the compose command's result reads (see actionOutcome).
type composeBackend interface {
	backend
	composeUp() string
	composeOutcome(res RunResult) RunResult
}

var _, _ composeBackend = dockerBackend{}, podmanBackend{}

// backendFor is the backend that operates the service on host h. Only
// validated configs get here: the kind is known.
func backendFor(h *HostConfig, s *ServiceConfig) backend {
	switch s.Kind {
	case KindSystemd:
		return systemdBackend{user: s.UserUnit, sudo: h.effectiveUser() != "root"}
	default: // compose, container, on the host's engine
		if h.Engine == EnginePodman {
			return podmanBackend{compose: h.ComposeCommand}
		}
		return dockerBackend{compose: h.ComposeCommand}
	}
}

// effectiveUser is who the host's commands run as.
func (h *HostConfig) effectiveUser() string {
	if h.RunAs != "" {
		return h.RunAs
	}
	return h.User
}

// backendGroup is a host's services that one backend operates.
type backendGroup struct {
	backend  backend
	services []*ServiceConfig
}

// groupByBackend splits one host's services by backend, in the order each
// backend first appears.
func (f *Fleet) groupByBackend(services []*ServiceConfig) []backendGroup {
	var groups []backendGroup
	for _, s := range services {
		b := f.backendOf(s)
		i := slices.IndexFunc(groups, func(g backendGroup) bool { return g.backend.name() == b.name() })
		if i < 0 {
			groups = append(groups, backendGroup{backend: b})
			i = len(groups) - 1
		}
		groups[i].services = append(groups[i].services, s)
	}
	return groups
}

// objects lists what the backend calls each service.
func objects(b backend, services []*ServiceConfig) []string {
	out := make([]string, len(services))
	for i, s := range services {
		out[i] = b.object(s)
	}
	return out
}

// quoteAll quotes every word for the shell and joins them with spaces.
func quoteAll(words []string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = Quote(w)
	}
	return strings.Join(quoted, " ")
}
