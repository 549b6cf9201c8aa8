package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/opsroom/opsroom/internal/testworld"
)

// probeInterval is the watcher's interval in these tests.
const probeInterval = time.Second

func watchWorld(t testing.TB) *world {
	t.Helper()
	w := newWorld(t)
	w.watch = map[string]any{"interval": probeInterval.String()}
	w.withHTTP(t) // /metrics, for settle
	return w
}

// alertsMatching counts the alerts that contain every one of want.
func (w *world) alertsMatching(t testing.TB, want ...string) []string {
	t.Helper()
	var out []string
	for _, a := range w.alerts(t) {
		all := true
		for _, s := range want {
			all = all && strings.Contains(a, s)
		}
		if all {
			out = append(out, a)
		}
	}
	return out
}

// settle lets the watcher probe a few more times, so that a duplicate alert
// would have come: it waits until opsroom's /metrics counts two more probes
// of every host and its database holds no alert waiting for delivery, or, at
// most, four probe intervals (a host whose probes fail, deliveries held
// back while the homeserver is away, no listener).
func (w *world) settle(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(4 * probeInterval)
	listen, _ := w.httpListen()
	before := w.probeCounts(listen)
	for time.Now().Before(deadline) {
		time.Sleep(probeInterval / 4)
		now := w.probeCounts(listen)
		done := len(before) > 0
		for host, n := range before {
			done = done && now[host] >= n+2
		}
		if done && w.pendingDeliveries(t) == 0 {
			return
		}
	}
}

