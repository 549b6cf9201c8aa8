package ops

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// podmanBackend operates containers and compose services on a host whose
// engine is podman. Its CLI takes docker's commands; what differs is what it
// writes back (podman 4.3, as the test world's host has it):
//
//   - inspect's .Name has no leading slash, and its times are Go's
//     time.Time String ("2026-12-02 10:34:45.061249243 +0000 UTC"), not RFC 3339;
//   - a missing container is "no such container NAME" on stderr, with exit
//     125, and the containers that exist still have their lines;
//   - it has no restarting: a container under a restart policy is running
//     again at once, with RestartCount climbing, which is how a crash loop
//     shows; between an exit and podman's cleanup (which restarts it, or
//     makes it exited) it is "stopped", read as restarting;
//   - an event is {"Name": …, "Status": "died"|"start"|…}, and every run of a
//     health check is an exec_died and a health_status event, changed or not;
//   - there is no daemon to be down: what fails is the CLI itself (missing,
//     or its storage or user namespace broken), and then it names no container.
//
// With run_as, every command is the owner's own rootless podman: its
// containers, its storage under ~/.local/share/containers.
type podmanBackend struct {
	compose string // the host's compose command, for compose services' start
}

var _ backend = podmanBackend{}

var podmanCLI = containerCLI{command: "podman", engine: "Podman", parseTime: parsePodmanTime}

func (podmanBackend) name() string                   { return podmanCLI.engine }
func (podmanBackend) noun() string                   { return "container" }
func (podmanBackend) object(s *ServiceConfig) string { return s.Container }

func (b podmanBackend) probeCommand(services []*ServiceConfig) string {
	return podmanCLI.inspectCommand(objects(b, services))
}

func (b podmanBackend) parseProbe(host string, services []*ServiceConfig, res RunResult) (map[string]Status, error) {
	engineDown := &EngineError{Host: host, Engine: podmanCLI.engine, Output: res.Stderr + res.Stdout}
	if res.ExitCode == 127 || strings.Contains(res.Stderr, "podman: command not found") {
		return nil, engineDown
	}
	containers := objects(b, services)
	if res.ExitCode != 0 && !podmanCLI.namesAny(containers, res.Stdout, res.Stderr) {
		// A failed inspect that says nothing of any container is podman itself failing.
		return nil, engineDown
	}
	return podmanCLI.parseInspect(containers, res.Stdout, res.Stderr), nil
}

// namesAny says whether an inspect's output has a line of a container, or
// says that one does not exist.
func (c containerCLI) namesAny(containers []string, stdout, stderr string) bool {
	for _, line := range strings.Split(stdout, "\n") {
		if name, _ := c.parseInspectLine(strings.TrimSpace(line)); name != "" {
			return true
		}
	}
	return slices.ContainsFunc(containers, func(name string) bool { return missing(stderr, name) })
}

// parsePodmanTime reads the time.Time String podman's inspect templates
// write; the zero time ("0001-01-01 00:00:00 +0000 UTC") is never. A time
// still carrying Go's monotonic reading (" m=+1.5") is read without it. The
// zone's name after the offset is not read: the offset says when, and a
// zone named by its offset as tzdata names Iran's or Nepal's ("+0330
// +0330"), or not named at all, is no name time.Parse reads.
func parsePodmanTime(s string) (time.Time, error) {
	if i := strings.Index(s, " m="); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, ' '); i >= 0 {
		s = s[:i]
	}
	t, err := time.Parse("2006-01-02 15:04:05.999999999 -0700", s)
	if err != nil {
		return time.Time{}, err
	}
	if t.Year() <= 1 {
		return time.Time{}, nil
	}
	return t, nil
}

func (b podmanBackend) actionCommand(s *ServiceConfig, action string, lines int) string {
	return podmanCLI.actionCommand(b.compose, s, action, lines)
}

func (podmanBackend) healthLogCommand(s *ServiceConfig) string {
	return podmanCLI.healthLogCommand(s.Container)
}

func (b podmanBackend) eventsCommand(services []*ServiceConfig) string {
	return podmanCLI.eventsCommand(objects(b, services))
}

