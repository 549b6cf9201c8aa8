package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Check is one preflight check, of a host (Service empty) or of a service,
// and how it went.
type Check struct {
	Host, Service string
	Name          string // what was checked, e.g. "remote reachable"
	OK            bool
	Detail        string // the reason, or what was found
	// seeable says that a probe sees what this check saw: a service that a
	// probe finds (running, exited) is no longer missing, and its host answers.
	seeable bool
}

// hostCheck is a check of a host's engine that a backend needs: a command,
// and what its result means.
type hostCheck struct {
	name  string
	cmd   string
	judge func(RunResult) Check
}

// prerequisitesCommand lists what the recipes need and the host lacks: bash
// and base64 carry every command (without them nothing runs at all, and the
// envelope says so), git the checkouts' recipes, the host's engine its
// containers, and setsid with --wait (util-linux 2.28 or later) the process
// groups of updates, rollbacks and the event stream.
func prerequisitesCommand(tools []string) string {
	return `missing=; for c in ` + strings.Join(tools, " ") + `; do command -v "$c" >/dev/null 2>&1 || missing="$missing $c"; done; ` +
		`setsid --wait true >/dev/null 2>&1 || missing="$missing setsid"; echo "missing:$missing"`
}

// engineVersionCommands print the version of each engine: docker's daemon,
// podman's CLI (it has no daemon).
var engineVersionCommands = map[string]string{
	EngineDocker: "docker version --format '{{.Server.Version}}'",
	EnginePodman: "podman version --format '{{.Client.Version}}'",
}

// prerequisiteNeeds says, for each prerequisite, what it is and who needs it.
var prerequisiteNeeds = map[string]string{
	"git":    "git, which updates and rollbacks run",
	"docker": "the docker CLI, which every action and probe runs",
	"podman": "the podman CLI, which every action and probe runs",
	"setsid": "setsid with --wait (util-linux 2.28 or later; BusyBox's setsid has no --wait), which !update, !rollback, !cancel and the event stream need",
}

// failure is a check failed by a command that exited non-zero: its exit code
// and the start of what it said, on one line.
func failure(res RunResult) Check {
	out := strings.TrimSpace(res.Stderr)
	if out == "" {
		out = strings.TrimSpace(res.Stdout)
	}
	out = strings.Join(strings.Fields(out), " ")
	if len(out) > 400 {
		out = strings.ToValidUTF8(out[:400], "") + "…"
	}
	return Check{Detail: fmt.Sprintf("exit %d: %s", res.ExitCode, out)}
}

// containerPreflight is what a host's container engine must do for the given
// services: answer (its version), and run the host's compose command when
// some of them are compose services.
func containerPreflight(engine, compose string, services []*ServiceConfig) []hostCheck {
	checks := []hostCheck{{name: engine + " usable", cmd: engineVersionCommands[engine], judge: func(res RunResult) Check {
		if res.ExitCode != 0 {
			return failure(res)
		}
		return Check{OK: true, Detail: "engine " + strings.TrimSpace(res.Stdout)}
	}}}
	if !slices.ContainsFunc(services, func(s *ServiceConfig) bool { return s.Kind == KindCompose }) {
		return checks
	}
	return append(checks, hostCheck{name: "compose usable", cmd: compose + " version", judge: func(res RunResult) Check {
		if res.ExitCode != 0 {
			c := failure(res)
			c.Detail = "`" + compose + " version`: " + c.Detail + " (set the host's compose_command)"
			return c
		}
		return Check{OK: true, Detail: composeVersion(res.Stdout)}
	}})
}

