package ops

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opsroom/opsroom/internal/config"
)

func reloadConfig(t *testing.T, hosts map[string]string, services map[string]string) *Config {
	t.Helper()
	cfg := &Config{Hosts: map[string]*HostConfig{}, Services: map[string]*ServiceConfig{},
		Watch: WatchConfig{Interval: config.Duration{Duration: time.Hour}, NoEvents: true}}
	for name, addr := range hosts {
		cfg.Hosts[name] = &HostConfig{Address: addr, User: "deploy", UseAgent: true, KnownHosts: "/nonexistent"}
	}
	for name, host := range services {
		cfg.Services[name] = &ServiceConfig{Host: host, Kind: KindContainer, Container: name}
	}
	if errs, _ := cfg.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	return cfg
}

func TestReloadKeepsTheConnectionsOfHostsThatStayTheSame(t *testing.T) {
	f, err := NewFleet(reloadConfig(t, map[string]string{"a": "10.0.0.1:22", "b": "10.0.0.2:22", "gone": "10.0.0.3:22"},
		map[string]string{"web": "a", "db": "b", "old": "gone", "same": "a"}))
	if err != nil {
		t.Fatal(err)
	}
	before := f.now()
	next := reloadConfig(t, map[string]string{"a": "10.0.0.1:22", "b": "10.0.0.22:22", "c": "10.0.0.4:22"},
		map[string]string{"web": "c", "db": "b", "new": "c", "same": "a"})
	r, err := f.Reload(next)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Added, []string{"new"}) || !slices.Equal(r.Removed, []string{"old"}) ||
		!slices.Equal(r.Changed, []string{"db", "web"}) || !slices.Equal(r.Hosts, []string{"b", "gone", "c"}) {
		t.Errorf("reloaded %+v", r)
	}
	now := f.now()
	if now.conns["a"] != before.conns["a"] {
		t.Error("host a did not change, but its connection was replaced")
	}
	if now.conns["b"] == before.conns["b"] {
		t.Error("host b moved, but kept its old connection")
	}
	if _, err := f.Lookup("old"); err == nil {
		t.Error("a removed service is still found")
	}
	if s, err := f.Lookup("new"); err != nil || f.hostOf(s).Address != "10.0.0.4:22" {
		t.Errorf("the added service: %v, %v", s, err)
	}
	if r, _ := f.Reload(reloadConfig(t, map[string]string{"a": "10.0.0.1:22", "b": "10.0.0.22:22", "c": "10.0.0.4:22"},
		map[string]string{"web": "c", "db": "b", "new": "c", "same": "a"})); !r.Empty() {
		t.Errorf("the same config again changed %+v", r)
	}
}

// recordingReporter keeps every transition it is given.
type recordingReporter struct {
	mu          sync.Mutex
	remembered  map[string]Remembered
	transitions []string
	alerts      []*Alert
}

func (r *recordingReporter) Remembered(context.Context) (map[string]Remembered, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.remembered, nil
}

func (r *recordingReporter) Transition(_ context.Context, key string, rem Remembered, alert *Alert) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.transitions = append(r.transitions, key+"="+rem.State)
	if alert != nil {
		r.alerts = append(r.alerts, alert)
	}
	return nil
}

// A reload while the watcher runs: services that stay keep what the watcher
// knows of them (no alert), a removed service is forgotten without one, and
// an added one starts from its first probe.
func TestWatcherAdoptsAReloadedFleetWithoutAlerts(t *testing.T) {
	f, err := NewFleet(reloadConfig(t, map[string]string{"a": "10.0.0.1:22"}, map[string]string{"web": "a", "old": "a"}))
	if err != nil {
		t.Fatal(err)
	}
	rep := &recordingReporter{remembered: map[string]Remembered{
		"service:web": {State: string(StateExited), Alerted: true},
		"service:old": {State: string(StateRunning)},
	}}
	w := NewWatcher(f, rep)
	var mu sync.Mutex
	probed := map[string]int{}
	w.probe = func(_ context.Context, host string, services []*ServiceConfig) []Status {
		mu.Lock()
		defer mu.Unlock()
		var out []Status
		for _, s := range services {
			probed[s.Name]++
			state := StateRunning
			if s.Name == "web" {
				state = StateExited // as remembered: nothing new
			}
			out = append(out, Status{Service: s.Name, Host: host, Object: s.Container, State: state})
		}
		return out
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s after 5s", what)
			}
		}
	}
	probedOf := func(name string) int { mu.Lock(); defer mu.Unlock(); return probed[name] }
	waitFor("first probe", func() bool { return probedOf("web") == 1 })

	if _, err := f.Reload(reloadConfig(t, map[string]string{"a": "10.0.0.1:22"}, map[string]string{"web": "a", "new": "a"})); err != nil {
		t.Fatal(err)
	}
	w.Reloaded()
	waitFor("a probe of the new service", func() bool { return probedOf("new") == 1 })
	cancel()
	<-done
	rep.mu.Lock()
	defer rep.mu.Unlock()
	if len(rep.alerts) != 0 {
		t.Errorf("the reload raised alerts: %+v", rep.alerts)
	}
	if !slices.Contains(rep.transitions, "service:old=") {
		t.Errorf("the removed service was not forgotten: %q", rep.transitions)
	}
	if probedOf("old") != 1 {
		t.Errorf("the removed service was probed %d times, want only before the reload", probedOf("old"))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if tr := w.services["web"]; tr == nil || tr.rem.State != string(StateExited) || !tr.rem.Alerted {
		t.Errorf("web's tracker after the reload: %+v, want the remembered exit kept", tr)
	}
}