// parseEvent reads a line of `podman events --format '{{json .}}'`.
func (podmanBackend) parseEvent(line []byte) (object string, relevant, died bool) {
	var ev struct {
		Name   string `json:"Name"`
		Status string `json:"Status"`
		Health string `json:"health_status"`
	}
	if json.Unmarshal(line, &ev) != nil || ev.Name == "" {
		return "", false, false
	}
	return ev.Name, relevantPodmanStatus(ev.Status, ev.Health), ev.Status == "died"
}

// relevantPodmanStatus says whether a podman event can change what a probe
// sees. podman reports every health check, not only a change: only a failing
// one wakes the watcher (a recovery is seen at the next probe), or a
// container checked every second would be probed every second. What podman
// does around a start or an exit (init, mount, unmount) is followed
// by the start or died that matters, but for cleanup: after it, a died
// container is exited or running again, no longer stopped.
func relevantPodmanStatus(status, health string) bool {
	switch status {
	case "health_status":
		return health == "unhealthy"
	case "init", "mount", "unmount", "sync", "exec", "exec_died", "attach", "kill",
		"checkpoint", "export", "import", "commit", "copy", "rename":
		return false
	}
	return true
}

func (b podmanBackend) preflight(services []*ServiceConfig) []hostCheck {
	return containerPreflight(EnginePodman, b.compose, services)
}

// composeUp is the compose command's up of an update: podman-compose 1.0
// never recreates a container that exists (its `podman run` fails on the
// name, and it starts the old container instead), so the new image would not
// run without --force-recreate, which stops and removes the service's
// container first.
func (podmanBackend) composeUp() string { return "up -d --force-recreate" }

// composeOutcome reads a compose command's result as podman-compose 1.0
// leaves it: it exits 0 whatever the podman commands it runs do, printing
// each (`podman build -t …`) and then `exit code: N` on stdout. The first
// that failed and mattered is the result's exit code, with a line on stderr
// that names it. What does not matter: a stop or rm of a container that is
// not there (--force-recreate's), and a `podman run` that failed on an
// existing container that the `podman start` after it started.
func (podmanBackend) composeOutcome(res RunResult) RunResult {
	if res.ExitCode != 0 {
		return res
	}
	type ran struct {
		command string
		code    int
	}
	var runs []ran
	command := ""
	for _, line := range strings.Split(res.Stdout+"\n"+res.Stderr, "\n") {
		line = strings.TrimSpace(line)
		if code, ok := strings.CutPrefix(line, "exit code: "); ok {
			if n, err := strconv.Atoi(code); err == nil && command != "" {
				runs = append(runs, ran{command, n})
				command = ""
			}
			continue
		}
		if podmanVerb(line) != "" {
			command = line
		}
	}
	for i, r := range runs {
		if r.code == 0 {
			continue
		}
		switch podmanVerb(r.command) {
		case "stop", "rm":
			continue
		case "run":
			if i+1 < len(runs) && podmanVerb(runs[i+1].command) == "start" && runs[i+1].code == 0 {
				continue
			}
		}
		res.ExitCode = r.code
		shown := r.command
		if len(shown) > 120 {
			shown = strings.ToValidUTF8(shown[:120], "") + "…"
		}
		res.Stderr = strings.TrimRight(res.Stderr, "\n") + "\n" +
			fmt.Sprintf("opsroom: the compose command exited 0, but its `%s` exited %d", shown, r.code)
		res.Stderr = strings.TrimLeft(res.Stderr, "\n")
		return res
	}
	return res
}

// podmanVerb is the podman command a line of podman-compose's output shows
// it running ("podman build -t …" is build), or "" if the line is no such command.
func podmanVerb(line string) string {
	f := strings.Fields(line)
	if len(f) < 2 || (f[0] != "podman" && !strings.HasSuffix(f[0], "/podman")) {
		return ""
	}
	for _, w := range f[1:] {
		if !strings.HasPrefix(w, "-") {
			return w
		}
	}
	return ""
}

// actionOutcome: a compose service starts through the compose command (see composeOutcome).
func (b podmanBackend) actionOutcome(s *ServiceConfig, action string, res RunResult) RunResult {
	if s.Kind == KindCompose && action == "start" {
		return b.composeOutcome(res)
	}
	return res
}
