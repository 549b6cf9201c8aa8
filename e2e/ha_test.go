package e2e

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opsroom/opsroom/internal/testworld"
)

// testLease is ha.lease in these tests: short, for takeovers within seconds.
const testLease = 3 * time.Second

// haWorld is a watched world whose opsroom instances share a PostgreSQL
// database (whatever OPSROOM_TEST_STORE says), with a short lease.
func haWorld(t *testing.T) *world {
	t.Helper()
	w := watchWorld(t)
	if !strings.HasPrefix(w.database, "postgres://") {
		w.database = testworld.PostgresDatabase(t)
	}
	w.top = map[string]any{"ha": map[string]any{"lease": testLease.String()}}
	return w
}

// standingBy launches another instance on the same config and waits until it stands by.
func (w *world) standingBy(t *testing.T) *opsroom {
	t.Helper()
	o := w.launch(t)
	eventually(t, "the second instance standing by", func() bool { return strings.Contains(o.log(), "Standing by") })
	return o
}

// becameActive waits until o holds the lease and listens for commands.
func becameActive(t *testing.T, o *opsroom, what string) {
	t.Helper()
	select {
	case <-o.ready:
	case <-o.exited:
		t.Fatalf("%s exited: %v\n%s", what, o.cmd.ProcessState, o.log())
	case <-time.After(replyTimeout):
		t.Fatalf("%s not active within %s:\n%s", what, replyTimeout, o.log())
	}
}

// watchedPair is an haWorld watching one container, web, with an active
// instance (watching, its event stream connected) and a standby.
func watchedPair(t *testing.T) (w *world, web *testworld.Container, active, standby *opsroom) {
	t.Helper()
	w = haWorld(t)
	web = testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	active = w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(web)})
	w.waitWatching(t, true)
	return w, web, active, w.standingBy(t)
}

func TestTheStandbyTakesOverWhenTheActiveIsKilled(t *testing.T) {
	w, c, active, standby := watchedPair(t)

	// One instance answers while the other stands by.
	sent := w.say(t, w.alice, "!status web")
	mustContain(t, "status from the active", w.waitReply(t, sent, "!status web"), statusOfWeb)

	// when the active one is killed, and during the takeover a service is
	// killed and a command sent
	if err := active.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-active.exited
	killed := time.Now()
	testworld.Docker(t, "kill", c.Name)
	during := w.say(t, w.alice, "!status web")

	// then the standby takes over, answers the command once and alerts the kill once
	becameActive(t, standby, "the standby")
	t.Logf("the standby took over %s after the kill -9 (lease %s)", standby.readyAt.Sub(killed).Round(time.Millisecond), testLease)
	mustContain(t, "status sent during the takeover", w.waitReply(t, during, "!status web"), "web", "exited")
	eventually(t, "the exited alert", func() bool { return len(w.alertsMatching(t, "web", "exited with code 137")) > 0 })
	w.settle(t)
	if got := w.alertsMatching(t, "web", "exited with code"); len(got) != 1 {
		t.Errorf("%d exited alerts, want exactly 1: %q", len(got), got)
	}
	if n := len(w.replies(t, sent)); n != 1 {
		t.Errorf("the status sent before the takeover has %d replies, want 1", n)
	}
	if n := len(w.replies(t, during)); n != 1 {
		t.Errorf("the status sent during the takeover has %d replies, want 1", n)
	}
	mustContain(t, "the new active one's log", standby.log(), "Active: this instance holds the lease")
}