// probeCounts are the watcher's probes so far per host, from /metrics; nil
// when it cannot be read.
func (w *world) probeCounts(listen string) map[string]float64 {
	if listen == "" {
		return nil
	}
	families, err := tryScrape(listen)
	if err != nil {
		return nil
	}
	counts := map[string]float64{}
	for _, m := range families["opsroom_probe_duration_seconds"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "host" {
				counts[l.GetValue()] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return counts
}

// pendingDeliveries counts the alerts' deliveries neither made nor given up.
func (w *world) pendingDeliveries(t testing.TB) int {
	t.Helper()
	db := openDatabase(t, w.database)
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM alert_deliveries WHERE event_id = '' AND failure = ''`).Scan(&n); err != nil {
		return -1
	}
	return n
}

func TestKillAlertsOnceAndRecoveryOnce(t *testing.T) {
	w := watchWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	web := containerService(c)
	web["mention"] = []string{string(w.alice.UserID)}
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": web})
	w.waitWatching(t, true) // the baseline: probed, and the event stream connected

	testworld.Docker(t, "kill", c.Name)
	eventually(t, "an exited alert", func() bool { return len(w.alertsMatching(t, "web", "exited with code 137")) > 0 })
	testworld.Docker(t, "start", c.Name)
	eventually(t, "a recovered alert", func() bool { return len(w.alertsMatching(t, "web", "recovered")) > 0 })
	w.settle(t)
	if got := w.alertsMatching(t, "web", "exited with code"); len(got) != 1 {
		t.Errorf("%d exited alerts, want exactly 1: %q", len(got), got)
	}
	recovered := w.alertsMatching(t, "web", "recovered")
	if len(recovered) != 1 {
		t.Errorf("%d recovered alerts, want exactly 1: %q", len(recovered), recovered)
	} else {
		mustContain(t, "recovery", recovered[0], "was exited for")
	}
	if n := len(w.alerts(t)); n != 2 {
		t.Errorf("%d alerts in all, want 2: %q", n, w.alerts(t))
	}
	exited := w.alertEvents(t)[0]
	eventually(t, "the exited alert edited to say it was resolved", func() bool {
		edits := w.edits(t, exited.ID)
		return len(edits) > 0 && strings.Contains(edits[len(edits)-1], "Resolved") && strings.Contains(edits[len(edits)-1], "exited with code 137")
	})
	for _, evt := range w.alertEvents(t) {
		if m := evt.Content.AsMessage().Mentions; m == nil || len(m.UserIDs) != 1 || m.UserIDs[0] != w.alice.UserID {
			t.Errorf("alert %q mentions %+v, want exactly alice (the service's mention)", evt.Content.AsMessage().Body, m)
		}
	}
	mustContain(t, "the alerts in the audit log", w.ask(t, w.alice, "!history web"), "watcher", "alert: exited", "alert: recovered")
}

func TestCrashLoopIsOneAlertNotOnePerRestart(t *testing.T) {
	w := watchWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "loop"), map[string]string{"EXIT_AFTER": "1s", "EXIT_CODE": "1"}, "--restart", "unless-stopped")
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"loop": containerService(c)})

	eventually(t, "a crash-loop alert", func() bool { return len(w.alertsMatching(t, "loop", "crash loop")) > 0 })
	w.settle(t)
	w.settle(t)
	got := w.alerts(t)
	if len(got) != 1 {
		t.Errorf("%d alerts, want exactly the one crash-loop alert: %q", len(got), got)
	}
	mustContain(t, "crash-loop alert", got[0], "testsvc crashing with code 1")
}

func TestStopThroughOpsroomIsNotAnAlert(t *testing.T) {
	w := watchWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
	w.waitWatching(t, true) // the baseline: probed, and the event stream connected

	mustContain(t, "stop", w.ask(t, w.alice, "!stop web"), "stopped", "exited")
	w.settle(t)
	mustContain(t, "start", w.ask(t, w.alice, "!start web"), "started **web**: running")
	w.settle(t)
	if got := w.alerts(t); len(got) != 0 {
		t.Errorf("a stop and start through opsroom caused alerts: %q", got)
	}
}

func TestAlertsAreNeitherRepeatedNorLostAcrossARestartOfOpsroom(t *testing.T) {
	w := watchWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	hosts := map[string]host{"local": w.localHost()}
	services := map[string]service{"web": containerService(c)}
	bot := w.startOpsroom(t, hosts, services)
	w.waitWatching(t, true) // the baseline: probed, and the event stream connected

	// Nothing changed while it was down: no alert.
	bot.stop(t)
	bot = w.startOpsroom(t, hosts, services)
	w.waitWatching(t, true) // the baseline: probed, and the event stream connected
	if got := w.alerts(t); len(got) != 0 {
		t.Fatalf("a restart with nothing changed caused alerts: %q", got)
	}

	// Killed while it was down: one alert once it is back.
	bot.stop(t)
	testworld.Docker(t, "kill", c.Name)
	w.startOpsroom(t, hosts, services)
	eventually(t, "the alert for the kill while opsroom was down", func() bool {
		return len(w.alertsMatching(t, "web", "exited with code 137")) > 0
	})
	w.settle(t)
	if got := w.alerts(t); len(got) != 1 {
		t.Errorf("%d alerts, want exactly 1: %q", len(got), got)
	}
}

func TestHostDownIsOneAlertAndRemovalIsNotDeployed(t *testing.T) {
	w := watchWorld(t)
	a := testworld.RunContainer(t, testworld.UniqueName(t, "a"), nil)
	b := testworld.RunContainer(t, testworld.UniqueName(t, "b"), nil)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"a": containerService(a), "b": containerService(b)})
	w.waitWatching(t, true) // the baseline: probed, and the event stream connected

	w.sshd.Stop(t)
	eventually(t, "an unreachable alert", func() bool { return len(w.alertsMatching(t, "host", "local", "unreachable")) > 0 })
	w.settle(t)
	got := w.alertsMatching(t, "unreachable")
	if len(got) != 1 {
		t.Errorf("%d unreachable alerts, want one for the host: %q", len(got), got)
	} else {
		mustContain(t, "host alert", got[0], "a, b")
	}
	w.sshd.Start(t)
	eventually(t, "the host's recovery", func() bool { return len(w.alertsMatching(t, "host", "local", "recovered")) > 0 })

	testworld.Docker(t, "rm", "-f", a.Name)
	eventually(t, "a not-deployed alert", func() bool { return len(w.alertsMatching(t, "**a**", "not deployed")) > 0 })
	w.settle(t)
	if n := len(w.alerts(t)); n != 3 {
		t.Errorf("%d alerts, want 3 (unreachable, reachable again, not deployed): %q", n, w.alerts(t))
	}
}

func TestAnAlertWaitsForTheHomeserverAndArrivesOnce(t *testing.T) {
	ownHomeserver(t)
	w := watchWorld(t)
	w.killWhileHomeserverAway(t, func() { w.hs.Stop(t) }, func() { w.hs.Start(t) })
}

// killWhileHomeserverAway kills a watched service between away and back (the
// homeserver out of opsroom's reach) and checks that its alert arrives once,
// after back.
func (w *world) killWhileHomeserverAway(t *testing.T, away, back func()) {
	t.Helper()
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
	w.waitWatching(t, true) // the baseline: probed, and the event stream connected

	away()
	testworld.Docker(t, "kill", c.Name)
	w.settle(t) // the watcher sees it and tries to deliver while the homeserver is away
	back()
	eventually(t, "the alert after the homeserver came back", func() bool {
		return len(w.alertsMatching(t, "web", "exited with code 137")) > 0
	})
	w.settle(t)
	if got := w.alerts(t); len(got) != 1 {
		t.Errorf("%d alerts, want exactly 1: %q", len(got), got)
	}
}

// A homeserver that rate-limits opsroom's sends (M_LIMIT_EXCEEDED with
// retry_after_ms) delays alerts: it neither drops one nor makes one arrive twice.
func TestRateLimitedAlertsArriveOnceEach(t *testing.T) {
	w := watchWorld(t)
	// An alert each, not one for the four: the rate limit is what is tested.
	w.watch["group_window"] = "0s"
	limiter := testworld.StartRateLimiter(t, w.hs.URL, time.Second) // one send a second
	w.matrix = map[string]any{"homeserver": limiter.URL}
	names := []string{"a", "b", "c", "d"}
	containers, services := runContainers(t, names)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, services)
	// The baseline. Not asked with !watch: every answer would queue behind
	// the rate limit this test is about.
	w.settle(t)

	for _, c := range containers {
		testworld.Docker(t, "kill", c.Name)
	}
	eventually(t, "an exited alert for each of the four", func() bool {
		return len(w.alertsMatching(t, "exited with code 137")) >= len(names)
	})
	w.settle(t)
	for _, name := range names {
		if got := w.alertsMatching(t, "**"+name+"**", "exited with code 137"); len(got) != 1 {
			t.Errorf("%d exited alerts for %s, want exactly 1: %q", len(got), name, got)
		}
	}
	if got := w.alerts(t); len(got) != len(names) {
		t.Errorf("%d alerts, want %d: %q", len(got), len(names), got)
	}
	if limiter.Limited() == 0 {
		t.Error("no send was rate-limited, so this test proved nothing")
	}

	// The recoveries, and the edits that mark each alert resolved, are rate-limited too.
	for _, c := range containers {
		testworld.Docker(t, "start", c.Name)
	}
	eventually(t, "a recovery for each of the four, and each alert marked resolved", func() bool {
		if len(w.alertsMatching(t, "recovered")) < len(names) {
			return false
		}
		for _, evt := range w.alertEvents(t)[:len(names)] {
			edits := w.edits(t, evt.ID)
			if len(edits) == 0 || !strings.Contains(edits[len(edits)-1], "Resolved") {
				return false
			}
		}
		return true
	})
	w.settle(t)
	if got := w.alerts(t); len(got) != 2*len(names) {
		t.Errorf("%d alerts, want %d (an exit and a recovery each): %q", len(got), 2*len(names), got)
	}
}

func TestMutedServiceIsWatchedButNotPosted(t *testing.T) {
	w := watchWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
	w.waitWatching(t, true) // the baseline: probed, and the event stream connected

	mustContain(t, "mute", w.ask(t, w.alice, "!mute web 10m"), "muted until")
	mustContain(t, "bad duration", w.ask(t, w.alice, "!mute web forever"), "DURATION must be like 30m, 2h or 1d")
	testworld.Docker(t, "kill", c.Name)
	eventually(t, "the muted alert in !alerts", func() bool {
		return strings.Contains(w.ask(t, w.alice, "!alerts web"), "exited | muted")
	})
	if got := w.alerts(t); len(got) != 0 {
		t.Errorf("a muted service's alert was posted: %q", got)
	}
	mustContain(t, "status marks muted", w.ask(t, w.alice, "!status"), "web 🔕", "| exited")
	mustContain(t, "watch", w.ask(t, w.alice, "!watch"), "Watching every 1s", "local", "ago", "yes", "| connected")

	mustContain(t, "unmute", w.ask(t, w.alice, "!unmute web"), "unmuted")
	testworld.Docker(t, "start", c.Name)
	eventually(t, "the recovery, posted once unmuted", func() bool { return len(w.alertsMatching(t, "web", "recovered")) > 0 })
}

func TestFailingHealthCheckIsAnUnhealthyAlert(t *testing.T) {
	w := watchWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), map[string]string{"HEALTH_FILE": "/sick"}, testworld.HealthEverySecond)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
	eventually(t, "the health check passing", func() bool { return testworld.Inspect(t, c.Name, "{{.State.Health.Status}}") == "healthy" })
	w.waitWatching(t, true) // the baseline: probed, and the event stream connected

	testworld.Docker(t, "exec", c.Name, "/testsvc", "sick")
	eventually(t, "an unhealthy alert", func() bool { return len(w.alertsMatching(t, "web", "unhealthy")) > 0 })
	mustContain(t, "unhealthy alert", w.alertsMatching(t, "web", "unhealthy")[0], "health check fails", "unhealthy: /sick exists")
	testworld.Docker(t, "exec", c.Name, "/testsvc", "well")
	eventually(t, "the recovery", func() bool { return len(w.alertsMatching(t, "web", "recovered")) > 0 })
}
