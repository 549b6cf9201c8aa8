package ops

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// What podman 4.3.1 (rootless, the test world's systemd host) wrote for
// `podman inspect --type container -f inspectFormat web gone made sick loop nosuch other`:
// web runs, gone exited 3, made was created and never started, sick fails its
// health check, loop was stopped after 361 restarts under --restart always.
const (
	podmanInspectStdout = `web|running|2026-12-02 10:37:10.407881398 +0000 UTC|2026-12-02 10:37:10.226826962 +0000 UTC|0||0|localhost/testsvc:dev
gone|exited|2026-12-02 10:34:53.394197715 +0000 UTC|2026-12-02 10:34:53.602821199 +0000 UTC|0||3|localhost/testsvc:dev
made|created|0001-01-01 00:00:00 +0000 UTC|0001-01-01 00:00:00 +0000 UTC|0||0|localhost/testsvc:dev
sick|running|2026-12-02 10:35:26.472920641 +0000 UTC|0001-01-01 00:00:00 +0000 UTC|0|unhealthy|0|localhost/testsvc:dev
loop|exited|2026-12-02 10:37:59.103637018 +0000 UTC|2026-12-02 10:37:59.238829029 +0000 UTC|361||0|localhost/testsvc:dev
`
	podmanInspectStderr = `error inspecting object: no such container other
Error: inspecting object: no such container nosuch
`
)

func podmanServices(names ...string) []*ServiceConfig {
	var out []*ServiceConfig
	for _, n := range names {
		out = append(out, &ServiceConfig{Name: n, Kind: KindContainer, Container: n})
	}
	return out
}

func TestPodmanProbeReadsWhatPodmanWrites(t *testing.T) {
	services := podmanServices("web", "gone", "made", "sick", "loop", "nosuch", "other")
	got, err := podmanBackend{}.parseProbe("pod", services, RunResult{ExitCode: 125, Stdout: podmanInspectStdout, Stderr: podmanInspectStderr})
	if err != nil {
		t.Fatalf("some containers missing (exit 125) is not the engine failing: %v", err)
	}
	for name, want := range map[string]State{
		"web": StateRunning, "gone": StateExited, "made": StateExited, "sick": StateUnhealthy,
		"loop": StateExited, "nosuch": StateNotDeployed, "other": StateNotDeployed,
	} {
		if got[name].State != want {
			t.Errorf("%s: %q, want %q (%+v)", name, got[name].State, want, got[name])
		}
	}
	web := got["web"]
	if want := time.Date(2026, 12, 2, 10, 37, 10, 407881398, time.UTC); !web.StartedAt.Equal(want) || web.Image != "localhost/testsvc:dev" {
		t.Errorf("web's fields not read: %+v", web)
	}
	if gone := got["gone"]; gone.ExitCode != 3 || gone.Native != "exited" || gone.FinishedAt.IsZero() {
		t.Errorf("gone's exit not kept: %+v", gone)
	}
	if made := got["made"]; !made.StartedAt.IsZero() || !made.FinishedAt.IsZero() || made.Native != "created" {
		t.Errorf("a never-started container's zero times must be the zero time: %+v", made)
	}
	if loop := got["loop"]; loop.RestartCount != 361 {
		t.Errorf("loop's RestartCount: %+v", loop)
	}
}

func TestPodmanProbeOfPodmanStates(t *testing.T) {
	for native, want := range map[string]State{
		"stopped": StateRestarting, "stopping": StateExited, "paused": StateExited, "configured": StateExited,
		"removing": StateNotDeployed, "running": StateRunning, "unknown": StateUnknown,
	} {
		line := "c|" + native + "|2026-12-02 10:37:10.407881398 +0000 UTC|0001-01-01 00:00:00 +0000 UTC|0||0|localhost/x:1"
		if got := podmanCLI.parseInspect([]string{"c"}, line, "")["c"]; got.State != want || want != StateUnknown && got.Native != native {
			t.Errorf("podman's %q: %q (%s), want %q", native, got.State, got.Native, want)
		}
	}
	// A docker line (slashed name, RFC 3339) is not podman's, nor the reverse.
	if got := podmanCLI.parseInspect([]string{"c"}, line("c", "running", "", "0", "0"), "")["c"]; got.State != StateUnknown {
		t.Errorf("a docker line read as podman's: %+v", got)
	}
	if got := dockerCLI.parseInspect([]string{"web"}, podmanInspectStdout, "")["web"]; got.State != StateUnknown {
		t.Errorf("a podman line read as docker's: %+v", got)
	}
}

