package ops

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dockerBackend operates containers and compose services through the docker
// CLI: one `docker inspect` probes all of a host's containers, `docker
// events` says when to probe again.
type dockerBackend struct {
	compose string // the host's compose command, for compose services' start
}

// containerCLI is what differs between the docker CLI and podman's, which
// take the same commands: the command, and how inspect writes a name and a time.
type containerCLI struct {
	command string // docker, podman
	engine  string // the backend's name: Docker, Podman
	// slashed says that inspect's .Name starts with a slash (docker's does).
	slashed bool
	// parseTime reads inspect's .State.StartedAt and .State.FinishedAt;
	// "never" is the zero time.Time.
	parseTime func(string) (time.Time, error)
}

var dockerCLI = containerCLI{command: "docker", engine: "Docker", slashed: true, parseTime: parseDockerTime}

var _ backend = dockerBackend{}

func (dockerBackend) name() string                   { return "Docker" }
func (dockerBackend) noun() string                   { return "container" }
func (dockerBackend) object(s *ServiceConfig) string { return s.Container }

func (dockerBackend) probeCommand(services []*ServiceConfig) string {
	return dockerCLI.inspectCommand(objects(dockerBackend{}, services))
}

func (dockerBackend) parseProbe(host string, services []*ServiceConfig, res RunResult) (map[string]Status, error) {
	if engineFailure(res) {
		return nil, &EngineError{Host: host, Engine: "Docker", Output: res.Stderr + res.Stdout}
	}
	return dockerCLI.parseInspect(objects(dockerBackend{}, services), res.Stdout, res.Stderr), nil
}

func (b dockerBackend) actionCommand(s *ServiceConfig, action string, lines int) string {
	return dockerCLI.actionCommand(b.compose, s, action, lines)
}

// actionCommand is the CLI's command of an action on a container; a compose
// service starts through the host's compose command, which recreates it if needed.
func (c containerCLI) actionCommand(compose string, s *ServiceConfig, action string, lines int) string {
	name := Quote(s.Container)
	switch action {
	case "logs":
		return c.command + " logs --tail " + strconv.Itoa(lines) + " " + name + " 2>&1"
	case "restart", "stop":
		return c.command + " " + action + " " + name
	case "start":
		if s.Kind == KindCompose {
			return "cd " + Quote(s.Directory) + " && " + compose + " up -d " + Quote(s.ComposeService)
		}
		return c.command + " start " + name
	}
	panic("ops: no " + c.command + " recipe for action " + action)
}

func (dockerBackend) actionOutcome(_ *ServiceConfig, _ string, res RunResult) RunResult { return res }

// composeUp recreates what changed: docker compose compares the container
// with the service's config and image.
func (dockerBackend) composeUp() string { return "up -d" }

func (dockerBackend) composeOutcome(res RunResult) RunResult { return res }

func (dockerBackend) healthLogCommand(s *ServiceConfig) string {
	return dockerCLI.healthLogCommand(s.Container)
}

func (dockerBackend) eventsCommand(services []*ServiceConfig) string {
	return dockerCLI.eventsCommand(objects(dockerBackend{}, services))
}

// parseEvent reads a line of `docker events --format '{{json .}}'`.
func (dockerBackend) parseEvent(line []byte) (object string, relevant, died bool) {
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
		return "", false, false
	}
	if ev.Action == "" {
		ev.Action = ev.Status
	}
	if ev.Action == "" {
		return "", false, false // JSON, but no event: null, {}
	}
	return ev.Actor.Attributes.Name, relevantAction(ev.Action), ev.Action == "die"
}

// inspectFormat is the one line per container that a status probe asks docker
// for; its last two fields are an exit alert's evidence.
const inspectFormat = `{{.Name}}|{{.State.Status}}|{{.State.StartedAt}}|{{.State.FinishedAt}}|{{.RestartCount}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}|{{.State.ExitCode}}|{{.Config.Image}}|{{.State.OOMKilled}}|{{.HostConfig.Memory}}`

// inspectFields is how many fields a line has; a line of the format before
// OOMKilled and Memory were added (inspectFieldsBefore) still reads.
const (
	inspectFields       = 10
	inspectFieldsBefore = 8
)

// parseInspect reads the output of one batched inspect for the given
// containers: a line for each that exists, and on stderr a "No such object"
// (or "No such container", podman's "no such container") line for each that
// does not. Other lines on stderr (podman's warnings) are no container's.
func (c containerCLI) parseInspect(containers []string, stdout, stderr string) map[string]Status {
	out := make(map[string]Status, len(containers))
	for _, line := range strings.Split(stdout, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, st := c.parseInspectLine(line)
		if name != "" {
			out[name] = st
		}
	}
	for _, name := range containers {
		if _, ok := out[name]; ok {
			continue
		}
		if missing(stderr, name) {
			out[name] = Status{State: StateNotDeployed}
			continue
		}
		raw := strings.TrimSpace(stdout + "\n" + stderr)
		out[name] = Status{State: StateUnknown, Raw: raw, Err: fmt.Errorf("%s inspect gave no line for container %q", c.command, name)}
	}
	return out
}

