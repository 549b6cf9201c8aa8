package monitor

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// pingTimeout bounds one ping: a dead-man's switch that does not answer
// must not hold up the next.
const pingTimeout = 10 * time.Second

// heartbeat pings heartbeat.url after complete watcher cycles (or on its own
// interval when the watcher is disabled), at most once per interval: GET
// the URL while opsroom is healthy, POST URL/fail with the reason when not
// (the Healthchecks.io convention). Pings run here, never in the watcher;
// their failures are logged, and the next cycle tries again.
func (m *Monitor) heartbeat(ctx context.Context) {
	cfg := m.deps.Heartbeat
	interval := cfg.Interval.Duration
	if interval <= 0 {
		interval = defaultHeartbeatInterval
	}
	var tick <-chan time.Time
	if m.watcher == nil {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	client := &http.Client{Timeout: pingTimeout}
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.cycles:
		case <-tick:
		}
		if !last.IsZero() && time.Since(last) < interval {
			continue
		}
		last = time.Now()
		m.ping(ctx, client, m.Check(ctx))
	}
}

// ping sends one heartbeat. The URL holds the check's token: it is never
// logged, nor is an error that quotes it.
func (m *Monitor) ping(ctx context.Context, client *http.Client, report Report) {
	log := zerolog.Ctx(ctx).With().Bool("healthy", report.OK).Logger()
	raw, err := m.deps.Heartbeat.URL.Reveal()
	if err != nil {
		log.Warn().Err(err).Msg("Heartbeat not sent: heartbeat.url could not be read")
		return
	}
	target, err := url.Parse(raw)
	if err != nil {
		log.Warn().Msg("Heartbeat not sent: heartbeat.url is not a URL")
		return
	}
	method, body := http.MethodGet, io.Reader(nil)
	if !report.OK {
		target = target.JoinPath("fail")
		method, body = http.MethodPost, strings.NewReader(report.Reason())
	}
	req, err := http.NewRequestWithContext(ctx, method, target.String(), body)
	if err != nil {
		log.Warn().Err(unquoted(err)).Msg("Heartbeat not sent")
		return
	}
	req.Header.Set("User-Agent", "opsroom")
	if body != nil {
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn().Err(unquoted(err)).Str("server", target.Host).Msg("Heartbeat ping failed; the next cycle tries again")
		}
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 300 {
		log.Warn().Int("status", resp.StatusCode).Str("server", target.Host).Msg("Heartbeat ping refused; check heartbeat.url")
		return
	}
	log.Debug().Msg("Heartbeat sent")
}

// unquoted is err without the URL net/http puts in front of it.
func unquoted(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