func TestPodmanTimes(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2026-12-02 10:34:45.061249243 +0000 UTC":         time.Date(2026, 12, 2, 10, 34, 45, 61249243, time.UTC),
		"2026-12-02 11:34:45 +0100 CET":                   time.Date(2026, 12, 2, 10, 34, 45, 0, time.UTC),
		"2026-12-02 10:34:45.5 +0000 UTC m=+12.000000001": time.Date(2026, 12, 2, 10, 34, 45, 500000000, time.UTC),
		"0001-01-01 00:00:00 +0000 UTC":                   {},
	} {
		got, err := parsePodmanTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("parsePodmanTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parsePodmanTime("2026-12-02T10:34:45Z"); err == nil {
		t.Error("an RFC 3339 time is docker's, not podman's")
	}
}

func TestPodmanEngineDown(t *testing.T) {
	services := podmanServices("web", "db")
	for name, res := range map[string]RunResult{
		"no podman": {ExitCode: 127, Stderr: "bash: line 1: podman: command not found\n"},
		// As podman 4.3.1 says it where it may not make its user namespace (a seccomp filter).
		"no namespace": {ExitCode: 125, Stderr: "cannot clone: Operation not permitted\nError: cannot re-exec process\n"},
		"broken store": {ExitCode: 125, Stderr: "Error: creating runtime static files directory: mkdir /home/svc/.local/share/containers/storage: permission denied\n"},
		"user namespace": {ExitCode: 125, Stderr: `time="2026-12-02T10:36:09Z" level=error msg="cannot find UID/GID for user svc: no subuid ranges found for user \"svc\" in /etc/subuid"` + "\n" +
			"Error: cannot set up namespace using \"/usr/bin/newuidmap\": exit status 1\n"},
	} {
		_, err := podmanBackend{}.parseProbe("pod", services, res)
		var ee *EngineError
		if !errors.As(err, &ee) || ee.Engine != "Podman" {
			t.Errorf("%s: %v, want an EngineError of Podman", name, err)
		}
	}
	// A warning on stderr of a probe that worked is no failure.
	res := RunResult{Stdout: strings.SplitAfter(podmanInspectStdout, "\n")[0] + "db|exited|2026-12-02 10:37:10.407881398 +0000 UTC|2026-12-02 10:37:10.5 +0000 UTC|0||1|localhost/db:1\n",
		Stderr: `time="2026-12-02T10:34:12Z" level=warning msg="\"/\" is not a shared mount, this could cause issues or missing mounts with rootless containers"` + "\n"}
	got, err := podmanBackend{}.parseProbe("pod", services, res)
	if err != nil || got["web"].State != StateRunning || got["db"].State != StateExited {
		t.Errorf("a probe with a warning: %v, %+v", err, got)
	}
	// Every container missing is still podman answering.
	got, err = podmanBackend{}.parseProbe("pod", services, RunResult{ExitCode: 125,
		Stderr: "error inspecting object: no such container db\nError: inspecting object: no such container web\n"})
	if err != nil || got["web"].State != StateNotDeployed || got["db"].State != StateNotDeployed {
		t.Errorf("every container missing: %v, %+v", err, got)
	}
}

// What `podman events --format '{{json .}}'` wrote (podman 4.3.1, rootless)
// around a `podman restart web` and a failing health check of sick.
var podmanEvents = []struct {
	line              string
	relevant, died    bool
	object, statusWas string
}{
	{`{"ID":"67d6","Image":"localhost/testsvc:dev","Name":"sick","Status":"health_status","Time":"2026-12-02T10:35:26.904471222Z","Type":"container","health_status":"starting","Attributes":null}`, false, false, "sick", "health starting"},
	{`{"ContainerExitCode":1,"ID":"67d6","Image":"localhost/testsvc:dev","Name":"sick","Status":"exec_died","Time":"2026-12-02T10:35:26.930727447Z","Type":"container","Attributes":null}`, false, false, "sick", "exec_died"},
	{`{"ID":"38be","Image":"localhost/testsvc:dev","Name":"web","Status":"restart","Time":"2026-12-02T10:35:27.745083173Z","Type":"container","Attributes":null}`, true, false, "web", "restart"},
	{`{"ID":"38be","Image":"localhost/testsvc:dev","Name":"web","Status":"died","Time":"2026-12-02T10:35:27.879315489Z","Type":"container","Attributes":null}`, true, true, "web", "died"},
	{`{"ID":"38be","Image":"localhost/testsvc:dev","Name":"web","Status":"init","Time":"2026-12-02T10:35:28.079769757Z","Type":"container","Attributes":null}`, false, false, "web", "init"},
	{`{"ID":"38be","Image":"localhost/testsvc:dev","Name":"web","Status":"start","Time":"2026-12-02T10:35:28.099054976Z","Type":"container","Attributes":null}`, true, false, "web", "start"},
	{`{"ID":"67d6","Image":"localhost/testsvc:dev","Name":"sick","Status":"health_status","Time":"2026-12-02T10:35:28.175545801Z","Type":"container","health_status":"unhealthy","Attributes":null}`, true, false, "sick", "health unhealthy"},
	{`{"ID":"38be","Image":"localhost/testsvc:dev","Name":"web","Status":"cleanup","Time":"2026-12-02T10:35:28.324758822Z","Type":"container","Attributes":null}`, true, false, "web", "cleanup"},
	{`{"ContainerExitCode":3,"ID":"9f1c","Image":"localhost/testsvc:dev","Name":"gone","Status":"died","Time":"2026-12-02T10:35:29Z","Type":"container","Attributes":null}`, true, true, "gone", "died 3"},
	{`{"ID":"9f1c","Image":"localhost/testsvc:dev","Name":"gone","Status":"remove","Time":"2026-12-02T10:35:30Z","Type":"container","Attributes":null}`, true, false, "gone", "remove"},
	{`opsroom-events-ready`, false, false, "", "not json"},
}

