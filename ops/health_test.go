package ops

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/opsroom/opsroom/internal/config"
)

func TestHealthConfigNamesTheKeyAndWhatWouldBeRight(t *testing.T) {
	c := parse(t, `
hosts:
  spark: {address: 10.0.0.2, user: deploy, use_agent: true, known_hosts: /nonexistent}
services:
  noprobe:   {host: spark, kind: container, container: a, health: {}}
  both:      {host: spark, kind: container, container: b, health: {http: {url: "http://127.0.0.1/"}, tcp: {address: "127.0.0.1:5432"}}}
  nourl:     {host: spark, kind: container, container: c, health: {http: {status: [200]}}}
  badurl:    {host: spark, kind: container, container: d, health: {http: {url: "127.0.0.1:8080/health"}}}
  badport:   {host: spark, kind: container, container: e, health: {http: {url: "http://127.0.0.1:99999/"}}}
  badstatus: {host: spark, kind: container, container: f, health: {http: {url: "http://127.0.0.1/", status: [200, 700, "399-200", ok]}}}
  noaddress: {host: spark, kind: container, container: g, health: {tcp: {timeout: 2s}}}
  badaddress: {host: spark, kind: container, container: h, health: {tcp: {address: "127.0.0.1"}}}
`)
	c.Watch.NoEvents = true
	errs, _ := c.Validate()
	got := joinErrs(errs)
	for _, want := range []string{
		`services.noprobe.health: empty; give http: {url: ...} or tcp: {address: host:port}`,
		`services.both.health: has both http and tcp; a service has one probe, keep one of them`,
		`services.nourl.health.http.url: required: the URL as the host sees it, e.g. http://127.0.0.1:8080/health`,
		`services.badurl.health.http.url: "127.0.0.1:8080/health" is not an http:// or https:// URL with a host`,
		`services.badport.health.http.url: "http://127.0.0.1:99999/": port "99999" is not a port number (1-65535)`,
		`services.badstatus.health.http.status[1]: "700" is not a status code (100-599) or a range like "200-399"`,
		`services.badstatus.health.http.status[2]: "399-200" is not a status code`,
		`services.badstatus.health.http.status[3]: "ok" is not a status code`,
		`services.noaddress.health.tcp.address: required: host:port as the host sees it, e.g. 127.0.0.1:5432`,
		`services.badaddress.health.tcp.address: "127.0.0.1" is not host:port, e.g. 127.0.0.1:5432`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q; got:\n%s", want, got)
		}
	}
	if n := strings.Count(got, ".health"); n != 10 {
		t.Errorf("%d health errors, want 10:\n%s", n, got)
	}
}

func TestHealthConfigDefaultsAndStatusForms(t *testing.T) {
	c := parse(t, `
hosts:
  spark: {address: 10.0.0.2, user: deploy, use_agent: true, known_hosts: /nonexistent}
services:
  maubot: {host: spark, kind: container, container: a, health: {http: {url: "http://127.0.0.1:29316/_matrix/maubot/v1/version", status: [401]}}}
  single: {host: spark, kind: container, container: b, health: {http: {url: "https://127.0.0.1/", status: 204, timeout: 2s}}}
  ranges: {host: spark, kind: container, container: c, health: {http: {url: "http://[::1]:8080/", status: ["200-299", 418]}}}
  plain:  {host: spark, kind: container, container: d, health: {http: {url: "http://localhost/"}}}
  db:     {host: spark, kind: container, container: e, health: {tcp: {address: "127.0.0.1:5432"}}}
`)
	c.Watch.NoEvents = true
	if errs, _ := c.Validate(); len(errs) > 0 {
		t.Fatal(joinErrs(errs))
	}
	for _, tc := range []struct {
		service string
		accepts []int
		refuses []int
	}{
		{"maubot", []int{401}, []int{200, 302, 500}},
		{"single", []int{204}, []int{200}},
		{"ranges", []int{200, 299, 418}, []int{300, 401}},
		{"plain", []int{200, 302, 399}, []int{401, 404, 500}},
	} {
		p := c.Services[tc.service].Health.HTTP
		for _, code := range tc.accepts {
			if !p.accepts(code) {
				t.Errorf("%s: refuses %d, want it accepted", tc.service, code)
			}
		}
		for _, code := range tc.refuses {
			if p.accepts(code) {
				t.Errorf("%s: accepts %d, want it refused", tc.service, code)
			}
		}
	}
	if got := c.Services["plain"].Health.HTTP.Timeout.Duration; got != 5*time.Second {
		t.Errorf("default http timeout %s, want 5s", got)
	}
	if got := c.Services["single"].Health.HTTP.Timeout.Duration; got != 2*time.Second {
		t.Errorf("http timeout %s, want the 2s given", got)
	}
	if got := c.Services["db"].Health.TCP.Timeout.Duration; got != 5*time.Second {
		t.Errorf("default tcp timeout %s, want 5s", got)
	}
}

