package e2e

import (
	"maps"
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
// the given versions were pushed to the origin; more holds more keys of the
// service "app".
func driftWorld(t testing.TB, digestEvery string, more service, versions ...string) (*world, *testworld.ComposeProject, *opsroom) {
	t.Helper()
	w := newWorld(t)
	p := testworld.NewComposeProject(t, testworld.UniqueName(t, "app"))
	for _, v := range versions {
		p.PushVersion(t, v)
	}
	w.top = map[string]any{"drift": map[string]any{"digest_every": digestEvery}}
	w.access = map[string]any{"viewers": []id.UserID{w.eve.UserID}}
	app := service{"host": "local", "kind": "compose", "directory": p.Dir, "compose_service": p.Service, "container": p.Container, "update_timeout": "5m"}
	maps.Copy(app, more)
	o := w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"app": app})
	return w, p, o
}

// firstDigestEntry waits for the digest's first entry.
func (w *world) firstDigestEntry(t testing.TB) id.EventID {
	t.Helper()
	var entry id.EventID
	eventually(t, "the drift digest", func() bool {
		if e := w.digestEntries(t); len(e) > 0 {
			entry = e[0]
			return true
		}
		return false
	})
	return entry
}

// replyTo waits for the bot's reply to msg whose body contains want, and returns it.
func (w *world) replyTo(t testing.TB, msg id.EventID, want string) (id.EventID, string) {
	t.Helper()
	var found id.EventID
	var body string
	eventually(t, "a reply containing "+want, func() bool {
		for _, r := range w.replies(t, msg) {
			if b := r.Content.AsMessage().Body; strings.Contains(b, want) {
				found, body = r.ID, b
				return true
			}
		}
		return false
	})
	return found, body
}

// finalForm waits for the progress message's last edit to be its result.
func (w *world) finalForm(t testing.TB, progress id.EventID) string {
	t.Helper()
	var final string
	eventually(t, "the update to finish", func() bool {
		edits := w.edits(t, progress)
		if n := len(edits); n > 0 && (strings.HasPrefix(edits[n-1], "✅") || strings.HasPrefix(edits[n-1], "❌")) {
			final = edits[n-1]
			return true
		}
		return false
	})
	return final
}

// TestDriftIsToldByOutdatedAndStatusAndTheDigestsCheckUpdates: two pushes to
// the origin; !outdated lists both commits, !status says how far behind;
// the digest posts the service's entry, and alice's ✅ on it runs the update
// as !update does, its progress message answering the entry; afterwards
// everything is current.
func TestDriftIsToldByOutdatedAndStatusAndTheDigestsCheckUpdates(t *testing.T) {
	w, p, _ := driftWorld(t, "5s", nil, "v2", "v3")

	got := w.ask(t, w.alice, "!outdated")
	mustContain(t, "!outdated", got, "1 of 1 service is behind", "**app**", "2 commits behind origin/master", " v2", " v3")
	mustContain(t, "!status app", w.ask(t, w.alice, "!status app"), "drift: 2 commits behind origin/master")

	entry := w.firstDigestEntry(t)
	w.react(t, w.alice, entry, "✅")
	progress, _ := w.replyTo(t, entry, "Updating **app**")
	final := w.finalForm(t, progress)
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
	w, _, o := driftWorld(t, "2s", nil)
	mustContain(t, "!outdated", w.ask(t, w.alice, "!outdated"), "✅ Everything is current: 1 service checked")
	eventually(t, "a digest due", func() bool {
		return strings.Contains(o.log(), "Drift digest: nothing is behind; nothing posted")
	})
	time.Sleep(time.Second) // a message sent by mistake would be in the room by now
	if e := w.digestEntries(t); len(e) > 0 {
		t.Errorf("the digest posted %d entries with nothing behind", len(e))
	}
}

// TestDriftDigestsCheckIsRefusedToAViewerAndAsksForTheServicesConfirmation:
// a viewer's ✅ on an entry is refused; an operator's, on a service whose
// updates need confirming, asks for it first, and the confirmed update
// answers the entry.
func TestDriftDigestsCheckIsRefusedToAViewerAndAsksForTheServicesConfirmation(t *testing.T) {
	w, p, _ := driftWorld(t, "3s", service{"confirm": []string{"update"}}, "v2")
	entry := w.firstDigestEntry(t)

	w.react(t, w.eve, entry, "✅")
	w.replyTo(t, entry, "⛔ `!update` needs the operator role")

	w.react(t, w.alice, entry, "✅")
	prompt, _ := w.replyTo(t, entry, "React ✅ within")
	if v := runningVersion(t, p.Container); v != "v1" {
		t.Fatalf("the update ran before it was confirmed: %s runs", v)
	}
	w.react(t, w.alice, prompt, "✅")
	progress, _ := w.replyTo(t, entry, "Updating **app**")
	mustContain(t, "the confirmed update", w.finalForm(t, progress), "✅ Updated", "v2")
	if v := runningVersion(t, p.Container); v != "v2" {
		t.Errorf("after the confirmed ✅ the container runs %q, want v2", v)
	}
}