func TestPodmanEvents(t *testing.T) {
	for _, ev := range podmanEvents {
		object, relevant, died := podmanBackend{}.parseEvent([]byte(ev.line))
		if object != ev.object || relevant != ev.relevant || died != ev.died {
			t.Errorf("%s: %q relevant=%v died=%v, want %q %v %v", ev.statusWas, object, relevant, died, ev.object, ev.relevant, ev.died)
		}
	}
	got := podmanBackend{}.eventsCommand(podmanServices("web", "it's"))
	want := `since=$(date +%s.%N); echo opsroom-events-ready; exec podman events --since "$since" --format '{{json .}}' --filter type=container --filter container='web' --filter container='it'\''s'`
	if got != want {
		t.Errorf("%s\nwant %s", got, want)
	}
}

func TestPodmanCommands(t *testing.T) {
	web := &ServiceConfig{Name: "web", Kind: KindContainer, Container: "web"}
	app := &ServiceConfig{Name: "app", Kind: KindCompose, Container: "app_app_1", Directory: "/srv/app", ComposeService: "app"}
	b := podmanBackend{compose: "podman-compose"}
	for _, tc := range []struct{ got, want string }{
		{b.probeCommand([]*ServiceConfig{web, app}), "podman inspect --type container -f '" + inspectFormat + "' 'web' 'app_app_1'"},
		{b.actionCommand(web, "logs", 5), "podman logs --tail 5 'web' 2>&1"},
		{b.actionCommand(web, "restart", 0), "podman restart 'web'"},
		{b.actionCommand(web, "stop", 0), "podman stop 'web'"},
		{b.actionCommand(web, "start", 0), "podman start 'web'"},
		{b.actionCommand(app, "start", 0), "cd '/srv/app' && podman-compose up -d 'app'"},
		{b.healthLogCommand(web), "podman inspect --type container -f '{{with .State.Health}}{{range .Log}}{{.ExitCode}}: {{.Output}}\n{{end}}{{end}}' 'web'"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s\nwant %s", tc.got, tc.want)
		}
	}
}

