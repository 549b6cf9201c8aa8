package ops

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/opsroom/opsroom/internal/config"
)

// Config is the `hosts:` and `services:` sections of the config file.
type Config struct {
	Hosts    map[string]*HostConfig    `yaml:"hosts"`
	Services map[string]*ServiceConfig `yaml:"services"`
	Watch    WatchConfig               `yaml:"watch"`
	Drift    DriftConfig               `yaml:"drift"`
}

// WatchConfig is the `watch:` section: how the watcher probes and when a change is an alert.
type WatchConfig struct {
	Disabled          bool            `yaml:"disabled"`
	Interval          config.Duration `yaml:"interval" check:"positive"`
	NoEvents          bool            `yaml:"no_events"` // probe only; do not follow `docker events`
	CrashLoopRestarts int             `yaml:"crash_loop_restarts" check:"positive"`
	CrashLoopWindow   config.Duration `yaml:"crash_loop_window" check:"positive"`
	UnreachableProbes int             `yaml:"unreachable_probes" check:"positive"`
	FlapChanges       int             `yaml:"flap_changes" check:"positive"`
	FlapWindow        config.Duration `yaml:"flap_window" check:"positive"`
	LogLines          int             `yaml:"log_lines" check:"positive"`
	// GroupWindow: service alerts of one host that come within it of each
	// other are one message (default 5s; 0s: each alert its own message).
	GroupWindow *config.Duration `yaml:"group_window"`
}

// HostConfig is one machine opsroom reaches over SSH.
type HostConfig struct {
	Name               string          `yaml:"-"`
	Address            string          `yaml:"address"`
	User               string          `yaml:"user"`
	IdentityFile       string          `yaml:"identity_file"`
	IdentityPassphrase config.Secret   `yaml:"identity_passphrase"`
	UseAgent           bool            `yaml:"use_agent"`
	KnownHosts         string          `yaml:"known_hosts"`
	Jump               string          `yaml:"jump"`
	RunAs              string          `yaml:"run_as"`
	Engine             string          `yaml:"engine"` // docker or podman: what runs its compose and container services
	ComposeCommand     string          `yaml:"compose_command"`
	ConnectTimeout     config.Duration `yaml:"connect_timeout" check:"positive"`
	CommandTimeout     config.Duration `yaml:"command_timeout" check:"positive"`
	// MaxSessions bounds the SSH sessions opsroom opens at once on its
	// connection to the host, the event streams included; more
	// commands wait in line. OpenSSH allows 10 (MaxSessions).
	MaxSessions int `yaml:"max_sessions" check:"positive"`
}

// Kind says how a service is run, and so which recipes operate it.
type Kind string

const (
	KindCompose   Kind = "compose"
	KindContainer Kind = "container"
	KindSystemd   Kind = "systemd"
)

// Kinds lists every kind, as the config names them.
var Kinds = []Kind{KindCompose, KindContainer, KindSystemd}

// The engines of a host's compose and container services.
const (
	EngineDocker = "docker"
	EnginePodman = "podman"
)

var (
	defaultComposeCommand = map[string]string{EngineDocker: "docker compose", EnginePodman: "podman-compose"}
	// composeCommands are the compose commands each engine may use.
	composeCommands = map[string][]string{
		EngineDocker: {"docker compose", "docker-compose"},
		EnginePodman: {"podman-compose", "podman compose"},
	}
)

