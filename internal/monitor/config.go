package monitor

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/opsroom/opsroom/internal/config"
)

// HTTP is the `http:` section: the listener of /healthz and /metrics.
type HTTP struct {
	// Listen is host:port; empty (the default) turns the listener off.
	Listen string `yaml:"listen"`
}

// Heartbeat is the `heartbeat:` section: a dead-man's switch pinged
// after healthy watcher cycles.
type Heartbeat struct {
	// URL is pinged (GET) when opsroom is healthy, URL/fail (POST, the
	// reason as body) when not. It holds the check's token: a secret.
	URL config.Secret `yaml:"url"`
	// Interval is the least time between two pings (default 1m).
	Interval config.Duration `yaml:"interval"`
}

// defaultHeartbeatInterval suits Healthchecks.io's smallest period (1 minute).
const defaultHeartbeatInterval = time.Minute

// Validate checks the listen address; a listener reachable from other
// machines is a warning, as /metrics names every host and service.
func (c *HTTP) Validate() (errs, warnings []error) {
	if c.Listen == "" {
		return nil, nil
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return []error{fmt.Errorf("http.listen: %q is not host:port (e.g. 127.0.0.1:9090): %w", c.Listen, err)}, nil
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return []error{fmt.Errorf("http.listen: port %q must be a number from 1 to 65535", port)}, nil
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		warnings = append(warnings, fmt.Errorf("http.listen: %s is reachable from other machines, and /metrics names every host and service; "+
			"listen on 127.0.0.1 unless a firewall or a proxy keeps it private", c.Listen))
	}
	return nil, warnings
}

// Validate checks the URL (read from its file or variable if need be) and fills the default interval.
func (c *Heartbeat) Validate() (errs, warnings []error) {
	if c.Interval.Duration < 0 {
		errs = append(errs, errors.New("heartbeat.interval: must be a positive duration like 1m, or leave it out for the default (1m)"))
	}
	if c.Interval.Duration <= 0 {
		c.Interval.Duration = defaultHeartbeatInterval
	}
	if !c.URL.IsSet() {
		return errs, nil
	}
	raw, err := c.URL.Reveal()
	if err != nil {
		return append(errs, fmt.Errorf("heartbeat.url: %w", err)), nil
	}
	// The URL is a secret: the message names what is wrong, never the URL.
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, errors.New("heartbeat.url: must be an http:// or https:// URL, such as Healthchecks.io's https://hc-ping.com/UUID"))
	}
	return errs, nil
}
