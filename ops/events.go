package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

const (
	// streamSpan is how long one event stream session lives before it is
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

// follow keeps the event stream of a host's services of one backend open
// (reconnecting with backoff) and pokes events whenever one of them changes.
func (w *Watcher) follow(ctx context.Context, host string, g backendGroup, cmd string, events chan<- struct{}) {
	engine := g.backend.name()
	log := zerolog.Ctx(ctx).With().Str("host", host).Str("engine", engine).Logger()
	wait := time.Duration(0)
	var outage struct {
		since time.Time // zero while the stream is up
		ends  int       // how often it ended (or failed to connect) since
	}
	for ctx.Err() == nil {
		lines := &eventLines{parse: g.backend.parseEvent, onEvent: func(object string, died bool) {
			if died {
				w.died(host, object)
			}
			poke(events)
		}, onFirst: func() {
			w.setStreaming(host, engine, true)
			poke(events) // what changed while there was no stream is seen now
			if !outage.since.IsZero() {
				log.Info().Int("ends", outage.ends).Dur("after", time.Since(outage.since)).Msg("Event stream is back")
				outage.since, outage.ends = time.Time{}, 0
			}
		}}
		started := time.Now()
		// An event stream writes nothing until something happens: the line echoed
		// first says the session is up and the stream connected.
		// The events go to lines as they come; the result keeps only what
		// explains an end of the stream, not an hour of events.
		res, err := w.fleet.runGroup(ctx, host, cmd, runOpts{timeout: streamSpan, stream: lines, keep: streamKeep})
		w.setStreaming(host, engine, false)
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
				Msg("Event stream ended; probing only until it is back")
		} else {
			log.Debug().Err(err).Int("ends", outage.ends).Dur("retry_in", wait).Msg("Event stream still down")
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

func (w *Watcher) setStreaming(host, engine string, on bool) {
	w.mu.Lock()
	w.streaming[host+"/"+engine] = on
	w.mu.Unlock()
}

// readyLine is what an event stream's command prints once it listens.
const readyLine = "opsroom-events-ready"

// eventLines splits the stream into lines and reads each with the backend's parse.
type eventLines struct {
	parse   func(line []byte) (object string, relevant, died bool)
	onEvent func(object string, died bool)
	onFirst func()

	mu      sync.Mutex
	partial []byte
	ready   bool
}

// read passes one line on, if it is an event that can change what a probe sees.
func (e *eventLines) read(line []byte) {
	if object, relevant, died := e.parse(line); relevant {
		e.onEvent(object, died)
	}
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
	// The ready line counts without its newline: the envelope holds a
	// line's last newline back until more output comes (it could begin the
	// end mark), and a quiet stream may send nothing more for hours.
	if !e.ready && bytes.HasPrefix(e.partial, []byte(readyLine)) {
		e.ready = true
		e.partial = e.partial[len(readyLine):]
		e.onFirst()
	}
	for {
		i := bytes.IndexByte(e.partial, '\n')
		if i < 0 {
			break
		}
		line := e.partial[:i]
		e.partial = e.partial[i+1:]
		if !e.ready || len(line) == 0 {
			continue // what came before the ready line, or its newline
		}
		e.read(line)
	}
	// The same holds for every event line: the envelope keeps its newline
	// until the next event, which may come hours later. An event is a JSON
	// object, and no proper start of one is valid JSON: a whole one is read
	// now, and the newline that follows it is an empty line.
	if e.ready && len(e.partial) > 0 && e.partial[0] == '{' && json.Valid(e.partial) {
		line := e.partial
		e.partial = nil
		e.read(line)
	}
	if len(e.partial) > 64*1024 {
		e.partial = nil // no event is this long: garbage, drop it
	}
	return len(p), nil
}