// Preflight checks, changing nothing, that the services can be operated as
// the config says; no names is every service. Per host (hosts concurrently):
// it connects with the pinned key and, with run_as, becomes the owner; the
// host has what the recipes need; each backend's engine answers (docker or
// podman and the compose command, systemctl and the journal). Per service:
// its container or unit exists (a compose service's may be created by
// !start); a compose checkout is a git checkout on the tracked branch, its
// remote reachable, with no changes to tracked files; a service with its own
// update steps has its directory. The checks come host by host, the host's
// own first, then its services in name order. The last run's failures show in
// every Status until a later preflight, or a probe, says otherwise.
func (f *Fleet) Preflight(ctx context.Context, names ...string) ([]Check, error) {
	services := f.now().services
	if len(names) > 0 {
		services = nil
		for _, n := range names {
			s, err := f.Lookup(n)
			if err != nil {
				return nil, err
			}
			services = append(services, s)
		}
	}
	byHost := map[string][]*ServiceConfig{}
	var hosts []string
	for _, s := range services {
		if byHost[s.Host] == nil {
			hosts = append(hosts, s.Host)
		}
		byHost[s.Host] = append(byHost[s.Host], s)
	}
	slices.Sort(hosts)
	results := make([][]Check, len(hosts))
	var wg sync.WaitGroup
	for i, host := range hosts {
		wg.Go(func() { results[i] = f.preflightHost(ctx, host, byHost[host]) })
	}
	wg.Wait()
	all := slices.Concat(results...)
	f.recordPreflight(services, all)
	return all, nil
}

// preflightHost checks one host and the given services on it.
func (f *Fleet) preflightHost(ctx context.Context, host string, services []*ServiceConfig) []Check {
	h := f.now().cfg.Hosts[host]
	hostRow := func(c Check) Check {
		c.Host = host
		return c
	}
	// The first command proves the connection and run_as, and finds what is missing.
	tools := []string{}
	if slices.ContainsFunc(services, func(s *ServiceConfig) bool { return s.Directory != "" }) {
		tools = append(tools, "git")
	}
	if slices.ContainsFunc(services, func(s *ServiceConfig) bool { return s.Kind != KindSystemd }) {
		tools = append(tools, h.Engine)
	}
	res, err := f.Run(ctx, host, prerequisitesCommand(tools))
	var shell *ShellError
	switch {
	case errors.As(err, &shell) && h.RunAs != "":
		return []Check{
			hostRow(Check{Name: "connect", OK: true, Detail: "as " + h.User + ", host key pinned", seeable: true}),
			hostRow(Check{Name: "run_as " + h.RunAs, Detail: fmt.Sprintf("sudo did not let %s act as %s (exit %d): %s; the sudoers rule it needs: %s ALL=(%s) NOPASSWD: ALL",
				h.User, h.RunAs, shell.Exit, oneLine(lastLine(shell.Output), 300), h.User, h.RunAs), seeable: true}),
		}
	case err != nil:
		return []Check{hostRow(Check{Name: "connect", Detail: oneLine(err.Error(), 500), seeable: true})}
	}
	checks := []Check{hostRow(Check{Name: "connect", OK: true, Detail: "as " + h.User + ", host key pinned", seeable: true})}
	if h.RunAs != "" {
		checks = append(checks, hostRow(Check{Name: "run_as " + h.RunAs, OK: true, Detail: "commands run as " + h.RunAs + ", through sudo", seeable: true}))
	}
	c := judgePrerequisites(res, tools)
	c.Name = "host has what opsroom needs"
	checks = append(checks, hostRow(c))

	groups := f.groupByBackend(services)
	var hostChecks []hostCheck
	for _, g := range groups {
		for _, hc := range g.backend.preflight(g.services) {
			if !slices.ContainsFunc(hostChecks, func(o hostCheck) bool { return o.name == hc.name }) {
				hostChecks = append(hostChecks, hc)
			}
		}
	}
	// Every check after the first is a command of its own, all at once; the
	// host's sessions bound how many run together.
	hostResults := make([]Check, len(hostChecks))
	found := make([]map[string]Check, len(groups))
	perService := make([][]Check, len(services))
	var wg sync.WaitGroup
	for i, hc := range hostChecks {
		wg.Go(func() { hostResults[i] = hostRow(f.runCheck(ctx, host, hc)) })
	}
	for i, g := range groups {
		wg.Go(func() { found[i] = f.existence(ctx, host, g) })
	}
	for i, s := range services {
		wg.Go(func() { perService[i] = f.checkoutChecks(ctx, s) })
	}
	wg.Wait()
	checks = append(checks, hostResults...)
	for i, s := range services {
		gi := slices.IndexFunc(groups, func(g backendGroup) bool { return slices.Contains(g.services, s) })
		exists := found[gi][s.Name]
		rows := append([]Check{exists}, perService[i]...)
		for _, r := range rows {
			r.Host, r.Service = host, s.Name
			checks = append(checks, r)
		}
	}
	return checks
}

