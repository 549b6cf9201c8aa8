// Package ops is the fleet: hosts reached over SSH, the services on them, the
// commands behind each action, and what their output means.
package ops

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opsroom/opsroom/internal/config"
)

// Fleet runs actions on the configured services, one pooled SSH connection
// per host. Its hosts and services can be replaced while it runs (Reload):
// every method reads one snapshot of them.
type Fleet struct {
	mu    sync.Mutex // one Reload at a time
	state atomic.Pointer[fleetState]

	observer Observer

	preflightMu sync.Mutex
	// preflightFailed is, by service, the first check the last preflight
	// failed (see Preflight and notePreflight).
	preflightFailed map[string]Check

	drift driftCache // when each service's tracked branch was last fetched
}

// fleetState is the fleet as one config made it.
type fleetState struct {
	cfg      *Config
	conns    map[string]*conn
	services []*ServiceConfig // sorted by name
}

// NewFleet prepares the fleet of a validated config; it dials nothing until used.
func NewFleet(cfg *Config) (*Fleet, error) {
	st, err := newFleetState(cfg, nil)
	if err != nil {
		return nil, err
	}
	f := &Fleet{observer: noObserver{}}
	f.state.Store(st)
	return f, nil
}

// newFleetState makes the fleet of cfg, keeping the connections of old whose
// hosts did not change (nor the hosts they jump through).
func newFleetState(cfg *Config, old *fleetState) (*fleetState, error) {
	st := &fleetState{cfg: cfg, conns: make(map[string]*conn, len(cfg.Hosts))}
	for name, h := range cfg.Hosts {
		if h == nil || h.Name == "" {
			return nil, fmt.Errorf("hosts.%s: config not validated", name)
		}
	}
	if cycles := jumpCycles(cfg.Hosts); len(cycles) > 0 {
		return nil, fmt.Errorf("hosts.%s.jump: jump hosts form a cycle: %s", cycles[0][0], strings.Join(cycles[0], " -> "))
	}
	for name, h := range cfg.Hosts {
		if jump := h.Jump; jump != "" && cfg.Hosts[jump] == nil {
			return nil, fmt.Errorf("hosts.%s.jump: %q is not a defined host", name, jump)
		}
	}
	for name, h := range cfg.Hosts {
		if old != nil && sameRoute(cfg.Hosts, old.cfg.Hosts, name) {
			st.conns[name] = old.conns[name]
		} else {
			st.conns[name] = newConn(h)
		}
	}
	for _, c := range st.conns {
		if jump := c.host.Jump; jump != "" {
			c.jump = st.conns[jump]
		}
	}
	for _, name := range sortedKeys(cfg.Services) {
		s := cfg.Services[name]
		if st.conns[s.Host] == nil {
			return nil, fmt.Errorf("services.%s.host: %q is not a defined host", name, s.Host)
		}
		s.hostConfig = cfg.Hosts[s.Host]
		st.services = append(st.services, s)
	}
	return st, nil
}

// sameRoute says whether the host, and every host it jumps through, is
// configured the same in both: then its connection can be kept.
func sameRoute(now, before map[string]*HostConfig, name string) bool {
	for seen := 0; name != "" && seen <= len(now); seen++ {
		h, was := now[name], before[name]
		if h == nil || was == nil || !reflect.DeepEqual(*h, *was) {
			return false
		}
		name = h.Jump
	}
	return name == ""
}

// hostOf is the config of the service's host, as the fleet the service came
// from had it: a command that began before a reload goes on as it began.
func (f *Fleet) hostOf(s *ServiceConfig) *HostConfig {
	if s.hostConfig != nil {
		return s.hostConfig
	}
	return f.now().cfg.Hosts[s.Host]
}

// now is the fleet's current hosts and services.
func (f *Fleet) now() *fleetState { return f.state.Load() }

// Close closes every SSH connection.
func (f *Fleet) Close() error {
	for _, c := range f.now().conns {
		c.close()
	}
	return nil
}

// Reloaded says what a Reload changed.
type Reloaded struct {
	Added, Removed, Changed []string // services, by name
	Hosts                   []string // hosts added, removed or changed: their connections are new
}

// Empty says whether nothing changed.
func (r Reloaded) Empty() bool {
	return len(r.Added)+len(r.Removed)+len(r.Changed)+len(r.Hosts) == 0
}

