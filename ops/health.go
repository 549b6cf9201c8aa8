package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"

	"github.com/opsroom/opsroom/internal/config"
)

// HealthConfig is a service's `health:` key: a probe opsroom runs itself,
// through the host's SSH connection, on top of what the engine reports.
type HealthConfig struct {
	HTTP *HTTPProbe `yaml:"http"`
	TCP  *TCPProbe  `yaml:"tcp"`
}

// HTTPProbe asks a URL, as the host sees it, and accepts some status codes
// and, optionally, only a body that contains a text.
type HTTPProbe struct {
	URL     string          `yaml:"url"`
	Status  StatusCodes     `yaml:"status"` // default 200-399
	Body    string          `yaml:"body"`
	Timeout config.Duration `yaml:"timeout" check:"positive"`

	accept []codeRange // Status, read by Validate
}

// TCPProbe connects to an address, as the host sees it.
type TCPProbe struct {
	Address string          `yaml:"address"`
	Timeout config.Duration `yaml:"timeout" check:"positive"`
}

// StatusCodes is `status:`, one entry or a list: codes (401) and ranges ("200-399").
type StatusCodes []string

// UnmarshalYAML accepts a scalar or a list of them.
func (s *StatusCodes) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind == yaml.ScalarNode {
		*s = StatusCodes{node.Value}
		return nil
	}
	var list []string
	if err := node.Decode(&list); err != nil {
		return fmt.Errorf("line %d: status is a code, a range like \"200-399\" or a list of them", node.Line)
	}
	*s = list
	return nil
}

type codeRange struct{ from, to int }

const (
	defaultProbeTimeout = 5 * time.Second
	// probesAtOnce bounds the probes running at once on one host.
	probesAtOnce = 4
	// maxProbeBody is how much of an answer's body a probe reads for its text.
	maxProbeBody = 64 << 10
)

var defaultAccept = []codeRange{{200, 399}}

// validate checks the service's health block and fills its defaults; key is
// the service's key.
func (h *HealthConfig) validate(key string) (errs []error) {
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	key += ".health"
	switch {
	case h == nil || h.HTTP == nil && h.TCP == nil:
		bad(key, "empty; give http: {url: ...} or tcp: {address: host:port}")
		return errs
	case h.HTTP != nil && h.TCP != nil:
		bad(key, "has both http and tcp; a service has one probe, keep one of them")
		return errs
	}
	if p := h.HTTP; p != nil {
		key := key + ".http"
		if p.URL == "" {
			bad(key+".url", "required: the URL as the host sees it, e.g. http://127.0.0.1:8080/health")
		} else if u, err := url.Parse(p.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(key+".url", "%q is not an http:// or https:// URL with a host, e.g. http://127.0.0.1:8080/health", p.URL)
		} else if port := u.Port(); port != "" && !validPort(port) {
			bad(key+".url", "%q: port %q is not a port number (1-65535)", p.URL, port)
		}
		p.accept = nil
		for i, code := range p.Status {
			r, ok := parseCodeRange(code)
			if !ok {
				bad(fmt.Sprintf("%s.status[%d]", key, i), "%q is not a status code (100-599) or a range like \"200-399\"", code)
				continue
			}
			p.accept = append(p.accept, r)
		}
		if len(p.Status) == 0 {
			p.accept = defaultAccept
		}
		if p.Timeout.Duration <= 0 {
			p.Timeout.Duration = defaultProbeTimeout
		}
	}
	if p := h.TCP; p != nil {
		key := key + ".tcp"
		if p.Address == "" {
			bad(key+".address", "required: host:port as the host sees it, e.g. 127.0.0.1:5432")
		} else if host, port, err := net.SplitHostPort(p.Address); err != nil || host == "" || !validPort(port) {
			bad(key+".address", "%q is not host:port, e.g. 127.0.0.1:5432", p.Address)
		}
		if p.Timeout.Duration <= 0 {
			p.Timeout.Duration = defaultProbeTimeout
		}
	}
	return errs
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

func parseCodeRange(s string) (codeRange, bool) {
	code := func(s string) (int, bool) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		return n, err == nil && n >= 100 && n <= 599
	}
	from, to, isRange := strings.Cut(s, "-")
	a, ok := code(from)
	if !ok {
		return codeRange{}, false
	}
	if !isRange {
		return codeRange{a, a}, true
	}
	b, ok := code(to)
	if !ok || b < a {
		return codeRange{}, false
	}
	return codeRange{a, b}, true
}

// accepts says whether a status code is one the probe takes for healthy.
func (p *HTTPProbe) accepts(code int) bool {
	accept := p.accept
	if len(accept) == 0 {
		accept = defaultAccept
	}
	for _, r := range accept {
		if code >= r.from && code <= r.to {
			return true
		}
	}
	return false
}

// ProbeResult is what a service's health probe got.
type ProbeResult struct {
	Target  string // the URL (its password hidden) or "tcp HOST:PORT"
	OK      bool
	Answer  string // "HTTP 401", "connection refused", "no answer within 5s", ...
	Latency time.Duration
}

// String is the probe's answer as an alert or !status shows it.
func (p ProbeResult) String() string {
	if strings.HasPrefix(p.Answer, "no answer within ") {
		return p.Target + ": " + p.Answer // the wait is the timeout, said once
	}
	return fmt.Sprintf("%s: %s after %s", p.Target, p.Answer, p.Took())
}

