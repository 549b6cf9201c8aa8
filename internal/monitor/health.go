package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

const (
	// syncStale is how old the last handled sync response may be: mautrix
	// long-polls for 30 s, so a live homeserver answers well within it.
	syncStale = 2 * time.Minute
	// dbCheckTimeout bounds the database's test write (its busy timeout is 5 s).
	dbCheckTimeout = 6 * time.Second
	// dbCheckReuse is how long one test write answers for: a burst of
	// /healthz requests makes one write, not one each.
	dbCheckReuse = time.Second
)

// Report is the health of opsroom, as /healthz answers it.
type Report struct {
	OK       bool `json:"ok"`
	Sync     Part `json:"sync"`
	Database Part `json:"database"`
	Watcher  Part `json:"watcher"`
}

// Part is the health of one part: ok, or the reason it is not.
type Part struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"`
	// Last is the last success: the last sync, the last probe of the host probed longest ago.
	Last *time.Time `json:"last,omitempty"`
	// Disabled is a part turned off in the config (watch.disabled): healthy.
	Disabled bool `json:"disabled,omitempty"`
}

// Reason is every failing part's reason, one line each ("" when healthy).
func (r Report) Reason() string {
	var lines []string
	for _, p := range []struct {
		name string
		part Part
	}{{"sync", r.Sync}, {"database", r.Database}, {"watcher", r.Watcher}} {
		if !p.part.OK {
			lines = append(lines, p.name+": "+p.part.Reason)
		}
	}
	return strings.Join(lines, "\n")
}

// Check says whether opsroom is healthy: the Matrix sync succeeded lately
// (and did not fail since), the database takes a write, and the watcher
// probes every host it watches on time.
func (m *Monitor) Check(ctx context.Context) Report {
	now := time.Now()
	r := Report{Sync: m.syncHealth(now), Database: m.dbHealth(ctx, now), Watcher: m.watcherHealth(now)}
	r.OK = r.Sync.OK && r.Database.OK && r.Watcher.OK
	return r
}

func (m *Monitor) syncHealth(now time.Time) Part {
	m.mu.Lock()
	s := m.sync
	m.mu.Unlock()
	p := Part{OK: true}
	if !s.lastOK.IsZero() {
		p.Last = &s.lastOK
	}
	switch {
	case !s.failedSince.IsZero():
		p.OK = false
		p.Reason = fmt.Sprintf("syncing with the homeserver has failed since %s (%s ago): %v",
			s.failedSince.UTC().Format(time.RFC3339), ago(now.Sub(s.failedSince)), s.lastErr)
	case s.lastOK.IsZero():
		p.OK = false
		p.Reason = fmt.Sprintf("no sync with the homeserver yet (started %s ago)", ago(now.Sub(m.started)))
	case now.Sub(s.lastOK) > syncStale:
		p.OK = false
		p.Reason = fmt.Sprintf("no sync response from the homeserver for %s (at most %s expected)", ago(now.Sub(s.lastOK)), syncStale)
	}
	return p
}

func (m *Monitor) dbHealth(ctx context.Context, now time.Time) Part {
	m.dbMu.Lock()
	defer m.dbMu.Unlock()
	if now.Sub(m.dbAt) > dbCheckReuse {
		ctx, cancel := context.WithTimeout(ctx, dbCheckTimeout)
		m.dbErr = m.deps.Database.CheckWritable(ctx)
		cancel()
		m.dbAt = time.Now()
	}
	if m.dbErr != nil {
		return Part{Reason: m.dbErr.Error()}
	}
	return Part{OK: true}
}

func (m *Monitor) watcherHealth(now time.Time) Part {
	if m.watcher == nil {
		return Part{OK: true, Disabled: true}
	}
	late, running := m.watcher.Late(now)
	if !running {
		return Part{Reason: "the watcher has not started"}
	}
	p := Part{OK: len(late) == 0}
	var reasons []string
	for _, h := range late {
		if h.LastProbe.IsZero() {
			reasons = append(reasons, fmt.Sprintf("host %q not probed yet (due within %s of the start)", h.Host, ago(h.Due)))
		} else {
			reasons = append(reasons, fmt.Sprintf("host %q last probed %s ago (due within %s)", h.Host, ago(now.Sub(h.LastProbe)), ago(h.Due)))
		}
	}
	p.Reason = strings.Join(reasons, "; ")
	var oldest time.Time
	for _, h := range m.watcher.Hosts() {
		if !h.LastProbe.IsZero() && (oldest.IsZero() || h.LastProbe.Before(oldest)) {
			oldest = h.LastProbe
		}
	}
	if !oldest.IsZero() {
		p.Last = &oldest
	}
	return p
}

// serveHealth answers 200 with the report when healthy, else 503.
func (m *Monitor) serveHealth(w http.ResponseWriter, r *http.Request) {
	report := m.Check(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !report.OK {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(report)
}

// ago is a duration as a person reads it: 850ms, 42s, 3m10s.
func ago(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
