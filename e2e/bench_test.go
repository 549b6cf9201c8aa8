package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
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
		// flap_changes: each kill and start is its own alert, never held back as flapping.
		{"events", map[string]any{"interval": "30s", "flap_changes": 1000}},
		{"probing", map[string]any{"interval": "1s", "no_events": true, "flap_changes": 1000}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			w := newWorld(b)
			w.watch = mode.watch
			c := testworld.RunContainer(b, testworld.UniqueName(b, "web"), nil)
			w.startOpsroom(b, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
			// The first probe is the baseline, and the stream must be on.
			w.waitWatching(b, mode.watch["no_events"] == nil)
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

// waitWatching waits until !watch says the host has been probed and, with
// streaming, that its event stream is connected.
func (w *world) waitWatching(t testing.TB, streaming bool) {
	t.Helper()
	want := "| yes |"
	if streaming {
		want = "| yes | connected |"
	}
	deadline := time.Now().Add(replyTimeout)
	for {
		got := w.ask(t, w.alice, "!watch")
		if strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("!watch still says, after %s:\n%s\nwant %q", replyTimeout, got, want)
		}
		time.Sleep(200 * time.Millisecond)
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
			// An edit is not the alert: a recovery edits the alert it resolves.
			msg := evt.Content.AsMessage()
			if evt.Sender == r.w.botID && msg.RelatesTo.GetReplaceID() == "" && strings.Contains(msg.Body, text) {
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
	if room := resp.Rooms.Join[r.w.room]; each != nil && room != nil { // nil: news of other things only
		for _, evt := range room.Timeline.Events {
			if evt.Type == event.EventMessage {
				_ = evt.Content.ParseRaw(evt.Type)
				each(evt)
			}
		}
	}
	return resp.NextBatch
}

// BenchmarkWatchMemory watches three services for OPSROOM_SOAK (default 10m;
// test/bench.sh) while one of them is killed and started again every 20 s and
// someone asks !status every 10 s, and samples opsroom's resident memory and
// open files every 5 s. It reports them after a minute of warm-up and how fast
// memory grew (a least-squares slope, per hour), and the live heap and
// goroutines opsroom logs each minute, first and last: flat is the target. Run it
// with -benchtime 1x; each call is one whole soak.
func BenchmarkWatchMemory(b *testing.B) {
	soak := 10 * time.Minute
	if v := os.Getenv("OPSROOM_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("OPSROOM_SOAK=%q: want a duration such as 10m or 1h", v)
		}
		soak = d
	}
	const warmUp, every = time.Minute, 5 * time.Second
	if soak < warmUp+time.Minute {
		b.Fatalf("OPSROOM_SOAK=%s: at least 2m, for a minute of warm-up and a minute of samples", soak)
	}
	w := newWorld(b)
	w.watch = map[string]any{"interval": "1s", "flap_changes": 1000} // every kill is an alert sent
	services := map[string]service{}
	var victim *testworld.Container
	for _, name := range []string{"web", "bridge", "db"} {
		c := testworld.RunContainer(b, testworld.UniqueName(b, name), nil)
		services[name] = containerService(c)
		if victim == nil {
			victim = c
		}
	}
	o := w.startOpsroom(b, map[string]host{"local": w.localHost()}, services)
	pid := o.cmd.Process.Pid

	b.ResetTimer()
	start := time.Now()
	var at []time.Duration
	var rss, fds []float64
	tick := time.NewTicker(every)
	defer tick.Stop()
	for n := 0; time.Since(start) < soak; n++ {
		<-tick.C
		switch {
		case n%4 == 0: // every 20 s
			if out, err := exec.Command("docker", "kill", victim.Name).CombinedOutput(); err != nil {
				b.Fatalf("docker kill: %v %s", err, out)
			}
		case n%4 == 1:
			testworld.Docker(b, "start", victim.Name)
		}
		if n%2 == 0 {
			w.say(b, w.alice, "!status")
		}
		if since := time.Since(start); since >= warmUp {
			at = append(at, since)
			rss = append(rss, procRSSMB(b, pid))
			fds = append(fds, float64(procFDs(b, pid)))
		}
	}
	b.StopTimer()
	b.ReportMetric(rss[0], "rss-first-MB")
	b.ReportMetric(rss[len(rss)-1], "rss-last-MB")
	b.ReportMetric(slices.Max(rss), "rss-max-MB")
	b.ReportMetric(slope(at, rss)*float64(time.Hour), "rss-growth-MB/h")
	// A cache filling up grows early and then stops; a leak goes on: the second half tells them apart.
	half := len(at) / 2
	b.ReportMetric(slope(at[half:], rss[half:])*float64(time.Hour), "rss-growth-2nd-half-MB/h")
	b.ReportMetric(fds[0], "fds-first")
	b.ReportMetric(fds[len(fds)-1], "fds-last")
	// opsroom's own count, once a minute: the live heap after GC and its goroutines.
	var heap, goroutines []float64
	for line := range strings.Lines(o.log()) {
		var rt struct {
			Message    string  `json:"message"`
			HeapLive   float64 `json:"heap_live_bytes"`
			Goroutines float64 `json:"goroutines"`
		}
		if json.Unmarshal([]byte(line), &rt) == nil && rt.Message == "Runtime" {
			heap, goroutines = append(heap, rt.HeapLive/(1<<20)), append(goroutines, rt.Goroutines)
		}
	}
	if len(heap) < 2 {
		b.Fatalf("opsroom logged %d runtime samples, want one a minute", len(heap))
	}
	b.ReportMetric(heap[0], "heap-live-first-MB")
	b.ReportMetric(heap[len(heap)-1], "heap-live-last-MB")
	minutes := make([]time.Duration, len(heap))
	samples := make([]string, len(heap))
	for i := range heap {
		minutes[i] = time.Duration(i+1) * time.Minute
		samples[i] = strconv.FormatFloat(heap[i], 'f', 2, 64)
	}
	half = len(heap) / 2
	b.ReportMetric(slope(minutes[half:], heap[half:])*float64(time.Hour), "heap-live-growth-2nd-half-MB/h")
	b.Logf("live heap each minute, MB: %s", strings.Join(samples, " "))
	b.ReportMetric(goroutines[0], "goroutines-first")
	b.ReportMetric(goroutines[len(goroutines)-1], "goroutines-last")
	b.ReportMetric(0, "ns/op")
}

// procRSSMB is the process's resident memory in MB (VmRSS in /proc).
func procRSSMB(t testing.TB, pid int) float64 {
	t.Helper()
	return procStatusMB(t, pid, "VmRSS")
}

// procStatusMB is one of the memory fields of /proc/PID/status, in MB:
// VmRSS, and its parts RssAnon (heap, stacks) and RssFile (the binary's pages).
func procStatusMB(t testing.TB, pid int, field string) float64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading opsroom's memory: %v", err)
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				t.Fatalf("%s line %q: %v", field, line, err)
			}
			return kb / 1024
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// procFDs is how many files the process has open.
func procFDs(t testing.TB, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("reading opsroom's open files: %v", err)
	}
	return len(entries)
}

// slope is the least-squares slope of ys over xs, per nanosecond.
func slope(xs []time.Duration, ys []float64) float64 {
	var sx, sy, sxx, sxy float64
	n := float64(len(xs))
	for i := range xs {
		x := float64(xs[i])
		sx, sy, sxx, sxy = sx+x, sy+ys[i], sxx+x*x, sxy+x*ys[i]
	}
	if d := n*sxx - sx*sx; d != 0 {
		return (n*sxy - sx*sy) / d
	}
	return 0
}