// ServiceConfig is one service users name in commands.
type ServiceConfig struct {
	Name           string          `yaml:"-"`
	Host           string          `yaml:"host"`
	Kind           Kind            `yaml:"kind"`
	Container      string          `yaml:"container"`
	Unit           string          `yaml:"unit"`      // systemd: the unit, e.g. synapse.service
	UserUnit       bool            `yaml:"user_unit"` // systemd: a unit of the run_as user's own manager (systemctl --user)
	Directory      string          `yaml:"directory"`
	ComposeService string          `yaml:"compose_service"`
	GitRemote      string          `yaml:"git_remote"`
	GitBranch      string          `yaml:"git_branch"`
	UpdateTimeout  config.Duration `yaml:"update_timeout" check:"positive"`
	// UpdateVerify, when set, is how long !update and !rollback watch the
	// service after its last stage (see Fleet.Verify); UpdateOnFailure is what
	// an update does when the service fails that watch.
	UpdateVerify    config.Duration `yaml:"update_verify" check:"positive"`
	UpdateOnFailure OnFailure       `yaml:"update_on_failure"`
	Mention         []string        `yaml:"mention"` // Matrix users its alerts mention
	// Operators, when set, are the only Matrix users (IDs or patterns) who may
	// change this service, in place of the global operators.
	Operators []string `yaml:"operators"`
	// Confirm lists the verbs that wait for a ✅ reaction before they run
	// (`confirm: true` is every verb that changes the service).
	Confirm ConfirmVerbs      `yaml:"confirm"`
	Actions map[string]string `yaml:"actions"`
	// Update and Rollback, when set, are the service's own deploy: steps run
	// in order in place of the git and compose recipe (see Step).
	Update   []Step `yaml:"update"`
	Rollback []Step `yaml:"rollback"`
	// Health is a probe opsroom runs through the host's SSH connection; a
	// running service whose probe fails is unhealthy.
	Health *HealthConfig `yaml:"health"`

	hostConfig *HostConfig // its host's config, set by the fleet
}

const (
	defaultConnectTimeout = 10 * time.Second
	defaultCommandTimeout = 60 * time.Second
	defaultUpdateTimeout  = 15 * time.Minute
	// maxMaxSessions is OpenSSH's default MaxSessions: more sessions than
	// that on one connection are refused.
	maxMaxSessions = 10
)

var (
	serviceNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	userNameRE    = regexp.MustCompile(`^[a-z_][a-z0-9_.-]*$`)
	// containerNameRE is docker's own rule for container names.
	containerNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	// unitNameRE is systemd's: letters, digits and :-_.\@, with a type suffix.
	unitNameRE = regexp.MustCompile(`^[a-zA-Z0-9:_.\\@-]+\.(service|socket|target|timer|mount|path|scope|slice)$`)
	// overridable lists the actions a service may replace, and the placeholders each takes.
	overridable = []string{"logs", "restart", "stop", "start"}
)

// Validate fills names and defaults and reports every problem at once: errors
// (refuse to start) and warnings (start anyway), each naming its key.
func (c *Config) Validate() (errs, warnings []error) {
	var p problems
	for _, name := range sortedKeys(c.Hosts) {
		c.validateHost(name, &p)
	}
	for _, cycle := range jumpCycles(c.Hosts) {
		p.bad("hosts."+cycle[0]+".jump", "jump hosts form a cycle: %s; a host must reach the others without coming back to itself",
			strings.Join(append(cycle, cycle[0]), " -> "))
	}
	e, w := c.Watch.validate()
	p.errs, p.warnings = append(p.errs, e...), append(p.warnings, w...)
	p.errs = append(p.errs, c.Drift.validate()...)
	objects := map[string]string{} // host/container or host/unit -> service
	for _, name := range sortedKeys(c.Services) {
		c.validateService(name, objects, &p)
	}
	c.validateStreamSessions(&p)
	return p.errs, p.warnings
}

// problems collects what a check of the config finds, each naming its key.
type problems struct{ errs, warnings []error }

// bad is an error: opsroom refuses to start.
func (p *problems) bad(key, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
}

// warn is a warning: opsroom starts all the same.
func (p *problems) warn(key, format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
}