// Took is how long the probe took, as people say it: 12ms, 5s.
func (p ProbeResult) Took() string { return roundWait(p.Latency) }

// dialer opens a TCP connection from the host: a direct-tcpip channel on its
// SSH connection.
type dialer func(ctx context.Context, addr string) (net.Conn, error)

// dialer dials from the host over its pooled connection. sshd's MaxSessions
// counts session channels only, not forwarding ones, so a probe does not wait
// in the host's session queue; probesAtOnce bounds them instead.
func (c *conn) dialer(ctx context.Context) (dialer, error) {
	client, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		return client.DialContext(ctx, "tcp", addr)
	}, nil
}

// target is what the probe asks, as messages name it.
func (h *HealthConfig) target() string {
	if h.HTTP != nil {
		return h.HTTP.target()
	}
	return h.TCP.target()
}

func (p *HTTPProbe) target() string {
	if u, err := url.Parse(p.URL); err == nil {
		return u.Redacted()
	}
	return p.URL
}

func (p *TCPProbe) target() string { return "tcp " + p.Address }

// run probes once, within the probe's timeout.
func (h *HealthConfig) run(ctx context.Context, dial dialer) ProbeResult {
	if h.HTTP != nil {
		return h.HTTP.run(ctx, dial)
	}
	return h.TCP.run(ctx, dial)
}

func (p *TCPProbe) run(ctx context.Context, dial dialer) ProbeResult {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout.Duration)
	defer cancel()
	start := time.Now()
	res := ProbeResult{Target: p.target()}
	nc, err := dial(ctx, p.Address)
	res.Latency = time.Since(start)
	if err != nil {
		res.Answer = probeError(ctx, err, p.Timeout.Duration)
		return res
	}
	_ = nc.Close()
	res.OK, res.Answer = true, "connected"
	return res
}

func (p *HTTPProbe) run(ctx context.Context, dial dialer) ProbeResult {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout.Duration)
	defer cancel()
	res := ProbeResult{Target: p.target()}
	client := &http.Client{
		Transport: &http.Transport{
			// Never a proxy from opsroom's environment: the request leaves from the host.
			Proxy:             nil,
			DialContext:       func(ctx context.Context, _, addr string) (net.Conn, error) { return dial(ctx, addr) },
			DisableKeepAlives: true,
		},
		// A redirect is an answer (3xx), not a place to go.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		res.Answer = err.Error()
		return res
	}
	req.Header.Set("User-Agent", "opsroom health probe")
	resp, err := client.Do(req)
	if err != nil {
		res.Latency = time.Since(start)
		res.Answer = probeError(ctx, err, p.Timeout.Duration)
		return res
	}
	defer resp.Body.Close()
	res.Answer = "HTTP " + strconv.Itoa(resp.StatusCode)
	res.OK = p.accepts(resp.StatusCode)
	if p.Body != "" {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
		switch {
		case err != nil:
			res.OK = false
			res.Answer += ", reading the body: " + probeError(ctx, err, p.Timeout.Duration)
		case !strings.Contains(string(body), p.Body):
			res.OK = false
			res.Answer += fmt.Sprintf(", body without %q", p.Body)
		}
	}
	res.Latency = time.Since(start)
	if !res.OK && !p.accepts(resp.StatusCode) {
		res.Answer += " (want " + p.Status.String() + ")"
	}
	return res
}

// String lists the accepted codes as the config gives them.
func (s StatusCodes) String() string {
	if len(s) == 0 {
		return "200-399"
	}
	return strings.Join(s, ", ")
}

// probeError says why a probe got no answer, in a few words.
func probeError(ctx context.Context, err error, timeout time.Duration) string {
	var open *ssh.OpenChannelError
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return "no answer within " + roundWait(timeout)
	case errors.As(err, &open) && open.Reason == ssh.Prohibited:
		return fmt.Sprintf("the host's sshd refused to connect to it (%s); allow TCP forwarding for opsroom's user (AllowTcpForwarding yes or local)", open.Message)
	case errors.As(err, &open):
		return "the host could not connect: " + open.Message
	}
	return err.Error()
}

// runProbes runs the health probes of the services the engine found
// running, at most probesAtOnce at a time, and marks those whose probe fails
// unhealthy. statuses[i] is services[i]'s.
func (f *Fleet) runProbes(ctx context.Context, host string, services []*ServiceConfig, statuses []Status) {
	var todo []int
	for i, s := range services {
		if s.Health != nil && statuses[i].State == StateRunning {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return
	}
	dial, err := f.now().conns[host].dialer(ctx)
	if err != nil {
		for _, i := range todo {
			r := ProbeResult{Target: services[i].Health.target(), Answer: "no connection to the host: " + err.Error()}
			statuses[i].Probe = &r
			statuses[i].State = StateUnhealthy
		}
		return
	}
	slots := make(chan struct{}, probesAtOnce)
	var wg sync.WaitGroup
	for _, i := range todo {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			r := services[i].Health.run(ctx, dial)
			statuses[i].Probe = &r
			if !r.OK {
				statuses[i].State = StateUnhealthy
			}
		})
	}
	wg.Wait()
}
