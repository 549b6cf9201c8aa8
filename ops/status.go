package ops

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// State is what opsroom reports a service as.
type State string

const (
	StateRunning     State = "running"
	StateRestarting  State = "restarting"
	StateExited      State = "exited"
	StateNotDeployed State = "not-deployed"
	StateUnhealthy   State = "unhealthy"
	StateUnreachable State = "unreachable"
	StateUnknown     State = "unknown"
)

// Status is one service's state as one probe saw it.
type Status struct {
	Service, Host, Container string
	Kind                     Kind
	State                    State
	DockerStatus             string // docker's own word: running, exited, dead, created, paused, restarting, removing
	StartedAt                time.Time
	FinishedAt               time.Time
	RestartCount             int
	Health                   string // "", healthy, unhealthy, starting
	ExitCode                 int
	Image                    string
	Commit                   string       // compose: the deployed commit
	Probe                    *ProbeResult // the health probe's answer, when the service has one and runs
	Raw                      string       // output that could not be parsed
	Err                      error        // why unreachable or unknown
}

// inspectFormat is the one line per container that a status probe asks docker for.
const inspectFormat = `{{.Name}}|{{.State.Status}}|{{.State.StartedAt}}|{{.State.FinishedAt}}|{{.RestartCount}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}|{{.State.ExitCode}}|{{.Config.Image}}`

const inspectFields = 8

// parseInspect reads the output of one batched `docker inspect` for the given
// containers: a line for each that exists, and on stderr a "No such object"
// (or "No such container") line for each that does not.
func parseInspect(containers []string, stdout, stderr string) map[string]Status {
	out := make(map[string]Status, len(containers))
	for _, line := range strings.Split(stdout, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, st := parseInspectLine(line)
		if name != "" {
			out[name] = st
		}
	}
	for _, c := range containers {
		if _, ok := out[c]; ok {
			continue
		}
		if missing(stderr, c) {
			out[c] = Status{Container: c, State: StateNotDeployed}
			continue
		}
		raw := strings.TrimSpace(stdout + "\n" + stderr)
		out[c] = Status{Container: c, State: StateUnknown, Raw: raw, Err: fmt.Errorf("docker inspect gave no line for container %q", c)}
	}
	return out
}

func missing(stderr, container string) bool {
	for _, line := range strings.Split(stderr, "\n") {
		if (strings.Contains(line, "No such object") || strings.Contains(line, "No such container")) &&
			strings.HasSuffix(strings.TrimSpace(line), container) {
			return true
		}
	}
	return false
}

func parseInspectLine(line string) (string, Status) {
	f := strings.Split(line, "|")
	if len(f) != inspectFields || !strings.HasPrefix(f[0], "/") {
		return "", Status{}
	}
	name := strings.TrimPrefix(f[0], "/")
	st := Status{Container: name, DockerStatus: f[1], Health: f[5], Image: f[7]}
	unknown := func(why string) (string, Status) {
		return name, Status{Container: name, State: StateUnknown, Raw: line, Err: fmt.Errorf("docker inspect of %q: %s", name, why)}
	}
	var err error
	if st.StartedAt, err = parseDockerTime(f[2]); err != nil {
		return unknown("bad StartedAt " + strconv.Quote(f[2]))
	}
	if st.FinishedAt, err = parseDockerTime(f[3]); err != nil {
		return unknown("bad FinishedAt " + strconv.Quote(f[3]))
	}
	if st.RestartCount, err = strconv.Atoi(f[4]); err != nil {
		return unknown("bad RestartCount " + strconv.Quote(f[4]))
	}
	if st.ExitCode, err = strconv.Atoi(f[6]); err != nil {
		return unknown("bad ExitCode " + strconv.Quote(f[6]))
	}
	switch st.DockerStatus {
	case "running":
		st.State = StateRunning
		if st.Health == "unhealthy" {
			st.State = StateUnhealthy
		}
	case "restarting":
		st.State = StateRestarting
	case "exited", "dead", "created", "paused":
		st.State = StateExited
	case "removing":
		// `docker rm -f` kills first: its die event comes while the container
		// is being removed, and that is a removal, not an exit. Should the
		// removal fail, docker calls the container dead, an exit.
		st.State = StateNotDeployed
	default:
		return unknown("unexpected State.Status " + strconv.Quote(st.DockerStatus))
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