// validateHost checks hosts.NAME and fills its defaults.
func (c *Config) validateHost(name string, p *problems) {
	hostNames := sortedKeys(c.Hosts)
	h := c.Hosts[name]
	key := "hosts." + name
	if h == nil {
		p.bad(key, "empty; a host needs at least address, user and known_hosts")
		return
	}
	h.Name = name
	if h.Address == "" {
		p.bad(key+".address", "required: host:port, e.g. 10.0.0.2:22")
	} else if host, port, err := net.SplitHostPort(h.Address); err != nil {
		h.Address = net.JoinHostPort(h.Address, "22")
	} else if host == "" || !validPort(port) {
		p.bad(key+".address", "%q is not host:port with a port from 1 to 65535, e.g. 10.0.0.2:22", h.Address)
	}
	if h.User == "" {
		p.bad(key+".user", "required: the SSH user, e.g. deploy")
	}
	if h.KnownHosts == "" {
		p.bad(key+".known_hosts", "required: a known_hosts file pinning the host key (ssh-keyscan -p PORT HOST >> FILE, then check the fingerprint)")
	} else {
		h.KnownHosts = config.ExpandHome(h.KnownHosts)
		if _, err := os.Stat(h.KnownHosts); err != nil {
			p.warn(key+".known_hosts", "%s does not exist on this machine; every connection to this host will be refused until it does", h.KnownHosts)
		}
	}
	if h.IdentityFile == "" && !h.UseAgent {
		p.bad(key+".identity_file", "set identity_file (a private key) or use_agent: true")
	}
	if h.IdentityFile != "" {
		h.IdentityFile = config.ExpandHome(h.IdentityFile)
		if _, err := os.Stat(h.IdentityFile); err != nil {
			p.warn(key+".identity_file", "%s does not exist on this machine", h.IdentityFile)
		}
	}
	if _, ok := c.Hosts[h.Jump]; h.Jump != "" && !ok {
		p.bad(key+".jump", "%q is not a defined host (defined: %s)", h.Jump, strings.Join(hostNames, ", "))
	}
	if h.RunAs != "" && !userNameRE.MatchString(h.RunAs) {
		p.bad(key+".run_as", "%q is not a user name (lowercase letters, digits, _ . -)", h.RunAs)
	}
	if h.Engine == "" {
		h.Engine = EngineDocker
	} else if h.Engine != EngineDocker && h.Engine != EnginePodman {
		p.bad(key+".engine", "%q is not an engine; use docker or podman", h.Engine)
	}
	if h.ComposeCommand == "" {
		h.ComposeCommand = defaultComposeCommand[h.Engine]
	} else if cmds := composeCommands[h.Engine]; cmds != nil && !slices.Contains(cmds, h.ComposeCommand) {
		p.bad(key+".compose_command", "%q is not a compose command of engine %s; use %q or %q", h.ComposeCommand, h.Engine, cmds[0], cmds[1])
	}
	if h.ConnectTimeout.Duration <= 0 {
		h.ConnectTimeout.Duration = defaultConnectTimeout
	}
	if h.CommandTimeout.Duration <= 0 {
		h.CommandTimeout.Duration = defaultCommandTimeout
	}
	switch {
	case h.MaxSessions == 0:
		h.MaxSessions = defaultMaxSessions
	case h.MaxSessions < 1 || h.MaxSessions > maxMaxSessions:
		p.bad(key+".max_sessions", "must be from 1 to %d, got %d: OpenSSH allows %d sessions per connection unless its MaxSessions says otherwise; leave it out for %d",
			maxMaxSessions, h.MaxSessions, maxMaxSessions, defaultMaxSessions)
	}
}

