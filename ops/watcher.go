package ops

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Alert is a state change worth telling people about.
type Alert struct {
	Kind     AlertKind
	Service  string // "" for a host alert
	Host     string
	Services []string // a host alert: the services on the host
	Status   Status   // the probe that showed it (services)
	Err      error    // a host alert: why it is unreachable
	Was      string   // the state before, for a recovery
	Downtime time.Duration
	Logs     string // the last lines of output, for exits, crash loops and failing health
	Health   string // the health check's last output, or the health probe's answer, for unhealthy
	// Suppressed is, when a flap ends, how many alerts were held back.
	Suppressed int
	Window     time.Duration // the flap window
	Mention    []string      // the service's `mention` users
	// By is, for AlertResolved, the command that brought the service back.
	By *Cause
	// GroupWindow is watch.group_window: a service alert within it of the
	// last one on the same host joins that one's message (0: off).
	GroupWindow time.Duration
}

// Cause is a command that changes a service: who ran it, which, and (in an
// alert) when the watcher saw its result.
type Cause struct {
	By      string // the Matrix user
	Command string // restart, start, update, rollback, …
	At      time.Time
}

// Reporter keeps what the watcher remembers and takes its alerts. ops declares
// it; the Matrix side implements it (storing, then delivering).
type Reporter interface {
	// Remembered returns what was remembered before opsroom last stopped, by key.
	Remembered(ctx context.Context) (map[string]Remembered, error)
	// Transition saves what is now remembered under key and, if alert is not
	// nil, the alert; it must not return before both are stored.
	Transition(ctx context.Context, key string, rem Remembered, alert *Alert) error
}

// Watcher probes every service on an interval (one batched probe per host,
// hosts concurrently) and reports each change of state once.
type Watcher struct {
	fleet    *Fleet
	reporter Reporter
	probe    func(ctx context.Context, host string, services []*ServiceConfig) []Status // the fleet's, but for tests
	cfg      WatchConfig
	rules    Rules

	mu        sync.Mutex
	started   time.Time // when Run began; zero before
	services  map[string]*tracker
	hosts     map[string]*hostTracker
	operating map[string]int   // services a command is changing right now
	settling  map[string]bool  // services whose next probe is a command's result
	causes    map[string]Cause // the command changing (or that changed) each of those
	lastProbe map[string]time.Time
	reload    chan struct{}       // the fleet reloaded
	streaming map[string]bool     // "host/engine": whether that event stream is connected
	streams   map[string][]string // host: the engines whose event streams it follows
	// downEngine is, by host, the engine that did not answer its last probe.
	downEngine map[string]string
	// Objects (containers, units) the event stream saw die since the host's last probe, by host:
	// the next probe reads their logs alongside, for the alert it will likely raise.
	dead map[string]map[string]bool
}

// NewWatcher prepares a watcher of the fleet.
func NewWatcher(f *Fleet, r Reporter) *Watcher {
	cfg := f.now().cfg.Watch
	return &Watcher{
		fleet:    f,
		reporter: r,
		probe:    f.probe,
		cfg:      cfg,
		rules: Rules{
			CrashLoopRestarts: cfg.CrashLoopRestarts,
			CrashLoopWindow:   cfg.CrashLoopWindow.Duration,
			UnreachableProbes: cfg.UnreachableProbes,
			Settle:            cfg.Interval.Duration,
			FlapChanges:       cfg.FlapChanges,
			FlapWindow:        cfg.FlapWindow.Duration,
			UnhealthyFor:      min(unhealthyFor, cfg.Interval.Duration),
		},
		services:   map[string]*tracker{},
		hosts:      map[string]*hostTracker{},
		operating:  map[string]int{},
		settling:   map[string]bool{},
		causes:     map[string]Cause{},
		lastProbe:  map[string]time.Time{},
		reload:     make(chan struct{}, 1),
		streaming:  map[string]bool{},
		streams:    map[string][]string{},
		downEngine: map[string]string{},
		dead:       map[string]map[string]bool{},
	}
}

// unhealthyFor is how long a failing health check must last to be alerted:
// long enough to tell it from a kill that cut a health check short.
const unhealthyFor = 2 * time.Second

// groupWindow is watch.group_window; 0 when grouping is off.
func (w *Watcher) groupWindow() time.Duration {
	if w.cfg.GroupWindow == nil {
		return 0
	}
	return w.cfg.GroupWindow.Duration
}

func serviceKey(name string) string { return "service:" + name }
func hostKey(name string) string    { return "host:" + name }