// Reload replaces the fleet's hosts and services with those of cfg, a
// validated config. Connections to hosts that did not change are kept; those
// of changed and removed hosts are closed, which ends the commands running on
// them. The watch: section is read once, at start.
func (f *Fleet) Reload(cfg *Config) (Reloaded, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.now()
	cfg.Watch = old.cfg.Watch
	st, err := newFleetState(cfg, old)
	if err != nil {
		return Reloaded{}, err
	}
	var r Reloaded
	for _, name := range sortedKeys(cfg.Services) {
		was, ok := old.cfg.Services[name]
		switch {
		case !ok:
			r.Added = append(r.Added, name)
		case !reflect.DeepEqual(*was, *cfg.Services[name]) || st.conns[was.Host] != old.conns[was.Host]:
			r.Changed = append(r.Changed, name)
		}
	}
	for _, name := range sortedKeys(old.cfg.Services) {
		if _, ok := cfg.Services[name]; !ok {
			r.Removed = append(r.Removed, name)
		}
	}
	for _, name := range sortedKeys(old.conns) {
		if st.conns[name] != old.conns[name] {
			r.Hosts = append(r.Hosts, name)
		}
	}
	for _, name := range sortedKeys(st.conns) {
		if old.conns[name] == nil {
			r.Hosts = append(r.Hosts, name)
		}
	}
	f.state.Store(st)
	for name, c := range old.conns {
		if st.conns[name] != c {
			c.close()
		}
	}
	return r, nil
}

// Services returns the registered services, sorted by name.
func (f *Fleet) Services() []*ServiceConfig {
	return f.now().services
}

// Lookup finds a service by the name a user typed.
func (f *Fleet) Lookup(name string) (*ServiceConfig, error) {
	st := f.now()
	if s, ok := st.cfg.Services[name]; ok {
		return s, nil
	}
	known := make([]string, len(st.services))
	for i, s := range st.services {
		known[i] = s.Name
	}
	return nil, &UnknownServiceError{Name: name, Closest: config.Closest(name, known), Known: known}
}

// Run runs a command line on the named host, as its run_as user if set, within
// the host's command timeout. A non-zero exit is in the result, not an error.
func (f *Fleet) Run(ctx context.Context, host, cmd string) (RunResult, error) {
	return f.run(ctx, host, cmd, runOpts{})
}

// runOpts says how a command runs, beyond its command line.
type runOpts struct {
	timeout time.Duration // 0: the host's command timeout
	stream  io.Writer     // if set, also gets stdout and stderr as they come
	group   *groupTap     // if set, the command runs in a process group of its own (see groupCommand)
	keep    int           // how much of each output the result keeps, the tail (0: maxOutput)
	urgent  bool          // it goes to the front of the line for a session (see sessionQueue)
	// shown is the command as messages name it, when what runs is wrapped
	// (a process group): users see the recipe, never opsroom's wrappers.
	shown string
}

// runGroup is run for a long command that must not outlive its context: it runs
// in a process group of its own on the host, and when ctx ends (a cancel, a
// timeout) the whole group is killed there, not only the SSH session.
func (f *Fleet) runGroup(ctx context.Context, host, cmd string, o runOpts) (RunResult, error) {
	tap := &groupTap{}
	o.group, o.shown = tap, cmd
	res, err := f.run(ctx, host, groupCommand(cmd), o)
	if err != nil && ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		if pgid := tap.id(); pgid > 0 {
			// The session is gone with ctx; a fresh, short one does the killing,
			// first in line for the session the cancelled one gives back.
			killCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if _, kerr := f.run(killCtx, host, killGroupCommand(pgid), runOpts{urgent: true, shown: "ending its processes"}); kerr != nil {
				err = fmt.Errorf("%w (and ending its processes on the host failed: %v)", err, kerr)
			}
		}
	}
	return res, err
}

// run is Run with options.
func (f *Fleet) run(ctx context.Context, host, cmd string, o runOpts) (RunResult, error) {
	c := f.now().conns[host]
	if c == nil {
		return RunResult{}, fmt.Errorf("unknown host %q", host)
	}
	if err := checkArg(cmd); err != nil {
		return RunResult{}, err
	}
	if o.timeout == 0 {
		o.timeout = c.host.CommandTimeout.Duration
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	start := time.Now()
	res, err := c.run(ctx, cmd, o)
	f.observer.RemoteExec(host, time.Since(start), err)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("host %q: `%s` did not finish within %s: %w", host, cmp.Or(o.shown, cmd), o.timeout, err)
	}
	return res, err
}

// Status probes one service; a service with a directory (a git checkout) also
// reports its deployed commit.
func (f *Fleet) Status(ctx context.Context, service string) Status {
	s, err := f.Lookup(service)
	if err != nil {
		return Status{Service: service, State: StateUnknown, Err: err}
	}
	st := f.probe(ctx, s.Host, []*ServiceConfig{s})[0]
	if s.Directory != "" && st.State != StateUnreachable {
		if res, err := f.Run(ctx, s.Host, commitCommand(s)); err == nil && res.ExitCode == 0 {
			st.Commit = strings.TrimSpace(res.Stdout)
		}
	}
	return st
}