func missing(stderr, container string) bool {
	for _, line := range strings.Split(stderr, "\n") {
		lower := strings.ToLower(line)
		// The line's last word is the name: "my-web" ends like "web" but is another container.
		if f := strings.Fields(line); (strings.Contains(lower, "no such object") || strings.Contains(lower, "no such container")) &&
			len(f) > 0 && f[len(f)-1] == container {
			return true
		}
	}
	return false
}

func (c containerCLI) parseInspectLine(line string) (string, Status) {
	f := strings.Split(line, "|")
	if (len(f) != inspectFields && len(f) != inspectFieldsBefore) || c.slashed != strings.HasPrefix(f[0], "/") || f[0] == "" {
		return "", Status{}
	}
	name := strings.TrimPrefix(f[0], "/")
	st := Status{Native: f[1], Health: f[5], Image: f[7]}
	unknown := func(why string) (string, Status) {
		return name, Status{State: StateUnknown, Raw: line, Err: fmt.Errorf("%s inspect of %q: %s", c.command, name, why)}
	}
	var err error
	if st.StartedAt, err = c.parseTime(f[2]); err != nil {
		return unknown("bad StartedAt " + strconv.Quote(f[2]))
	}
	if st.FinishedAt, err = c.parseTime(f[3]); err != nil {
		return unknown("bad FinishedAt " + strconv.Quote(f[3]))
	}
	if st.RestartCount, err = strconv.Atoi(f[4]); err != nil {
		return unknown("bad RestartCount " + strconv.Quote(f[4]))
	}
	if st.ExitCode, err = strconv.Atoi(f[6]); err != nil {
		return unknown("bad ExitCode " + strconv.Quote(f[6]))
	}
	if len(f) == inspectFields {
		st.OOMKilled = f[8] == "true"
		// Evidence only: a limit that does not read is no limit.
		st.MemoryLimit, _ = strconv.ParseInt(f[9], 10, 64)
	}
	switch st.Native {
	case "running":
		st.State = StateRunning
		if st.Health == "unhealthy" {
			st.State = StateUnhealthy
		}
	case "restarting":
		st.State = StateRestarting
	case "stopped":
		// podman's: the process ended and podman's cleanup, which restarts it
		// under a restart policy and else makes it exited, has not run yet. A
		// moment, unless it is a crash loop that is caught between restarts.
		st.State = StateRestarting
	case "exited", "dead", "created", "paused",
		"stopping", "configured", "initialized": // the last three podman's
		st.State = StateExited
	case "removing":
		// `docker rm -f` kills first: its die event comes while the container
		// is being removed, and that is a removal, not an exit. Should the
		// removal fail, docker calls the container dead, an exit.
		st.State = StateNotDeployed
	default:
		return unknown("unexpected State.Status " + strconv.Quote(st.Native))
	}
	return name, st
}

// parseDockerTime reads docker's RFC 3339 times; docker writes the zero time
// (0001-01-01T00:00:00Z) for "never", which stays the zero time.Time.
func parseDockerTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	if t.Year() <= 1 {
		return time.Time{}, nil
	}
	return t, nil
}

// inspectCommand asks for containers only: a compose project's image is often
// named like its container, and a plain inspect would describe the image
// once the container is gone.
func (c containerCLI) inspectCommand(containers []string) string {
	return c.command + " inspect --type container -f " + Quote(inspectFormat) + " " + quoteAll(containers)
}

// healthLogCommand prints the outputs of the container's last health checks (docker keeps five).
func (c containerCLI) healthLogCommand(container string) string {
	return c.command + " inspect --type container -f " + Quote("{{with .State.Health}}{{range .Log}}{{.ExitCode}}: {{.Output}}\n{{end}}{{end}}") + " " + Quote(container)
}

// eventsCommand follows the events of the given containers, one JSON object
// per line, after a first line that says the stream is on. The CLI takes a
// moment to subscribe; --since the time the ready line was written replays
// what happened in that moment, so nothing after it is missed. podman reads
// the same format as its own `json`.
func (c containerCLI) eventsCommand(containers []string) string {
	var b strings.Builder
	b.WriteString(`since=$(date +%s.%N); echo ` + readyLine + `; exec ` + c.command + ` events --since "$since" --format '{{json .}}' --filter type=container`)
	for _, c := range containers {
		b.WriteString(" --filter container=" + Quote(c))
	}
	return b.String()
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

// engineFailure reads a failed docker command's output as the engine not
// answering, as opposed to the command failing on its own.
func engineFailure(res RunResult) bool {
	if res.ExitCode == 0 {
		return false
	}
	out := res.Stderr + res.Stdout
	for _, sign := range []string{
		"Cannot connect to the Docker daemon",
		"permission denied while trying to connect to the Docker daemon",
		"error during connect",
		"Is the docker daemon running",
		"docker: command not found",
	} {
		if strings.Contains(out, sign) {
			return true
		}
	}
	return res.ExitCode == 127
}

func (b dockerBackend) preflight(services []*ServiceConfig) []hostCheck {
	return containerPreflight(EngineDocker, b.compose, services)
}