// Run watches until ctx ends. After the fleet reloads (Reloaded), it starts
// over on the new hosts and services, keeping what it knows of those that stay.
func (w *Watcher) Run(ctx context.Context) error {
	log := zerolog.Ctx(ctx).With().Str("component", "watcher").Logger()
	ctx = log.WithContext(ctx)
	remembered, err := w.reporter.Remembered(ctx)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.started = time.Now()
	w.mu.Unlock()
	w.adopt(ctx, remembered)
	log.Info().Dur("interval", w.cfg.Interval.Duration).Bool("events", !w.cfg.NoEvents).Msg("Watching services")
	for {
		runCtx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		w.start(runCtx, &wg)
		select {
		case <-ctx.Done():
			cancel()
			wg.Wait()
			return nil
		case <-w.reload:
			cancel()
			wg.Wait()
			remembered, err := w.reporter.Remembered(ctx)
			if err != nil {
				log.Err(err).Msg("Failed to read what was remembered; new services start afresh")
			}
			w.adopt(ctx, remembered)
			log.Info().Int("services", len(w.fleet.Services())).Msg("Watching the reloaded fleet")
		}
	}
}

// Reloaded tells the watcher that the fleet's hosts or services changed.
func (w *Watcher) Reloaded() {
	select {
	case w.reload <- struct{}{}:
	default:
	}
}

// adopt makes the trackers match the fleet: new services and hosts start
// from what was remembered, those that stay keep their trackers, and those
// that left are forgotten, in the store too, without an alert.
func (w *Watcher) adopt(ctx context.Context, remembered map[string]Remembered) {
	w.mu.Lock()
	current := map[string]bool{}
	for _, s := range w.fleet.Services() {
		current[serviceKey(s.Name)] = true
		if w.services[s.Name] == nil {
			w.services[s.Name] = &tracker{rem: remembered[serviceKey(s.Name)]}
		}
	}
	hosts := w.fleet.now().conns
	for name := range hosts {
		current[hostKey(name)] = true
		if w.hosts[name] == nil {
			w.hosts[name] = &hostTracker{rem: remembered[hostKey(name)]}
		}
	}
	var gone []string
	for name := range w.services {
		if !current[serviceKey(name)] {
			delete(w.services, name)
			gone = append(gone, serviceKey(name))
		}
	}
	for name := range w.hosts {
		if hosts[name] == nil {
			delete(w.hosts, name)
			delete(w.lastProbe, name)
			delete(w.downEngine, name)
			gone = append(gone, hostKey(name))
		}
	}
	clear(w.streams)
	clear(w.streaming)
	w.mu.Unlock()
	for _, key := range gone {
		_ = w.report(ctx, key, Remembered{}, nil)
	}
}

// start watches the fleet as it is now, until ctx ends.
func (w *Watcher) start(ctx context.Context, wg *sync.WaitGroup) {
	for host, services := range w.byHost() {
		events := make(chan struct{}, 1)
		wg.Go(func() { w.watchHost(ctx, host, services, events) })
		if w.cfg.NoEvents {
			continue
		}
		for _, g := range w.fleet.groupByBackend(services) {
			if cmd := g.backend.eventsCommand(g.services); cmd != "" {
				w.mu.Lock()
				w.streams[host] = append(w.streams[host], g.backend.name())
				w.mu.Unlock()
				wg.Go(func() { w.follow(ctx, host, g, cmd, events) })
			}
		}
	}
}

// mention is whom the service's alerts mention.
func (w *Watcher) mention(service string) []string {
	if s, err := w.fleet.Lookup(service); err == nil {
		return s.Mention
	}
	return nil
}

func (w *Watcher) byHost() map[string][]*ServiceConfig {
	byHost := map[string][]*ServiceConfig{}
	for _, s := range w.fleet.Services() {
		byHost[s.Host] = append(byHost[s.Host], s)
	}
	return byHost
}

// watchHost probes one host on every tick, and at once when its event stream
// says something happened; the periodic probe is the reconciliation and the
// fallback while the stream is down. A probe that left a state undecided (an
// unhealthy that must last) is followed by another when it can decide.
func (w *Watcher) watchHost(ctx context.Context, host string, services []*ServiceConfig, events <-chan struct{}) {
	t := time.NewTicker(w.cfg.Interval.Duration)
	defer t.Stop()
	recheck := time.NewTimer(w.cfg.Interval.Duration)
	recheck.Stop()
	for {
		if again := w.probeHost(ctx, host, services); again > 0 {
			recheck.Reset(again)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-events:
		case <-recheck.C:
		}
	}
}

// Expect marks the service as changed by a command until done is called: the
// transitions it causes are the command's to report, not alerts. One that
// brings an alerted service back to running is an AlertResolved naming the
// command, so that the alert it fixed says so.
func (w *Watcher) Expect(service string, c Cause) (done func()) {
	w.mu.Lock()
	w.operating[service]++
	w.causes[service] = c
	w.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			w.operating[service]--
			w.settling[service] = true
			w.mu.Unlock()
		})
	}
}