// judgePrerequisites reads prerequisitesCommand's answer.
func judgePrerequisites(res RunResult, tools []string) Check {
	line := lastLine(res.Stdout)
	list, ok := strings.CutPrefix(line, "missing:")
	switch {
	case res.ExitCode != 0 || !ok:
		return failure(res)
	case strings.TrimSpace(list) != "":
		var missing []string
		for _, m := range strings.Fields(list) {
			missing = append(missing, prerequisiteNeeds[m])
		}
		return Check{Detail: "missing: " + strings.Join(missing, "; ")}
	}
	return Check{OK: true, Detail: strings.Join(slices.Concat([]string{"bash", "base64"}, tools, []string{"setsid --wait"}), ", ")}
}

// runCheck runs one check's command; a transport error fails the check.
func (f *Fleet) runCheck(ctx context.Context, host string, hc hostCheck) Check {
	res, err := f.Run(ctx, host, hc.cmd)
	var c Check
	if err != nil {
		c = Check{Detail: oneLine(err.Error(), 500)}
	} else {
		c = hc.judge(res)
	}
	c.Name = hc.name
	return c
}

// existence checks that each service's container or unit exists, with the
// backend's probe: one command for the group. A compose service's container
// may be missing: !start creates it from the checkout, which the checkout's
// checks test.
func (f *Fleet) existence(ctx context.Context, host string, g backendGroup) map[string]Check {
	out := make(map[string]Check, len(g.services))
	name := g.backend.noun() + " exists"
	res, err := f.Run(ctx, host, g.backend.probeCommand(g.services))
	var states map[string]Status
	if err == nil {
		states, err = g.backend.parseProbe(host, g.services, res)
	}
	for _, s := range g.services {
		object := g.backend.object(s)
		c := Check{Name: name, seeable: true}
		st := states[object]
		switch {
		case err != nil:
			c.Detail = oneLine(err.Error(), 500)
		case st.State == StateNotDeployed && s.Kind == KindCompose:
			c.OK, c.Detail = true, object+" is not created yet; !start creates it from the checkout"
		case st.State == StateNotDeployed:
			c.Detail = fmt.Sprintf("%s %s does not exist on %s", g.backend.noun(), object, host)
			if st.Native == "not-found" {
				c.Detail = fmt.Sprintf("%s does not know %s %s (LoadState not-found)", g.backend.name(), g.backend.noun(), object)
			}
		case st.State == StateUnknown:
			c.Detail = oneLine(errText(st.Err), 500)
		default:
			c.OK, c.Detail = true, object+" is "+string(st.State)
		}
		out[s.Name] = c
	}
	return out
}