// validateService checks services.NAME and fills its defaults; objects holds,
// by host, the containers and units already taken.
func (c *Config) validateService(name string, objects map[string]string, p *problems) {
	hostNames := sortedKeys(c.Hosts)
	s := c.Services[name]
	key := "services." + name
	if s == nil {
		p.bad(key, "empty; a service needs host, kind and container or unit")
		return
	}
	s.Name = name
	if !serviceNameRE.MatchString(name) {
		p.bad(key, "%q is not a service name: use lowercase letters, digits and - _ . (it is typed in chat)", name)
	}
	if s.Host == "" {
		p.bad(key+".host", "required: one of the defined hosts (%s)", strings.Join(hostNames, ", "))
	} else if _, ok := c.Hosts[s.Host]; !ok {
		p.bad(key+".host", "%q is not a defined host (defined: %s)", s.Host, strings.Join(hostNames, ", "))
	}
	p.errs = append(p.errs, s.validateKind(key, objects)...)
	for i, m := range s.Mention {
		if !config.IsUserID(m) {
			p.bad(fmt.Sprintf("%s.mention[%d]", key, i), "%q is not a Matrix user ID like @alice:example.org", m)
		}
	}
	for _, verb := range s.Confirm {
		if !slices.Contains(ChangingVerbs, verb) {
			p.bad(key+".confirm", "%q is not a verb that changes a service; use true or some of %s", verb, strings.Join(ChangingVerbs, ", "))
		}
	}
	for _, action := range sortedKeys(s.Actions) {
		if !slices.Contains(overridable, action) {
			p.bad(key+".actions."+action, "not an action that can be replaced; use one of %s", strings.Join(overridable, ", "))
		} else if strings.TrimSpace(s.Actions[action]) == "" {
			p.bad(key+".actions."+action, "empty command")
		}
	}
	if s.Health != nil {
		p.errs = append(p.errs, s.Health.validate(key)...)
	}
	p.errs = append(p.errs, s.validateSteps(key)...)
	p.errs = append(p.errs, s.validateVerify(key)...)
}

// validateStreamSessions checks that each host with an event stream leaves a
// session for commands.
func (c *Config) validateStreamSessions(p *problems) {
	if c.Watch.Disabled || c.Watch.NoEvents {
		return
	}
	// The watcher follows the event stream of every host with services, in a session it keeps.
	streamed := map[string]bool{}
	for _, s := range c.Services {
		if s != nil {
			streamed[s.Host] = true
		}
	}
	for _, name := range sortedKeys(c.Hosts) {
		if h := c.Hosts[name]; h != nil && h.MaxSessions == 1 && streamed[name] {
			p.bad("hosts."+name+".max_sessions", "1 leaves no session for commands, for the watcher's event stream keeps one; use 2 or more, or set watch.no_events: true")
		}
	}
}

// validateKind checks the fields of the service's kind and fills their
// defaults; objects holds, by host, the containers and units already taken.
func (s *ServiceConfig) validateKind(key string, objects map[string]string) (errs []error) {
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	kinds := make([]string, len(Kinds))
	for i, k := range Kinds {
		kinds[i] = string(k)
	}
	taken := func(key, name string) {
		if other, dup := objects[s.Host+"/"+name]; dup {
			bad(key, "%q on host %q is already service %q", name, s.Host, other)
		} else {
			objects[s.Host+"/"+name] = s.Name
		}
	}
	switch s.Kind {
	case KindCompose, KindContainer:
		if s.Kind == KindCompose {
			if s.Directory == "" {
				bad(key+".directory", "required for kind compose: the project directory on the host")
			}
			if s.ComposeService == "" {
				bad(key+".compose_service", "required for kind compose: the service's name in the compose file")
			}
			if s.GitRemote == "" {
				s.GitRemote = "origin"
			}
			if s.GitBranch == "" {
				s.GitBranch = "master"
			}
		}
		if s.Container == "" {
			bad(key+".container", "required for kind %s: the container's name as `docker ps` shows it", s.Kind)
		} else if !containerNameRE.MatchString(s.Container) {
			bad(key+".container", "%q is not a docker container name", s.Container)
		} else {
			taken(key+".container", s.Container)
		}
		if s.Unit != "" || s.UserUnit {
			bad(key+".unit", "only for kind systemd; a %s service names its container", s.Kind)
		}
	case KindSystemd:
		if s.Unit == "" {
			bad(key+".unit", "required for kind systemd: the unit, e.g. synapse.service")
			break
		}
		unit := s.Unit
		if !strings.Contains(unit, ".") {
			unit += ".service" // as systemctl reads it
		}
		if !unitNameRE.MatchString(unit) {
			bad(key+".unit", "%q is not a systemd unit name like synapse.service", s.Unit)
		} else {
			s.Unit = unit
			taken(key+".unit", s.Unit)
		}
		if s.Container != "" {
			bad(key+".container", "only for kinds compose and container; a systemd service names its unit")
		}
	case "":
		bad(key+".kind", "required: one of %s", strings.Join(kinds, ", "))
	default:
		bad(key+".kind", "%q is not a kind; use one of %s", s.Kind, strings.Join(kinds, ", "))
	}
	if s.UpdateTimeout.Duration <= 0 {
		s.UpdateTimeout.Duration = defaultUpdateTimeout
	}
	return errs
}