// HostWatch is how the watcher sees one host.
type HostWatch struct {
	Host      string
	LastProbe time.Time   // zero: not probed yet
	Problem   HostProblem // "" when the last probe found the host and its engines answering
	Engine    string      // with HostEngineDown: the engine that does not answer
	Streams   []Stream    // the event streams it follows; none: it is only probed
}

// Stream is one event stream of a host: an engine's, and whether it is connected.
type Stream struct {
	Engine    string
	Connected bool
}

// Interval is the time between two probes of a host.
func (w *Watcher) Interval() time.Duration { return w.cfg.Interval.Duration }

// Hosts says when each host was last probed and whether it answered, sorted by name.
func (w *Watcher) Hosts() []HostWatch {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []HostWatch
	for _, name := range sortedKeys(w.fleet.now().conns) {
		hw := HostWatch{Host: name, LastProbe: w.lastProbe[name], Engine: w.downEngine[name]}
		if ht := w.hosts[name]; ht != nil {
			hw.Problem = ht.problem
		}
		for _, engine := range w.streams[name] {
			hw.Streams = append(hw.Streams, Stream{Engine: engine, Connected: w.streaming[name+"/"+engine]})
		}
		out = append(out, hw)
	}
	return out
}

// LateHost is a watched host whose probes stopped coming.
type LateHost struct {
	Host      string
	LastProbe time.Time     // zero: never probed
	Due       time.Duration // how long after the last probe (or the watcher's start) the next one was due at the latest
}

// Late lists the hosts with services whose last probe ended longer ago than
// two intervals and the host's command timeout (the longest a hung probe
// takes), counting from the watcher's start for a host not probed yet. A
// watcher that has stopped probing shows here. running is false before Run.
func (w *Watcher) Late(now time.Time) (late []LateHost, running bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started.IsZero() {
		return nil, false
	}
	seen := map[string]bool{}
	for _, s := range w.fleet.Services() {
		if seen[s.Host] {
			continue
		}
		seen[s.Host] = true
		due := 2*w.cfg.Interval.Duration + w.fleet.hostOf(s).CommandTimeout.Duration
		last := w.lastProbe[s.Host]
		if now.Sub(cmpTime(last, w.started)) > due {
			late = append(late, LateHost{Host: s.Host, LastProbe: last, Due: due})
		}
	}
	slices.SortFunc(late, func(a, b LateHost) int { return strings.Compare(a.Host, b.Host) })
	return late, true
}

// cmpTime is t, or else if t is zero.
func cmpTime(t, orElse time.Time) time.Time {
	if t.IsZero() {
		return orElse
	}
	return t
}

// probeHost probes the host's services once and reports what changed. It
// returns how soon another probe could decide a state this one left open (0: none).
func (w *Watcher) probeHost(ctx context.Context, host string, services []*ServiceConfig) (recheck time.Duration) {
	log := zerolog.Ctx(ctx).With().Str("host", host).Logger()
	logs := w.readLogsOfTheDead(ctx, host, services)
	start := time.Now()
	statuses := w.probe(ctx, host, services)
	if ctx.Err() != nil {
		return 0
	}
	now := time.Now()
	// Told once the probe's changes are stored, whichever way this returns.
	defer w.fleet.observer.Probed(host, now.Sub(start))
	problem, cause := hostProblem(statuses)

	w.mu.Lock()
	w.lastProbe[host] = now
	w.downEngine[host] = ""
	var engine *EngineError
	if errors.As(cause, &engine) {
		w.downEngine[host] = engine.Engine
	}
	ht := w.hosts[host]
	before := ht.rem
	kind := ht.observe(problem, now, w.rules)
	after := ht.rem
	w.mu.Unlock()
	if after != before {
		var alert *Alert
		if kind != "" {
			alert = &Alert{Kind: kind, Host: host, Was: before.State}
			for _, st := range statuses {
				if kind == AlertRecovered || problem == HostUnreachable || errors.Is(st.Err, cause) {
					alert.Services = append(alert.Services, st.Service)
				}
			}
			if kind == AlertRecovered {
				alert.Downtime = now.Sub(before.Since)
			} else {
				alert.Err = cause
			}
		}
		if err := w.report(ctx, hostKey(host), after, alert); err != nil {
			w.mu.Lock()
			ht.rem = before // the next probe sees the change again
			w.mu.Unlock()
		}
	}
	if problem == HostUnreachable {
		log.Debug().Err(cause).Msg("Host does not answer")
		return 0
	}

	for _, st := range statuses {
		if problem != "" && errors.Is(st.Err, cause) {
			continue // the host's engine-down alert speaks for it
		}
		w.mu.Lock()
		tr := w.services[st.Service]
		quiet := w.operating[st.Service] > 0 || w.settling[st.Service]
		cause := w.causes[st.Service]
		if w.operating[st.Service] == 0 {
			delete(w.settling, st.Service)
			delete(w.causes, st.Service)
		}
		before := tr.rem
		kind := tr.observe(st, now, w.rules, quiet)
		after, suppressed := tr.rem, tr.rem.Flap.Suppressed
		if again := tr.recheck(now, w.rules); again > 0 && (recheck == 0 || again < recheck) {
			recheck = again
		}
		w.mu.Unlock()
		if after == before && kind == "" {
			continue
		}
		if quiet && kind == "" && before.State != "" && before.State != string(StateRunning) && after.State == string(StateRunning) {
			// The store knows whether an alert was open, and resolves it once.
			kind = AlertResolved
			cause.At = now
		}
		var alert *Alert
		if kind != "" {
			alert = &Alert{Kind: kind, Service: st.Service, Host: host, Status: st, Was: before.State,
				Suppressed: suppressed, Window: w.rules.FlapWindow, Mention: w.mention(st.Service), GroupWindow: w.groupWindow()}
			switch kind {
			case AlertResolved:
				alert.By = &cause
				alert.Downtime = now.Sub(before.Since)
			case AlertRecovered:
				alert.Downtime = now.Sub(before.Since)
			case AlertUnhealthy:
				if st.Probe != nil && !st.Probe.OK {
					alert.Health = st.Probe.String()
				} else {
					out, err := w.fleet.HealthOutput(ctx, st.Service)
					if err != nil {
						out = "(could not read the health check's output: " + err.Error() + ")"
					}
					alert.Health = out
				}
				alert.Logs = w.logsOf(ctx, st.Service, nil)
			case AlertExited, AlertCrashLoop:
				alert.Logs = w.logsOf(ctx, st.Service, logs[st.Service])
			}
			if kind != AlertRecovered && kind != AlertFlapEnded {
				alert.Status.Commit = w.fleet.deployedCommit(ctx, st.Service)
			}
		}
		if err := w.report(ctx, serviceKey(st.Service), after, alert); err != nil {
			w.mu.Lock()
			tr.rem = before // the next probe sees the change again
			w.mu.Unlock()
		}
	}
	return recheck
}

