package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

const (
	// streamSpan is how long one `docker events` session lives before it is
	// renewed: a bound like any remote command has, and a fresh start now and then.
	streamSpan   = time.Hour
	streamRetry  = time.Second
	streamMaxGap = time.Minute
	// streamRecheck is when a host whose stream ended is probed a second time.
	streamRecheck = 2 * time.Second
	// streamKeep is how much of the stream's output its result keeps: enough
	// for the error that ended it.
	streamKeep = 4 << 10
)

// eventsCommand follows the docker events of the given containers, one JSON
// object per line, after a first line that says the stream is on. The docker
// CLI takes a moment to subscribe; --since the time the ready line was written
// replays what happened in that moment, so nothing after it is missed.
func eventsCommand(containers []string) string {
	var b strings.Builder
	b.WriteString(`since=$(date +%s.%N); echo opsroom-events-ready; exec docker events --since "$since" --format '{{json .}}' --filter type=container`)
	for _, c := range containers {
		b.WriteString(" --filter container=" + Quote(c))
	}
	return b.String()
}

// follow keeps the host's docker event stream open (reconnecting with backoff)
// and pokes events whenever one of its containers changes.
func (w *Watcher) follow(ctx context.Context, host string, services []*ServiceConfig, events chan<- struct{}) {
	log := zerolog.Ctx(ctx).With().Str("host", host).Logger()
	names := make([]string, len(services))
	for i, s := range services {
		names[i] = s.Container
	}
	cmd := eventsCommand(names)
	wait := time.Duration(0)
	var outage struct {
		since time.Time // zero while the stream is up
		ends  int       // how often it ended (or failed to connect) since
	}
	for ctx.Err() == nil {
		lines := &eventLines{onEvent: func(action, container string) {
			if !relevantAction(action) {
				return
			}
			if action == "die" {
				w.died(host, container)
			}
			poke(events)
		}, onFirst: func() {
			w.setStreaming(host, true)
			poke(events) // what changed while there was no stream is seen now
			if !outage.since.IsZero() {
				log.Info().Int("ends", outage.ends).Dur("after", time.Since(outage.since)).Msg("Docker event stream is back")
				outage.since, outage.ends = time.Time{}, 0
			}
		}}
		started := time.Now()
		// docker events writes nothing until something happens: the line echoed
		// first says the session is up and the stream connected.
		// The events go to lines as they come; the result keeps only what
		// explains an end of the stream, not an hour of events.
		res, err := w.fleet.runGroup(ctx, host, cmd, runOpts{timeout: streamSpan, stream: lines, keep: streamKeep})
		w.setStreaming(host, false)
		if ctx.Err() != nil {
			return
		}
		if lines.connected() {
			wait = 0 // it worked for a while: back off afresh
		}
		if time.Since(started) >= streamSpan-time.Second {
			continue // renewed on schedule
		}
		// A stream that ends is often the host going away: probe at once, and
		// again shortly, so that a cut host is alerted in seconds, not after
		// two probe intervals.
		poke(events)
		recheck := time.AfterFunc(streamRecheck, func() { poke(events) })
		wait = min(max(2*wait, streamRetry), streamMaxGap)
		if outage.ends++; outage.since.IsZero() {
			outage.since = time.Now()
			log.Warn().Err(err).Int("exit_code", res.ExitCode).Str("stderr", lastLine(res.Stderr)).Dur("retry_in", wait).
				Msg("Docker event stream ended; probing only until it is back")
		} else {
			log.Debug().Err(err).Int("ends", outage.ends).Dur("retry_in", wait).Msg("Docker event stream still down")
		}
		select {
		case <-ctx.Done():
			recheck.Stop()
			return
		case <-time.After(wait):
		}
	}
}

// poke asks for a probe of the host, unless one is already due.
func poke(events chan<- struct{}) {
	select {
	case events <- struct{}{}:
	default:
	}
}

func (w *Watcher) setStreaming(host string, on bool) {
	w.mu.Lock()
	w.streaming[host] = on
	w.mu.Unlock()
}

// relevantAction says whether a container event can change what a probe sees.
// A kill is only a signal: if it ends the container, the die that follows says
// so, and probing on the kill would look before the container is gone.
func relevantAction(action string) bool {
	switch {
	case strings.HasPrefix(action, "exec_"), strings.HasPrefix(action, "attach"), action == "kill",
		action == "resize", action == "top", action == "commit", action == "copy", action == "export", action == "archive-path", action == "extract-to-dir":
		return false
	}
	return true
}

// eventLines splits the stream into lines and reads each event's action.
type eventLines struct {
	onEvent func(action, container string)
	onFirst func()

	mu      sync.Mutex
	partial []byte
	ready   bool
}

func (e *eventLines) connected() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ready
}

func (e *eventLines) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.partial = append(e.partial, p...)
	for {
		i := bytes.IndexByte(e.partial, '\n')
		if i < 0 {
			break
		}
		line := e.partial[:i]
		e.partial = e.partial[i+1:]
		if !e.ready {
			e.ready = true
			e.onFirst()
			continue
		}
		var ev struct {
			Action string `json:"Action"`
			Status string `json:"status"`
			Actor  struct {
				Attributes struct {
					Name string `json:"name"`
				} `json:"Attributes"`
			} `json:"Actor"`
		}
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		if ev.Action == "" {
			ev.Action = ev.Status
		}
		e.onEvent(ev.Action, ev.Actor.Attributes.Name)
	}
	if len(e.partial) > 64*1024 {
		e.partial = nil // no event is this long: garbage, drop it
	}
	return len(p), nil
}
