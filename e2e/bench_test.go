package e2e

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/opsroom/opsroom/internal/testworld"
)

// BenchmarkKillToAlert measures what the watcher is for: the time from a
// `docker kill` to its alert arriving in the room, as the person in the room
// sees it (a long-polling /sync). Run it with -benchtime 10x (test/bench.sh).
//
//   - events: the docker event stream, with the periodic probe at 30 s so that
//     it cannot be what raised the alert;
//   - probing: no event stream, probing every second.
func BenchmarkKillToAlert(b *testing.B) {
	for _, mode := range []struct {
		name  string
		watch map[string]any
	}{
		{"events", map[string]any{"interval": "30s"}},
		{"probing", map[string]any{"interval": "1s", "no_events": true}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			w := newWorld(b)
			w.watch = mode.watch
			c := testworld.RunContainer(b, testworld.UniqueName(b, "web"), nil)
			w.startOpsroom(b, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
			time.Sleep(2 * time.Second) // the first probe is the baseline
			room := &roomReader{cli: w.alice, w: w}
			room.since = room.next(b, "", time.Second, nil)

			var took []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if out, err := exec.Command("docker", "kill", c.Name).CombinedOutput(); err != nil {
					b.Fatalf("docker kill: %v %s", err, out)
				}
				room.waitFor(b, "exited with code")
				took = append(took, time.Since(start))
				b.StopTimer()
				testworld.Docker(b, "start", c.Name)
				room.waitFor(b, "recovered")
				b.StartTimer()
			}
			b.StopTimer()
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "median-ms")
			b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-ms")
			b.ReportMetric(0, "ns/op") // the wall time of a kill-and-recover cycle says nothing here
		})
	}
}

// roomReader follows the room with /sync, as a client does, to see an alert the moment it arrives.
type roomReader struct {
	cli   *mautrix.Client
	w     *world
	since string
}

func (r *roomReader) waitFor(t testing.TB, text string) {
	t.Helper()
	deadline := time.Now().Add(replyTimeout)
	found := false
	for !found {
		if time.Now().After(deadline) {
			t.Fatalf("no alert with %q within %s", text, replyTimeout)
		}
		r.since = r.next(t, r.since, 10*time.Second, func(evt *event.Event) {
			if evt.Sender == r.w.botID && strings.Contains(evt.Content.AsMessage().Body, text) {
				found = true
			}
		})
	}
}

func (r *roomReader) next(t testing.TB, since string, timeout time.Duration, each func(*event.Event)) string {
	t.Helper()
	resp, err := r.cli.SyncRequest(context.Background(), int(timeout.Milliseconds()), since, "", false, event.PresenceOnline)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	if each != nil {
		for _, evt := range resp.Rooms.Join[r.w.room].Timeline.Events {
			if evt.Type == event.EventMessage {
				_ = evt.Content.ParseRaw(evt.Type)
				each(evt)
			}
		}
	}
	return resp.NextBatch
}