// deployedCommit is the commit checked out in the service's directory, for an
// alert's evidence: "" for a service without one, or when git cannot say.
func (f *Fleet) deployedCommit(ctx context.Context, service string) string {
	s, err := f.Lookup(service)
	if err != nil || s.Directory == "" {
		return ""
	}
	res, err := f.Run(ctx, s.Host, commitCommand(s))
	if err != nil || res.ExitCode != 0 {
		return ""
	}
	return strings.TrimSpace(res.Stdout)
}

// StatusAll probes every service: one command per host and backend, hosts concurrently.
func (f *Fleet) StatusAll(ctx context.Context) []Status {
	byHost := map[string][]*ServiceConfig{}
	for _, s := range f.now().services {
		byHost[s.Host] = append(byHost[s.Host], s)
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		all []Status
	)
	for host, services := range byHost {
		wg.Go(func() {
			got := f.probe(ctx, host, services)
			mu.Lock()
			all = append(all, got...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(all, func(a, b Status) int { return strings.Compare(a.Service, b.Service) })
	return all
}

// probe reads the state of services, all on one host, in one command per
// backend (the backends concurrently), then runs the health probes of those
// that run.
func (f *Fleet) probe(ctx context.Context, host string, services []*ServiceConfig) []Status {
	groups := f.groupByBackend(services)
	parsed := make([]map[string]Status, len(groups))
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Go(func() {
			res, err := f.Run(ctx, host, g.backend.probeCommand(g.services))
			if err == nil {
				parsed[i], err = g.backend.parseProbe(host, g.services, res)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	out := make([]Status, len(services))
	for i, s := range services {
		gi := slices.IndexFunc(groups, func(g backendGroup) bool { return slices.Contains(g.services, s) })
		b, err := groups[gi].backend, errs[gi]
		var st Status
		switch {
		case err == nil:
			st = parsed[gi][b.object(s)]
		case errors.As(err, new(*UnreachableError)) || errors.Is(err, context.DeadlineExceeded):
			st = Status{State: StateUnreachable, Err: err}
		default:
			st = Status{State: StateUnknown, Err: err}
		}
		st.Service, st.Host, st.Kind, st.Object, st.Noun = s.Name, s.Host, s.Kind, b.object(s), b.noun()
		f.notePreflight(&st)
		out[i] = st
	}
	f.runProbes(ctx, host, services, out)
	return out
}

// Logs returns the last lines of the service's output, stdout and stderr
// interleaved, as a terminal would show them (see AsShown).
func (f *Fleet) Logs(ctx context.Context, service string, lines int) (string, error) {
	s, err := f.Lookup(service)
	if err != nil {
		return "", err
	}
	res, err := f.action(ctx, s, "logs", lines)
	return AsShown(res.Stdout), err
}

// Restart restarts the service and reports its state afterwards.
func (f *Fleet) Restart(ctx context.Context, service string) (Status, error) {
	return f.change(ctx, service, "restart")
}

// Stop stops the service and reports its state afterwards.
func (f *Fleet) Stop(ctx context.Context, service string) (Status, error) {
	return f.change(ctx, service, "stop")
}

// Start starts the service (compose: up -d, recreating it if needed) and reports its state afterwards.
func (f *Fleet) Start(ctx context.Context, service string) (Status, error) {
	return f.change(ctx, service, "start")
}

func (f *Fleet) change(ctx context.Context, service, action string) (Status, error) {
	s, err := f.Lookup(service)
	if err != nil {
		return Status{}, err
	}
	if _, err := f.action(ctx, s, action, 0); err != nil {
		return Status{}, err
	}
	return f.Status(ctx, s.Name), nil
}

// action runs one of the service's action commands; a non-zero exit is a *CommandError.
func (f *Fleet) action(ctx context.Context, s *ServiceConfig, action string, lines int) (RunResult, error) {
	cmd := actionCommand(f.hostOf(s), s, action, lines)
	res, err := f.Run(ctx, s.Host, cmd)
	if err != nil {
		return res, err
	}
	res = f.backendOf(s).actionOutcome(s, action, res)
	if res.ExitCode != 0 {
		return res, &CommandError{Host: s.Host, Service: s.Name, Step: action, Command: cmd,
			ExitCode: res.ExitCode, Stdout: res.Stdout, Stderr: res.Stderr}
	}
	return res, nil
}

// HealthOutput returns what the service's health check said last time.
func (f *Fleet) HealthOutput(ctx context.Context, service string) (string, error) {
	s, err := f.Lookup(service)
	if err != nil {
		return "", err
	}
	cmd := f.backendOf(s).healthLogCommand(s)
	if cmd == "" {
		return "", nil
	}
	res, err := f.Run(ctx, s.Host, cmd)
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", &CommandError{Host: s.Host, Service: s.Name, Step: "health log", Command: cmd,
			ExitCode: res.ExitCode, Stdout: res.Stdout, Stderr: res.Stderr}
	}
	return AsShown(lastLine(res.Stdout)), nil
}