func TestAPausedActiveThatWakesAfterATakeoverStaysStandby(t *testing.T) {
	w, c, old, standby := watchedPair(t)

	// given the active one paused past its lease, and the standby taken over
	if err := old.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	becameActive(t, standby, "the standby")
	w.waitWatching(t, true)

	// when a service is killed, and the old one wakes up
	testworld.Docker(t, "kill", c.Name)
	if err := old.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the exited alert", func() bool { return len(w.alertsMatching(t, "web", "exited with code 137")) > 0 })
	eventually(t, "the old one saying it lost the lease", func() bool {
		return strings.Contains(old.log(), "Lost the lease")
	})
	w.settle(t)

	// then there is exactly one alert, one reply to a command, and the old one stands by
	if got := w.alertsMatching(t, "web", "exited with code"); len(got) != 1 {
		t.Errorf("%d exited alerts, want exactly 1: %q", len(got), got)
	}
	sent := w.say(t, w.alice, "!status web")
	mustContain(t, "status after the old one woke", w.waitReply(t, sent, "!status web"), "web", "exited")
	time.Sleep(2 * time.Second)
	if n := len(w.replies(t, sent)); n != 1 {
		t.Errorf("!status has %d replies, want 1", n)
	}
	select {
	case <-old.exited:
		t.Errorf("the old instance exited (%v), want it standing by", old.cmd.ProcessState)
	default:
	}
	mustContain(t, "the old one's log", old.log(), "Lost the lease", "standing by")
	eventually(t, "!watch naming the active one and the old one standing by", func() bool {
		got := w.ask(t, w.alice, "!watch")
		return strings.Contains(got, "Active: opsroom pid "+strconv.Itoa(standby.cmd.Process.Pid)) &&
			strings.Contains(got, "Standing by: opsroom pid "+strconv.Itoa(old.cmd.Process.Pid))
	})
}

func TestAnUpdateCutOffByAFailoverIsReportedOnceAndNotRunAgain(t *testing.T) {
	w := haWorld(t)
	p := testworld.NewComposeProject(t, testworld.UniqueName(t, "app"))
	p.PushVersion(t, "v2")
	hosts := map[string]host{"local": w.localHost()}
	services := map[string]service{
		"app": {"host": "local", "kind": "compose", "directory": p.Dir, "compose_service": p.Service, "container": p.Container},
	}
	active := w.startOpsroom(t, hosts, services)
	active.preflightDone(t)
	standby := w.standingBy(t)
	p.SlowFetch(t, 21*time.Second) // 21: no other test's fetch sleeps as long
	before := head(t, p.Dir)

	// given an update at stage fetch on the active instance
	sent := w.say(t, w.alice, "!update app")
	progress := w.reply(t, sent, 0, "the progress message")
	eventually(t, "the update recorded at stage fetch", func() bool { return updateStage(t, active.db) == "fetch" })

	// when the active instance is killed
	if err := active.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-active.exited

	// then the standby takes over and says, once, that a failover cut the update off
	becameActive(t, standby, "the standby")
	eventually(t, "the progress message saying a failover interrupted it", func() bool {
		edits := w.edits(t, progress)
		return len(edits) > 0 && strings.Contains(edits[len(edits)-1], "interrupted by a failover")
	})
	final := w.edits(t, progress)
	mustContain(t, "the interrupted update", final[len(final)-1], "at stage fetch", "opsroom pid "+strconv.Itoa(active.cmd.Process.Pid),
		"stopped answering", "it is not run again")
	// and does not run it again: no second progress message, the old version still running
	time.Sleep(3 * time.Second)
	if n := len(w.replies(t, sent)); n != 1 {
		t.Errorf("the !update has %d replies, want its one progress message", n)
	}
	interrupted := 0
	for _, e := range w.edits(t, progress) {
		if strings.Contains(e, "interrupted by a failover") {
			interrupted++
		}
	}
	if interrupted != 1 {
		t.Errorf("%d edits say the update was interrupted, want 1", interrupted)
	}
	// nor does the cut-off update go on on the host: once its fetch would
	// have ended, and a reset and a build after it, the checkout and the
	// container are still v1's
	eventually(t, "the cut-off fetch's sleep gone from the host", func() bool { return len(liveProcesses(t, "sleep 21")) == 0 })
	time.Sleep(5 * time.Second)
	if now := head(t, p.Dir); now != before {
		t.Errorf("the update cut off by the failover moved the checkout from %s to %s", before[:7], now[:7])
	}
	if v := runningVersion(t, p.Container); v != "v1" {
		t.Errorf("the update cut off by the failover changed the running version to %q", v)
	}
}
