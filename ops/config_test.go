package ops

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func parse(t *testing.T, src string) *Config {
	t.Helper()
	var c Config
	if err := yaml.Unmarshal([]byte(src), &c); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	return &c
}

func TestValidateNamesEveryKeyAndWhatWouldBeRight(t *testing.T) {
	c := parse(t, `
hosts:
  spark:
    address: 10.0.0.2
    user: deploy
    identity_file: /nonexistent/key
    known_hosts: /nonexistent/known_hosts
    jump: nowhere
    run_as: "root; id"
    compose_command: podman-compose
  bare: {}
services:
  bridge:
    host: spork
    kind: compose
    container: bridge-1
  Bad_Name:
    host: spark
    kind: container
    container: x
  weird:
    host: spark
    kind: vm
  unitless:
    host: spark
    kind: systemd
  mixed:
    host: spark
    kind: systemd
    unit: "bad unit"
    container: y
  both:
    host: spark
    kind: container
    container: z
    unit: z.service
  dup:
    host: spark
    kind: container
    container: x
    actions:
      deploy: make deploy
`)
	errs, warnings := c.Validate()
	got := joinErrs(errs)
	for _, want := range []string{
		`hosts.spark.jump: "nowhere" is not a defined host (defined: bare, spark)`,
		`hosts.spark.run_as: "root; id" is not a user name`,
		`hosts.spark.compose_command: "podman-compose" is not a compose command of engine docker; use "docker compose" or "docker-compose"`,
		`hosts.bare.address: required`,
		`hosts.bare.user: required`,
		`hosts.bare.known_hosts: required`,
		`hosts.bare.identity_file: set identity_file (a private key) or use_agent: true`,
		`services.bridge.host: "spork" is not a defined host (defined: bare, spark)`,
		`services.bridge.directory: required for kind compose`,
		`services.bridge.compose_service: required for kind compose`,
		`services.Bad_Name: "Bad_Name" is not a service name`,
		`services.weird.kind: "vm" is not a kind; use one of compose, container, systemd`,
		`services.unitless.unit: required for kind systemd: the unit, e.g. synapse.service`,
		`services.mixed.unit: "bad unit" is not a systemd unit name like synapse.service`,
		`services.mixed.container: only for kinds compose and container; a systemd service names its unit`,
		`services.both.unit: only for kind systemd; a container service names its container`,
		`services.dup.container: "x" on host "spark" is already service "Bad_Name"`,
		`services.dup.actions.deploy: not an action that can be replaced; use one of logs, restart, stop, start`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q; got:\n%s", want, got)
		}
	}
	if w := joinErrs(warnings); !strings.Contains(w, "hosts.spark.known_hosts: /nonexistent/known_hosts does not exist") {
		t.Errorf("missing files must be warnings; got:\n%s", w)
	}
	if c.Hosts["spark"].Address != "10.0.0.2:22" {
		t.Errorf("address without port: %q, want port 22 added", c.Hosts["spark"].Address)
	}
}

func TestValidateFillsDefaults(t *testing.T) {
	c := parse(t, `
hosts:
  h: {address: "127.0.0.1:2222", user: u, use_agent: true, known_hosts: /k}
services:
  s: {host: h, kind: compose, directory: /srv/s, compose_service: s, container: s-1}
`)
	if errs, _ := c.Validate(); len(errs) > 0 {
		t.Fatalf("valid config refused: %v", errs)
	}
	h, s := c.Hosts["h"], c.Services["s"]
	if h.Name != "h" || s.Name != "s" || h.ComposeCommand != "docker compose" || h.ConnectTimeout.Seconds() != 10 ||
		h.CommandTimeout.Seconds() != 60 || s.GitRemote != "origin" || s.GitBranch != "master" {
		t.Errorf("defaults not filled: host %+v service %+v", h, s)
	}
}

func joinErrs(errs []error) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString(e.Error() + "\n")
	}
	return b.String()
}