// jumpCycles lists every cycle of jump hosts (a host that reaches itself
// through its jump hosts) once, each from its first host in name order.
func jumpCycles(hosts map[string]*HostConfig) [][]string {
	const onPath, seen = 1, 2
	state := map[string]int{}
	var cycles [][]string
	for _, start := range sortedKeys(hosts) {
		var path []string
		for name := start; hosts[name] != nil && state[name] != seen; name = hosts[name].Jump {
			if state[name] == onPath {
				cycle := path[slices.Index(path, name):]
				first := slices.Index(cycle, slices.Min(cycle))
				cycles = append(cycles, append(slices.Clone(cycle[first:]), cycle[:first]...))
				break
			}
			state[name] = onPath
			path = append(path, name)
		}
		for _, name := range path {
			state[name] = seen
		}
	}
	return cycles
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ChangingVerbs are the commands that change a service, which confirm: can name.
var ChangingVerbs = []string{"restart", "stop", "start", "update", "rollback"}

// ConfirmVerbs is a service's `confirm:` key: true (every changing verb), false,
// or a list of verbs.
type ConfirmVerbs []string

func (c *ConfirmVerbs) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind == yaml.ScalarNode {
		var all bool
		if err := node.Decode(&all); err != nil {
			return fmt.Errorf("line %d: confirm is true, false or a list of verbs like [update, rollback]", node.Line)
		}
		*c = nil
		if all {
			*c = slices.Clone(ChangingVerbs)
		}
		return nil
	}
	var verbs []string
	if err := node.Decode(&verbs); err != nil {
		return fmt.Errorf("line %d: confirm is true, false or a list of verbs like [update, rollback]", node.Line)
	}
	*c = verbs
	return nil
}

// Needs says whether verb waits for a confirmation.
func (c ConfirmVerbs) Needs(verb string) bool { return slices.Contains(c, verb) }

func (w *WatchConfig) validate() (errs, warnings []error) {
	positive := func(key string, v *int, def int) {
		if *v < 0 {
			errs = append(errs, fmt.Errorf("watch.%s: must be at least 1, got %d", key, *v))
		} else if *v == 0 {
			*v = def
		}
	}
	positive("crash_loop_restarts", &w.CrashLoopRestarts, 3)
	positive("unreachable_probes", &w.UnreachableProbes, 2)
	positive("log_lines", &w.LogLines, 10)
	positive("flap_changes", &w.FlapChanges, 5)
	if w.FlapWindow.Duration <= 0 {
		w.FlapWindow.Duration = 15 * time.Minute
	}
	if w.Interval.Duration <= 0 {
		w.Interval.Duration = 30 * time.Second
	}
	if w.CrashLoopWindow.Duration <= 0 {
		w.CrashLoopWindow.Duration = 10 * time.Minute
	}
	switch {
	case w.GroupWindow == nil:
		w.GroupWindow = &config.Duration{Duration: 5 * time.Second}
	case w.GroupWindow.Duration < 0:
		errs = append(errs, fmt.Errorf("watch.group_window: must be 0s (off) or more, got %s", w.GroupWindow.Duration))
	}
	if w.CrashLoopWindow.Duration < 2*w.Interval.Duration {
		warnings = append(warnings, fmt.Errorf("watch.crash_loop_window: %s is shorter than two probe intervals (%s); only `restarting` seen twice will count as a crash loop",
			w.CrashLoopWindow.Duration, w.Interval.Duration))
	}
	return errs, warnings
}