// checkoutChecks are a service's checks of its directory: for the git and
// compose recipe, a git checkout on the tracked branch, remote reachable,
// no local changes; for a service with its own update steps, that its
// directory (if it names one) exists. Each is a command; the first that
// fails ends them, since the later ones would fail for the same reason.
func (f *Fleet) checkoutChecks(ctx context.Context, s *ServiceConfig) []Check {
	dir := Quote(s.Directory)
	if s.Directory == "" {
		return nil
	}
	if len(s.Update) > 0 || s.Kind != KindCompose {
		c := f.runCheck(ctx, s.Host, hostCheck{name: "directory exists", cmd: "test -d " + dir, judge: func(res RunResult) Check {
			if res.ExitCode != 0 {
				return Check{Detail: s.Directory + " is not a directory on " + s.Host}
			}
			return Check{OK: true, Detail: s.Directory}
		}})
		return []Check{c}
	}
	steps := []hostCheck{
		{name: "git checkout", cmd: "cd " + dir + " && git rev-parse --show-toplevel", judge: func(res RunResult) Check {
			out := res.Stderr + res.Stdout
			switch {
			case res.ExitCode == 0:
				return Check{OK: true, Detail: strings.TrimSpace(res.Stdout)}
			case strings.Contains(out, "No such file or directory"):
				return Check{Detail: fmt.Sprintf("%s does not exist on %s (services.%s.directory)", s.Directory, s.Host, s.Name)}
			case strings.Contains(out, "not a git repository"):
				return Check{Detail: fmt.Sprintf("%s is not a git checkout: clone the repository there", s.Directory)}
			}
			return failure(res)
		}},
		{name: "remote reachable", cmd: "git -C " + dir + " ls-remote --exit-code " + Quote(s.GitRemote) + " " + Quote("refs/heads/"+s.GitBranch),
			judge: func(res RunResult) Check {
				if res.ExitCode != 0 {
					if res.ExitCode == 2 {
						return Check{Detail: fmt.Sprintf("%s has no branch %s", s.GitRemote, s.GitBranch)}
					}
					return failure(res)
				}
				fields := strings.Fields(res.Stdout)
				if len(fields) == 0 {
					return Check{Detail: "git ls-remote succeeded but printed no commit"}
				}
				return Check{OK: true, Detail: fmt.Sprintf("%s/%s is at %s", s.GitRemote, s.GitBranch, ShortCommit(fields[0]))}
			}},
		{name: "on the tracked branch", cmd: "git -C " + dir + " symbolic-ref --short HEAD", judge: func(res RunResult) Check {
			branch := strings.TrimSpace(res.Stdout)
			switch {
			case res.ExitCode != 0:
				return failure(res)
			case branch != s.GitBranch:
				return Check{Detail: fmt.Sprintf("the checkout is on %s, not %s", branch, s.GitBranch)}
			}
			return Check{OK: true, Detail: branch}
		}},
		{name: "no local changes", cmd: "git -C " + dir + " status --porcelain --untracked-files=no", judge: func(res RunResult) Check {
			changed := strings.TrimSpace(res.Stdout)
			switch {
			case res.ExitCode != 0:
				return failure(res)
			case changed != "":
				files := strings.Split(changed, "\n")
				return Check{Detail: fmt.Sprintf("%d tracked %s changed (an update would discard them): %s",
					len(files), Plural(len(files), "file", "files"), strings.Join(files, "; "))}
			}
			return Check{OK: true, Detail: "clean"}
		}},
	}
	var checks []Check
	for _, step := range steps {
		c := f.runCheck(ctx, s.Host, step)
		checks = append(checks, c)
		if !c.OK {
			break
		}
	}
	return checks
}

// oneLine puts s on one line and keeps its first n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "nothing"
	}
	return firstBytes(s, n)
}

func errText(err error) string {
	if err == nil {
		return "the probe gave no answer for it"
	}
	return err.Error()
}

// recordPreflight keeps each checked service's first failed check, its own
// or its host's, for Status to show; a service that passed loses an earlier one.
func (f *Fleet) recordPreflight(services []*ServiceConfig, checks []Check) {
	f.preflightMu.Lock()
	defer f.preflightMu.Unlock()
	if f.preflightFailed == nil {
		f.preflightFailed = map[string]Check{}
	}
	for _, s := range services {
		delete(f.preflightFailed, s.Name)
		i := slices.IndexFunc(checks, func(c Check) bool {
			return !c.OK && c.Host == s.Host && (c.Service == "" || c.Service == s.Name)
		})
		if i >= 0 {
			f.preflightFailed[s.Name] = checks[i]
		}
	}
}

// notePreflight adds to a probe's status the service's failed preflight
// check, unless the probe sees otherwise: the host answered and the
// container or unit is there, which a failure to connect, to become the
// owner or to find the service said it was not.
func (f *Fleet) notePreflight(st *Status) {
	f.preflightMu.Lock()
	defer f.preflightMu.Unlock()
	c, ok := f.preflightFailed[st.Service]
	if !ok {
		return
	}
	switch st.State {
	case StateRunning, StateRestarting, StateExited, StateUnhealthy:
		if c.seeable {
			delete(f.preflightFailed, st.Service)
			return
		}
	}
	st.Preflight = &c
}

// composeVersion is the line of a compose command's `version` that gives its
// version: the first that names compose. docker-compose v1 goes on with the
// versions of its libraries; podman-compose 1.0 begins with podman's
// ("podman version 4.3.1", its own is "podman-composer version  1.0.3").
func composeVersion(stdout string) string {
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	for _, line := range lines {
		if strings.Contains(strings.ToLower(line), "compose") {
			return strings.Join(strings.Fields(line), " ")
		}
	}
	return strings.TrimSpace(lines[0])
}