func TestValidateRefusesJumpCyclesNamingEveryHost(t *testing.T) {
	for _, tc := range []struct {
		name  string
		jumps map[string]string // host -> its jump host
		want  []string          // the cycle errors, all of them
	}{
		{"self", map[string]string{"a": "a"},
			[]string{"hosts.a.jump: jump hosts form a cycle: a -> a; a host must reach the others without coming back to itself"}},
		{"two", map[string]string{"a": "b", "b": "a"},
			[]string{"hosts.a.jump: jump hosts form a cycle: a -> b -> a; a host must reach the others without coming back to itself"}},
		{"three, entered from outside", map[string]string{"edge": "c", "c": "a", "a": "b", "b": "c"},
			[]string{"hosts.a.jump: jump hosts form a cycle: a -> b -> c -> a; a host must reach the others without coming back to itself"}},
		{"two cycles", map[string]string{"a": "b", "b": "a", "x": "x"},
			[]string{"hosts.a.jump: jump hosts form a cycle: a -> b -> a;", "hosts.x.jump: jump hosts form a cycle: x -> x;"}},
		{"chain", map[string]string{"a": "b", "b": "c", "c": ""}, nil},
		{"two through one", map[string]string{"a": "c", "b": "c", "c": ""}, nil},
		{"undefined jump host", map[string]string{"a": "nowhere"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// given hosts that jump through each other
			c := &Config{Hosts: map[string]*HostConfig{}}
			for name, jump := range tc.jumps {
				c.Hosts[name] = &HostConfig{Address: "10.0.0.1", User: "deploy", UseAgent: true, KnownHosts: "/k", Jump: jump}
			}
			// when validated
			errs, _ := c.Validate()
			// then each cycle is one error, naming its hosts in order
			var cycles []string
			for _, err := range errs {
				if strings.Contains(err.Error(), "cycle") {
					cycles = append(cycles, err.Error())
				}
			}
			if len(cycles) != len(tc.want) {
				t.Fatalf("cycle errors %q, want %d: %q", cycles, len(tc.want), tc.want)
			}
			for i, want := range tc.want {
				if !strings.HasPrefix(cycles[i], want) {
					t.Errorf("error %q, want %q", cycles[i], want)
				}
			}
			if tc.want == nil && tc.name != "undefined jump host" && len(errs) > 0 {
				t.Errorf("a config without cycles refused: %v", errs)
			}
		})
	}
}

func TestValidateMaxSessions(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want string // the error, or "" for none
		max  int    // the value after validation
	}{
		{"", "", 8},
		{"max_sessions: 1, ", "", 1},
		{"max_sessions: 10, ", "", 10},
		{"max_sessions: 11, ", "hosts.h.max_sessions: must be from 1 to 10, got 11: OpenSSH allows 10 sessions per connection unless its MaxSessions says otherwise; leave it out for 8", 11},
		{"max_sessions: -2, ", "hosts.h.max_sessions: must be from 1 to 10, got -2", -2},
	} {
		c := parse(t, `
hosts:
  h: {`+tc.src+`address: "127.0.0.1:2222", user: u, use_agent: true, known_hosts: /k}
watch: {no_events: true}
`)
		errs, _ := c.Validate()
		got := joinErrs(errs)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%q: errors %q, want %q", tc.src, got, tc.want)
		}
		if c.Hosts["h"].MaxSessions != tc.max {
			t.Errorf("%q: max_sessions %d, want %d", tc.src, c.Hosts["h"].MaxSessions, tc.max)
		}
	}
}

// TestValidateMaxSessionsLeavesOneForCommands: the watcher's event stream
// keeps one session of every host with services; with max_sessions 1 no
// command would ever run there.
func TestValidateMaxSessionsLeavesOneForCommands(t *testing.T) {
	const hosts = `
hosts:
  h: {max_sessions: 1, address: "127.0.0.1:2222", user: u, use_agent: true, known_hosts: /k}
  idle: {max_sessions: 1, address: "127.0.0.1:2223", user: u, use_agent: true, known_hosts: /k}
services:
  s: {host: h, kind: container, container: s-1}
`
	errs, _ := parse(t, hosts).Validate()
	want := "hosts.h.max_sessions: 1 leaves no session for commands, for the watcher's event stream keeps one; use 2 or more, or set watch.no_events: true"
	if got := joinErrs(errs); got != want+"\n" {
		t.Errorf("errors:\n%s\nwant only:\n%s", got, want)
	}
	for _, watch := range []string{"watch: {no_events: true}", "watch: {disabled: true}"} {
		if errs, _ := parse(t, hosts+watch).Validate(); len(errs) > 0 {
			t.Errorf("%s: %v, want no error (no event stream)", watch, errs)
		}
	}
}