// hostProblem reads a host's probe: unreachable, an engine of its down, or
// fine; and the error that says why.
func hostProblem(statuses []Status) (HostProblem, error) {
	for _, st := range statuses {
		if st.State == StateUnreachable {
			return HostUnreachable, st.Err
		}
	}
	for _, st := range statuses {
		var engine *EngineError
		if errors.As(st.Err, &engine) {
			return HostEngineDown, st.Err
		}
	}
	return "", nil
}

// died notes that the event stream saw the object (a container, a unit) die.
func (w *Watcher) died(host, object string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dead[host] == nil {
		w.dead[host] = map[string]bool{}
	}
	w.dead[host][object] = true
}

// logRead is the last lines of a service's output, being read.
type logRead struct {
	done chan struct{}
	logs string
	err  error
}

// readLogsOfTheDead starts reading the logs of the host's services whose
// containers died since its last probe, so that the probe and the log tail an
// exit alert carries take one round trip, not two.
func (w *Watcher) readLogsOfTheDead(ctx context.Context, host string, services []*ServiceConfig) map[string]*logRead {
	w.mu.Lock()
	dead := w.dead[host]
	delete(w.dead, host)
	w.mu.Unlock()
	reads := map[string]*logRead{}
	for _, s := range services {
		if !dead[w.fleet.backendOf(s).object(s)] {
			continue
		}
		r := &logRead{done: make(chan struct{})}
		reads[s.Name] = r
		go func() {
			defer close(r.done)
			r.logs, r.err = w.fleet.Logs(ctx, s.Name, w.cfg.LogLines)
		}()
	}
	return reads
}

// logsOf returns the service's last lines for an alert: what was read
// alongside the probe, or read now.
func (w *Watcher) logsOf(ctx context.Context, service string, read *logRead) string {
	var logs string
	var err error
	if read != nil {
		<-read.done
		logs, err = read.logs, read.err
	} else {
		logs, err = w.fleet.Logs(ctx, service, w.cfg.LogLines)
	}
	if err != nil {
		return "(could not read the logs: " + err.Error() + ")"
	}
	return logs
}

func (w *Watcher) report(ctx context.Context, key string, rem Remembered, alert *Alert) error {
	log := zerolog.Ctx(ctx)
	if alert != nil {
		log.Info().Str("key", key).Str("alert", string(alert.Kind)).Str("state", rem.State).Msg("State change")
	}
	err := w.reporter.Transition(ctx, key, rem, alert)
	if err != nil {
		// Not stored, so not delivered: the caller forgets the change, and the
		// next probe finds it again and tries to store it once more.
		log.Err(err).Str("key", key).Msg("Failed to store a state change; the next probe tries again")
	}
	return err
}
