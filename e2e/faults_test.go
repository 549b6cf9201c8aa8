package e2e

import (
	"strings"
	"testing"

	"github.com/opsroom/opsroom/internal/testworld"
)

// The fault tests put Toxiproxy between opsroom and a host or the homeserver:
// a slow link, a link that stalls, a link that is cut.

// viaProxy is the local host reached through a proxy in front of its sshd,
// with the sshd's key pinned for the proxy's address.
func (w *world) viaProxy(t testing.TB, p *testworld.Proxy) host {
	t.Helper()
	h := w.localHost()
	h["address"] = p.Addr
	h["known_hosts"] = w.sshd.KnownHostsFor(t, p.Addr)
	return h
}

func TestSlowHostStillAnswers(t *testing.T) {
	w := newWorld(t)
	tp := testworld.StartToxiproxy(t)
	ssh := tp.Proxy(t, "ssh", w.sshd.Addr)
	ssh.Toxic(t, "slow", "latency", map[string]any{"latency": 300})
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	h := w.viaProxy(t, ssh)
	h["connect_timeout"] = "20s" // the handshake's round trips each take 300 ms more
	w.startOpsroom(t, map[string]host{"local": h}, map[string]service{"web": containerService(c)})

	mustContain(t, "status over a slow link", w.ask(t, w.alice, "!status web"), "web", "**running**")
	before := startedAt(t, c.Name)
	mustContain(t, "restart over a slow link", w.ask(t, w.alice, "!restart web"), "restarted **web**: running")
	if after := startedAt(t, c.Name); after == before {
		t.Errorf("!restart over a slow link answered, but the container was not restarted (StartedAt %s)", after)
	}
}

// A host that stops answering mid-connection (packets dropped, the TCP
// connection still open) is the hardest kind: no error comes, only silence.
func TestHungHostTimesOutLoudlyAndIsUsedAgainOnceBack(t *testing.T) {
	w := watchWorld(t)
	tp := testworld.StartToxiproxy(t)
	ssh := tp.Proxy(t, "ssh", w.sshd.Addr)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	h := w.viaProxy(t, ssh)
	h["command_timeout"] = "3s"
	w.startOpsroom(t, map[string]host{"local": h}, map[string]service{"web": containerService(c)})
	mustContain(t, "status before the host hangs", w.ask(t, w.alice, "!status web"), "web", "**running**")

	ssh.Toxic(t, "hang", "timeout", map[string]any{"timeout": 0}) // drop everything, close nothing
	mustContain(t, "status of a hung host", w.ask(t, w.alice, "!status web"), "web", "**unreachable**", "3s")
	eventually(t, "one unreachable alert for the hung host", func() bool {
		return len(w.alertsMatching(t, "local", "is unreachable")) > 0
	})

	ssh.RemoveToxic(t, "hang")
	eventually(t, "the host recovered", func() bool {
		return len(w.alertsMatching(t, "local", "recovered")) > 0
	})
	mustContain(t, "status once the host answers again", w.ask(t, w.alice, "!status web"), "web", "**running**")
	// It was down from the first failed probe, at least one command timeout
	// before the alert: the recovery must not say it was down for no time.
	if rec := w.alertsMatching(t, "local", "recovered"); len(rec) != 1 || strings.Contains(rec[0], "for 0 s") {
		t.Errorf("recovery alerts %q, want one with the time the host was down", rec)
	}
	if got := w.alertsMatching(t, "local", "is unreachable"); len(got) != 1 {
		t.Errorf("%d unreachable alerts, want 1: %q", len(got), got)
	}
}

// The homeserver cut off (its connections closed, new ones refused) while a
// service dies: the alert is delivered once the link is back, once.
func TestAnAlertOutlivesACutToTheHomeserver(t *testing.T) {
	w := watchWorld(t)
	tp := testworld.StartToxiproxy(t)
	hs := tp.Proxy(t, "homeserver", strings.TrimPrefix(w.hs.URL, "http://"))
	w.matrix = map[string]any{"homeserver": "http://" + hs.Addr}
	w.killWhileHomeserverAway(t, func() { hs.SetEnabled(t, false) }, func() { hs.SetEnabled(t, true) })
}