// forward serves a direct-tcpip channel as sshd does: it connects to the
// address from here and copies both ways.
func (s *sessionServer) forward(nch ssh.NewChannel) {
	s.mu.Lock()
	refuse := s.noForwarding
	s.forwards++
	s.mu.Unlock()
	if refuse {
		_ = nch.Reject(ssh.Prohibited, "open failed") // sshd's words
		return
	}
	var to struct {
		Addr       string
		Port       uint32
		OriginAddr string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(nch.ExtraData(), &to); err != nil {
		_ = nch.Reject(ssh.ConnectionFailed, "bad request")
		return
	}
	nc, err := net.Dial("tcp", net.JoinHostPort(to.Addr, fmt.Sprint(to.Port)))
	if err != nil {
		_ = nch.Reject(ssh.ConnectionFailed, "Connection refused")
		return
	}
	ch, reqs, err := nch.Accept()
	if err != nil {
		_ = nc.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	go func() {
		_, _ = io.Copy(nc, ch)
		_ = nc.(*net.TCPConn).CloseWrite()
	}()
	_, _ = io.Copy(ch, nc)
	_ = ch.Close()
	_ = nc.Close()
}

// healthServer answers as the modes a probe must tell apart.
func healthServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "all good") })
	mux.HandleFunc("/401", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	mux.HandleFunc("/500", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/500", http.StatusFound) })
	mux.HandleFunc("/hang", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestProbesGoThroughTheSSHConnection: every probe is a direct-tcpip
// channel on the host's one connection, and its answer says what it got.
func TestProbesGoThroughTheSSHConnection(t *testing.T) {
	srv := startSessionServer(t, 2)
	c := newConn(srv.host(2))
	defer c.close()
	web := healthServer(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	_ = closed.Close()
	httpProbe := func(path string, status StatusCodes, body string, timeout time.Duration) *HealthConfig {
		h := &HealthConfig{HTTP: &HTTPProbe{URL: web.URL + path, Status: status, Body: body, Timeout: config.Duration{Duration: timeout}}}
		if errs := h.validate("services.x"); len(errs) > 0 {
			t.Fatal(errs)
		}
		return h
	}
	tcpProbe := func(addr string) *HealthConfig {
		h := &HealthConfig{TCP: &TCPProbe{Address: addr}}
		if errs := h.validate("services.x"); len(errs) > 0 {
			t.Fatal(errs)
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		probe  *HealthConfig
		ok     bool
		answer string
	}{
		{"200 by default", httpProbe("/ok", nil, "", time.Second), true, "HTTP 200"},
		{"401 when configured", httpProbe("/401", StatusCodes{"401"}, "", time.Second), true, "HTTP 401"},
		{"401 by default", httpProbe("/401", nil, "", time.Second), false, "HTTP 401 (want 200-399)"},
		{"500 when 401 is healthy", httpProbe("/500", StatusCodes{"401"}, "", time.Second), false, "HTTP 500 (want 401)"},
		{"a redirect is an answer", httpProbe("/moved", nil, "", time.Second), true, "HTTP 302"},
		{"the body's text", httpProbe("/ok", nil, "good", time.Second), true, "HTTP 200"},
		{"a body without the text", httpProbe("/ok", nil, "ready", time.Second), false, `HTTP 200, body without "ready"`},
		{"a hanging endpoint", httpProbe("/hang", nil, "", 300*time.Millisecond), false, "no answer within 300ms"},
		{"an open port", tcpProbe(strings.TrimPrefix(web.URL, "http://")), true, "connected"},
		{"a closed port", tcpProbe(closedAddr), false, "the host could not connect: Connection refused"},
		{"nothing listening for http", &HealthConfig{HTTP: &HTTPProbe{URL: "http://" + closedAddr + "/", Timeout: config.Duration{Duration: time.Second}}},
			false, "the host could not connect: Connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dial, err := c.dialer(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			got := tc.probe.run(context.Background(), dial)
			if got.OK != tc.ok || got.Answer != tc.answer {
				t.Errorf("got ok=%v %q, want ok=%v %q", got.OK, got.Answer, tc.ok, tc.answer)
			}
			if took := time.Since(start); got.Latency <= 0 || got.Latency > took {
				t.Errorf("latency %s, want it measured (the call took %s)", got.Latency, took)
			}
		})
	}
	if _, _, conns := srv.stats(); conns != 1 {
		t.Errorf("%d SSH connections, want every probe on the one", conns)
	}
	srv.mu.Lock()
	forwards := srv.forwards
	srv.mu.Unlock()
	if forwards < 11 {
		t.Errorf("%d direct-tcpip channels, want one per probe at least", forwards)
	}
}

func TestProbeSaysWhenTheHostForbidsForwarding(t *testing.T) {
	srv := startSessionServer(t, 2)
	srv.noForwarding = true
	c := newConn(srv.host(2))
	defer c.close()
	dial, err := c.dialer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := &HealthConfig{TCP: &TCPProbe{Address: "127.0.0.1:5432"}}
	_ = h.validate("services.db")
	got := h.run(context.Background(), dial)
	want := "the host's sshd refused to connect to it (open failed); allow TCP forwarding for opsroom's user (AllowTcpForwarding yes or local)"
	if got.OK || got.Answer != want {
		t.Errorf("got ok=%v %q, want a failure saying %q", got.OK, got.Answer, want)
	}
}

// TestRunProbesDowngradesOnlyRunningServices: the probes of running
// services run (concurrently, on one connection); a failing one makes its
// service unhealthy; a service that does not run is not probed.
func TestRunProbesDowngradesOnlyRunningServices(t *testing.T) {
	srv := startSessionServer(t, 2)
	web := healthServer(t)
	cfg := &Config{
		Hosts: map[string]*HostConfig{"local": srv.host(2)},
		Services: map[string]*ServiceConfig{
			"maubot":  {Host: "local", Kind: KindContainer, Container: "maubot", Health: &HealthConfig{HTTP: &HTTPProbe{URL: web.URL + "/401", Status: StatusCodes{"401"}}}},
			"web":     {Host: "local", Kind: KindContainer, Container: "web", Health: &HealthConfig{HTTP: &HTTPProbe{URL: web.URL + "/500"}}},
			"stopped": {Host: "local", Kind: KindContainer, Container: "stopped", Health: &HealthConfig{HTTP: &HTTPProbe{URL: web.URL + "/500"}}},
			"plain":   {Host: "local", Kind: KindContainer, Container: "plain"},
		},
	}
	cfg.Hosts["local"].KnownHosts = srv.knownHosts
	cfg.Watch.NoEvents = true
	if errs, _ := cfg.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	f, err := NewFleet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	services := f.Services() // maubot, plain, stopped, web
	statuses := []Status{{State: StateRunning}, {State: StateRunning}, {State: StateExited}, {State: StateRunning}}
	f.runProbes(context.Background(), "local", services, statuses)
	want := []struct {
		state  State
		answer string // "": not probed
	}{{StateRunning, "HTTP 401"}, {StateRunning, ""}, {StateExited, ""}, {StateUnhealthy, "HTTP 500 (want 200-399)"}}
	for i, w := range want {
		st := statuses[i]
		answer := ""
		if st.Probe != nil {
			answer = st.Probe.Answer
		}
		if st.State != w.state || answer != w.answer {
			t.Errorf("%s: %s with probe %q, want %s with probe %q", services[i].Name, st.State, answer, w.state, w.answer)
		}
	}
	if p := statuses[3].Probe; !strings.HasPrefix(p.String(), web.URL+"/500: HTTP 500 (want 200-399) after ") {
		t.Errorf("the probe's answer as an alert shows it: %q", p.String())
	}
}
