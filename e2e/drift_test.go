package e2e

import (
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/testworld"
)

// digestEntries returns the drift digest's entries the bot posted, oldest first.
func (w *world) digestEntries(t testing.TB) []id.EventID {
	t.Helper()
	var out []id.EventID
	for _, evt := range w.alertEvents(t) {
		if strings.HasPrefix(evt.Content.AsMessage().Body, "📦 Drift digest") {
			out = append(out, evt.ID)
		}
	}
	return out
}

// driftWorld is composeWorld with a drift digest every digestEvery, after
// the given versions were pushed to the origin.
func driftWorld(t testing.TB, digestEvery string, versions ...string) (*world, *testworld.ComposeProject, *opsroom) {
	t.Helper()
	w := newWorld(t)
	p := testworld.NewComposeProject(t, testworld.UniqueName(t, "app"))
	for _, v := range versions {
		p.PushVersion(t, v)
	}
	w.top = map[string]any{"drift": map[string]any{"digest_every": digestEvery}}
	o := w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{
		"app": {"host": "local", "kind": "compose", "directory": p.Dir, "compose_service": p.Service, "container": p.Container, "update_timeout": "5m"},
	})
	return w, p, o
}

// TestDriftIsToldByOutdatedAndStatusAndTheDigestsCheckUpdates: two pushes to
// the origin; !outdated lists both commits, !status says how far behind;
// the digest posts the service's entry, and alice's ✅ on it runs the update
// as !update does, its progress message answering the entry; afterwards
// everything is current.
func TestDriftIsToldByOutdatedAndStatusAndTheDigestsCheckUpdates(t *testing.T) {
	w, p, _ := driftWorld(t, "5s", "v2", "v3")

	got := w.ask(t, w.alice, "!outdated")
	mustContain(t, "!outdated", got, "1 of 1 service is behind", "**app**", "2 commits behind origin/master", " v2", " v3")
	mustContain(t, "!status app", w.ask(t, w.alice, "!status app"), "drift: 2 commits behind origin/master")

	var entry id.EventID
	eventually(t, "the drift digest", func() bool {
		if e := w.digestEntries(t); len(e) > 0 {
			entry = e[0]
			return true
		}
		return false
	})
	w.react(t, w.alice, entry, "✅")
	var progress id.EventID
	eventually(t, "the update's progress message, answering the digest entry", func() bool {
		if r := w.replies(t, entry); len(r) > 0 {
			progress = r[0].ID
			return true
		}
		return false
	})
	var final string
	eventually(t, "the update to finish", func() bool {
		edits := w.edits(t, progress)
		if n := len(edits); n > 0 && (strings.HasPrefix(edits[n-1], "✅") || strings.HasPrefix(edits[n-1], "❌")) {
			final = edits[n-1]
			return true
		}
		return false
	})
	mustContain(t, "the digest's update", final, "✅ Updated", "app", "started by "+string(w.alice.UserID), "v3", "v2")
	if v := runningVersion(t, p.Container); v != "v3" {
		t.Errorf("after the digest's ✅ the container runs %q, want v3", v)
	}
	mustContain(t, "!outdated after the update", w.ask(t, w.alice, "!outdated"), "Everything is current")
	mustContain(t, "!status after the update", w.ask(t, w.alice, "!status app"), "drift: up to date with origin/master")
}

// TestDriftDigestWithNothingBehindPostsNothing: with the checkout at the
// origin's tip, !outdated says everything is current and the digest, once
// due, posts nothing.
func TestDriftDigestWithNothingBehindPostsNothing(t *testing.T) {
	w, _, o := driftWorld(t, "2s")
	mustContain(t, "!outdated", w.ask(t, w.alice, "!outdated"), "✅ Everything is current: 1 service checked")
	eventually(t, "a digest due", func() bool {
		return strings.Contains(o.log(), "Drift digest: nothing is behind; nothing posted")
	})
	time.Sleep(time.Second) // a message sent by mistake would be in the room by now
	if e := w.digestEntries(t); len(e) > 0 {
		t.Errorf("the digest posted %d entries with nothing behind", len(e))
	}
}
