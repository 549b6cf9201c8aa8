package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/opsroom/opsroom/internal/testworld"
)

// Two services deployed from one compose project directory share its
// checkout: while an update of one fetches, an update of the other is
// refused, naming the running update; a restart of the other is not held up.
func TestAnUpdateHoldsItsCheckoutAgainstOtherServicesDeployedFromIt(t *testing.T) {
	w := newWorld(t)
	p := testworld.NewComposeProject(t, testworld.UniqueName(t, "app"))
	p.PushVersion(t, "v2")
	o := w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{
		"a": {"host": "local", "kind": "compose", "directory": p.Dir, "compose_service": p.Service, "container": p.Container},
		// The same compose service; a container name of its own, since opsroom
		// takes each container on a host for one service only.
		"b": {"host": "local", "kind": "compose", "directory": p.Dir + "/", "compose_service": p.Service, "container": p.Container + "-b"},
	})
	o.preflightDone(t)
	p.SlowFetch(t, 20*time.Second)

	sent := w.say(t, w.alice, "!update a")
	progress := w.reply(t, sent, 0, "the progress message of !update a")
	mustContain(t, "update of b during a's update", w.ask(t, w.alice, "!update b"),
		"update of a in progress since", "started by "+string(w.alice.UserID), "b shares its checkout", p.Dir, "try again when it is done")
	if got := w.ask(t, w.alice, "!restart b"); strings.Contains(got, "in progress") {
		t.Errorf("a restart of b, which leaves the checkout alone, was held up by a's update:\n%s", got)
	}

	// The update fetches for 20 s, then builds: longer than eventually waits.
	var final string
	for deadline := time.Now().Add(3 * replyTimeout); final == "" && time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if edits := w.edits(t, progress); len(edits) > 0 {
			if last := edits[len(edits)-1]; strings.HasPrefix(last, "✅") || strings.HasPrefix(last, "❌") {
				final = last
			}
		}
	}
	mustContain(t, "a's update", final, "Updated **a**")
	if v := runningVersion(t, p.Container); v != "v2" {
		t.Errorf("after !update a the container runs %q, want v2", v)
	}
}
