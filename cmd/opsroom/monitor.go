package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"time"

	"github.com/opsroom/opsroom/bot"
	"github.com/opsroom/opsroom/commands"
	"github.com/opsroom/opsroom/internal/monitor"
	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

var (
	_ ops.Observer      = (*monitor.Monitor)(nil)
	_ commands.Observer = (*monitor.Monitor)(nil)
	_ bot.Observer      = (*monitor.Monitor)(nil)
)

// newMonitor builds opsroom's health and metrics and has the fleet and the
// command processor report to it; the bot gets it through bot.Deps, the
// watcher through Watch.
func newMonitor(cfg *Config, st *store.Store, fleet *ops.Fleet, deps *commands.Deps) *monitor.Monitor {
	m := monitor.New(monitor.Deps{HTTP: cfg.HTTP, Heartbeat: cfg.Heartbeat, Database: st, Fleet: fleet,
		Confirmations: deps.PendingConfirmations})
	fleet.Observe(m)
	deps.Observer = m
	return m
}

// healthcheckTimeout bounds -healthcheck: Docker's HEALTHCHECK gives it 30 s by default.
const healthcheckTimeout = 10 * time.Second

// healthcheck asks the running opsroom's /healthz (at the config's
// http.listen) and returns nil if it answers 200, else the reason, for the
// image's HEALTHCHECK: a static image has no curl.
func healthcheck(configPath string, out io.Writer) error {
	// Only http.listen matters here: the running opsroom checked the rest.
	cfg, _, _, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	if cfg.HTTP.Listen == "" {
		// No listener, nothing to ask: an image run without http.listen must not show as unhealthy for it.
		fmt.Fprintln(out, "http.listen is not set, so opsroom serves no /healthz; nothing to check")
		return nil
	}
	host, port, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	ctx, cancel := context.WithTimeout(context.Background(), healthcheckTimeout)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, port) + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("unhealthy: no answer from %s: %w", url, err)
	}
	defer resp.Body.Close()
	var report monitor.Report
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&report); err != nil {
		return fmt.Errorf("unhealthy: %s answered %s, not a health report: %w", url, resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK || !report.OK {
		return fmt.Errorf("unhealthy (%s):\n%s", resp.Status, report.Reason())
	}
	fmt.Fprintln(out, "healthy")
	return nil
}
