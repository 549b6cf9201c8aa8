package ops

import (
	"context"
	"fmt"
	"strings"
)

// Check is one preflight check of a service and how it went.
type Check struct {
	Name   string // what was checked, e.g. "remote reachable"
	OK     bool
	Detail string // the reason, or what was found
}

// prerequisitesCommand lists what the recipes need and the host lacks: bash
// and base64 carry every command (without them nothing runs at all, and the
// envelope says so), git and the host's engine the recipes, and setsid with --wait
// (util-linux 2.28 or later) the process groups of updates, rollbacks and the
// event stream.
func prerequisitesCommand(engine string) string {
	return `missing=; for c in git ` + engine + `; do command -v "$c" >/dev/null 2>&1 || missing="$missing $c"; done; ` +
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

// Check runs the preflight of an update without changing anything: the host
// has what the recipes need, the remote answers, the checkout is on the
// tracked branch with no changes to tracked files, and the host's engine
// (docker or podman) and the compose command are usable by the user.
func (f *Fleet) Check(ctx context.Context, service string) ([]Check, error) {
	s, err := f.Lookup(service)
	if err != nil {
		return nil, err
	}
	if len(s.Update) > 0 {
		return nil, fmt.Errorf("%s updates with its own steps (services.%s.update), which the preflight does not know: it checks the git and compose recipe only", s.Name, s.Name)
	}
	if s.Kind != KindCompose {
		return nil, fmt.Errorf("%s is a %s service: only compose services are updated, so there is nothing to check", s.Name, s.Kind)
	}
	dir := Quote(s.Directory)
	var checks []Check
	// Each check is one command; the first transport error ends the preflight,
	// since every later check would fail the same way.
	step := func(name, cmd string, judge func(RunResult) Check) error {
		res, err := f.Run(ctx, s.Host, cmd)
		if err != nil {
			return err
		}
		c := judge(res)
		c.Name = name
		checks = append(checks, c)
		return nil
	}
	failure := func(res RunResult) Check {
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
	engine := f.cfg.Hosts[s.Host].Engine
	err = step("host has what opsroom needs", prerequisitesCommand(engine), func(res RunResult) Check {
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
		return Check{OK: true, Detail: "bash, base64, git, " + engine + ", setsid --wait"}
	})
	if err == nil {
		err = step("remote reachable", "git -C "+dir+" ls-remote --exit-code "+Quote(s.GitRemote)+" "+Quote("refs/heads/"+s.GitBranch),
			func(res RunResult) Check {
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
			})
	}
	if err == nil {
		err = step("on the tracked branch", "git -C "+dir+" symbolic-ref --short HEAD", func(res RunResult) Check {
			branch := strings.TrimSpace(res.Stdout)
			switch {
			case res.ExitCode != 0:
				return failure(res)
			case branch != s.GitBranch:
				return Check{Detail: fmt.Sprintf("the checkout is on %s, not %s", branch, s.GitBranch)}
			}
			return Check{OK: true, Detail: branch}
		})
	}
	if err == nil {
		err = step("no local changes", "git -C "+dir+" status --porcelain --untracked-files=no", func(res RunResult) Check {
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
		})
	}
	if err == nil {
		err = step(engine+" usable", engineVersionCommands[engine], func(res RunResult) Check {
			if res.ExitCode != 0 {
				return failure(res)
			}
			return Check{OK: true, Detail: "engine " + strings.TrimSpace(res.Stdout)}
		})
	}
	if err == nil {
		compose := f.cfg.Hosts[s.Host].ComposeCommand
		err = step("compose usable", "cd "+dir+" && "+compose+" version", func(res RunResult) Check {
			if res.ExitCode != 0 {
				c := failure(res)
				c.Detail = "`" + compose + " version`: " + c.Detail + " (set the host's compose_command)"
				return c
			}
			return Check{OK: true, Detail: composeVersion(res.Stdout)}
		})
	}
	return checks, err
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