func TestValidateEngine(t *testing.T) {
	c := parse(t, `
hosts:
  pod: {address: "10.0.0.3", user: deploy, use_agent: true, known_hosts: /k, engine: podman}
  pod2: {address: "10.0.0.4", user: deploy, use_agent: true, known_hosts: /k, engine: podman, compose_command: docker compose}
  box: {address: "10.0.0.5", user: deploy, use_agent: true, known_hosts: /k}
  odd: {address: "10.0.0.6", user: deploy, use_agent: true, known_hosts: /k, engine: lxc}
services:
  web: {host: pod, kind: container, container: web}
  unit: {host: pod, kind: systemd, unit: web.service}
  other: {host: box, kind: container, container: web}
`)
	errs, _ := c.Validate()
	got := joinErrs(errs)
	for _, want := range []string{
		`hosts.odd.engine: "lxc" is not an engine; use docker or podman`,
		`hosts.pod2.compose_command: "docker compose" is not a compose command of engine podman; use "podman-compose" or "podman compose"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q; got:\n%s", want, got)
		}
	}
	if h := c.Hosts["pod"]; h.Engine != "podman" || h.ComposeCommand != "podman-compose" {
		t.Errorf("podman host: engine %q, compose %q; want podman, podman-compose", h.Engine, h.ComposeCommand)
	}
	if h := c.Hosts["box"]; h.Engine != "docker" || h.ComposeCommand != "docker compose" {
		t.Errorf("default host: engine %q, compose %q; want docker, docker compose", h.Engine, h.ComposeCommand)
	}
	for name, want := range map[string]string{"web": "Podman", "unit": "systemd", "other": "Docker"} {
		s := c.Services[name]
		if got := backendFor(c.Hosts[s.Host], s).name(); got != want {
			t.Errorf("service %s on %s: backend %s, want %s", name, s.Host, got, want)
		}
	}
}

// TestPodmanComposeOutcome reads what podman-compose 1.0.3 (Debian
// bookworm's) printed, rootless, in the test world's systemd host: it exits 0
// whether or not its podman commands failed.
func TestPodmanComposeOutcome(t *testing.T) {
	for _, tc := range []struct {
		file     string
		exitCode int
		failed   string // what the note on stderr names
	}{
		{"build-ok.txt", 0, ""},
		{"build-ok-v2.txt", 0, ""},
		{"build-failed.txt", 125, "`podman build -t localhost/myapp:latest -f ./Dockerfile .` exited 125"},
		{"up-created.txt", 0, ""},
		// The container exists: run fails on its name, and start starts the old one.
		{"up-existing.txt", 0, ""},
		{"up-force-recreate.txt", 0, ""},
		// No container to stop or remove: those fail, the run does not.
		{"up-force-recreate-missing.txt", 0, ""},
		// No image (nothing to pull): run fails, and the start after it.
		{"up-failed.txt", 125, "`podman run --name=broken -d "},
		{"version.txt", 0, ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out, err := os.ReadFile(filepath.Join("testdata", t.Name()[:strings.Index(t.Name(), "/")], tc.file))
			if err != nil {
				t.Fatal(err)
			}
			res := podmanBackend{}.composeOutcome(RunResult{Stdout: string(out)})
			if res.ExitCode != tc.exitCode {
				t.Errorf("exit code %d, want %d", res.ExitCode, tc.exitCode)
			}
			switch {
			case tc.failed == "" && res.Stderr != "":
				t.Errorf("stderr %q, want none", res.Stderr)
			case tc.failed != "" && !strings.Contains(res.Stderr, "opsroom: the compose command exited 0, but its "+tc.failed):
				t.Errorf("stderr %q, want it to name %s", res.Stderr, tc.failed)
			}
			if res.Stdout != string(out) {
				t.Errorf("stdout changed")
			}
		})
	}

	t.Run("a failure of its own", func(t *testing.T) {
		// An unknown service is a Python traceback, exit 1: that stands.
		res := RunResult{ExitCode: 1, Stderr: "ValueError: unknown service: nosuch\n"}
		if got := (podmanBackend{}).composeOutcome(res); got != res {
			t.Errorf("%+v, want it unchanged", got)
		}
	})
	t.Run("actions", func(t *testing.T) {
		failed := RunResult{Stdout: "podman run --name=app -d x\nexit code: 125\npodman start app\nexit code: 125\n"}
		app := &ServiceConfig{Name: "app", Kind: KindCompose, Container: "app"}
		web := &ServiceConfig{Name: "web", Kind: KindContainer, Container: "web"}
		b := podmanBackend{compose: "podman-compose"}
		if got := b.actionOutcome(app, "start", failed); got.ExitCode != 125 {
			t.Errorf("compose start: exit %d, want 125", got.ExitCode)
		}
		// A container's logs may print anything.
		if got := b.actionOutcome(web, "logs", failed); got != failed {
			t.Errorf("logs changed: %+v", got)
		}
		if got := b.actionOutcome(app, "restart", failed); got != failed {
			t.Errorf("restart changed: %+v", got)
		}
	})
}

func TestPodmanComposeRecipe(t *testing.T) {
	h := &HostConfig{Engine: EnginePodman, ComposeCommand: "podman-compose"}
	s := &ServiceConfig{Name: "app", Kind: KindCompose, Container: "app", Directory: "/srv/app", ComposeService: "app", GitRemote: "origin", GitBranch: "master"}
	var shown []string
	for _, st := range gitRecipe(h, s, "").Stages() {
		shown = append(shown, st.Command)
	}
	want := []string{"git fetch origin master", "git reset --hard origin/master", "podman-compose build app", "podman-compose up -d --force-recreate app"}
	if !slices.Equal(shown, want) {
		t.Errorf("stages %q\nwant %q", shown, want)
	}
}

func TestComposeVersion(t *testing.T) {
	out, err := os.ReadFile("testdata/TestPodmanComposeOutcome/version.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ out, want string }{
		{string(out), "podman-composer version 1.0.3"},
		{"Docker Compose version v2.32.4\n", "Docker Compose version v2.32.4"},
		{"docker-compose version 1.29.2, build unknown\ndocker-py version: 5.0.3\nCPython version: 3.11.2\n", "docker-compose version 1.29.2, build unknown"},
		{"1.2.3\n", "1.2.3"},
	} {
		if got := composeVersion(tc.out); got != tc.want {
			t.Errorf("composeVersion(%q) = %q, want %q", tc.out, got, tc.want)
		}
	}
}
