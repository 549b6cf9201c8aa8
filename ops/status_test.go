package ops

import (
	"strings"
	"testing"
	"time"
)

const (
	started  = "2026-11-24T12:00:00.123456789Z"
	finished = "2026-11-24T13:00:00Z"
	never    = "0001-01-01T00:00:00Z"
)

func line(name, status, health string, restarts, exit string) string {
	return strings.Join([]string{"/" + name, status, started, finished, restarts, health, exit, "img:1"}, "|")
}

func TestParseInspectReadsEveryState(t *testing.T) {
	for _, tc := range []struct {
		name, stdout, stderr string
		want                 State
		check                func(t *testing.T, st Status)
	}{
		{name: "running", stdout: line("c", "running", "", "2", "0"), want: StateRunning, check: func(t *testing.T, st Status) {
			if st.RestartCount != 2 || st.Image != "img:1" || !st.StartedAt.Equal(time.Date(2026, 11, 24, 12, 0, 0, 123456789, time.UTC)) {
				t.Errorf("fields not read: %+v", st)
			}
		}},
		{name: "healthy", stdout: line("c", "running", "healthy", "0", "0"), want: StateRunning},
		{name: "unhealthy", stdout: line("c", "running", "unhealthy", "0", "0"), want: StateUnhealthy},
		{name: "restarting", stdout: line("c", "restarting", "", "7", "1"), want: StateRestarting},
		{name: "exited keeps code", stdout: line("c", "exited", "", "0", "137"), want: StateExited, check: func(t *testing.T, st Status) {
			if st.ExitCode != 137 || st.Native != "exited" {
				t.Errorf("exit code not kept: %+v", st)
			}
		}},
		{name: "dead", stdout: line("c", "dead", "", "0", "1"), want: StateExited},
		{name: "created", stdout: strings.Replace(line("c", "created", "", "0", "0"), started, never, 1), want: StateExited, check: func(t *testing.T, st Status) {
			if !st.StartedAt.IsZero() || st.Native != "created" {
				t.Errorf("never-started container: %+v", st)
			}
		}},
		{name: "paused", stdout: line("c", "paused", "", "0", "0"), want: StateExited},
		{name: "being removed", stdout: line("c", "removing", "", "0", "137"), want: StateNotDeployed},
		{name: "missing", stderr: "Error: No such container: c\n", want: StateNotDeployed},
		{name: "missing (older docker)", stderr: "Error: No such object: c\n", want: StateNotDeployed},
		{name: "garbage", stdout: "permission denied while trying to connect to the Docker daemon socket", want: StateUnknown, check: func(t *testing.T, st Status) {
			if !strings.Contains(st.Raw, "permission denied") {
				t.Errorf("raw output not kept: %+v", st)
			}
		}},
		{name: "bad number", stdout: line("c", "running", "", "many", "0"), want: StateUnknown},
		{name: "odd status", stdout: line("c", "hibernating", "", "0", "0"), want: StateUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := dockerCLI.parseInspect([]string{"c"}, tc.stdout, tc.stderr)["c"]
			if st.State != tc.want {
				t.Fatalf("state %q, want %q (%+v)", st.State, tc.want, st)
			}
			if tc.check != nil {
				tc.check(t, st)
			}
		})
	}
}

func TestParseInspectOfAHostWithOneContainerMissing(t *testing.T) {
	stdout := line("a", "running", "", "0", "0") + "\n" + line("c", "exited", "", "0", "2") + "\n"
	stderr := "Error response from daemon: No such container: b\n"
	got := dockerCLI.parseInspect([]string{"a", "b", "c"}, stdout, stderr)
	for name, want := range map[string]State{"a": StateRunning, "b": StateNotDeployed, "c": StateExited} {
		if got[name].State != want {
			t.Errorf("%s: %q, want %q", name, got[name].State, want)
		}
	}
}

func TestUnknownServiceWithoutACloseNameListsTheServices(t *testing.T) {
	known := []string{"bridge", "homeserver", "postgres", "synapse"}
	err := &UnknownServiceError{Name: "xyz", Known: known}
	if !strings.Contains(err.Error(), "bridge, homeserver, postgres, synapse") {
		t.Errorf("without a close name the error must list the services: %s", err)
	}
}

// BenchmarkParseInspect is one probe of a host with 50 containers, the watcher's hot path.
func BenchmarkParseInspect(b *testing.B) {
	var names []string
	var out strings.Builder
	for i := 0; i < 50; i++ {
		name := "svc" + strings.Repeat("x", i%7) + string(rune('a'+i%26))
		names = append(names, name)
		out.WriteString(line(name, "running", "healthy", "3", "0") + "\n")
	}
	b.ReportAllocs()
	for b.Loop() {
		dockerCLI.parseInspect(names, out.String(), "")
	}
}
