package ops

import (
	"strings"
	"testing"
	"time"
)

// unitBlock is one unit's part of `TZ=UTC systemctl show --property=…`, in
// systemd's own order of properties.
func unitBlock(id, load, active, sub, restarts, status, code, entered, exited string) string {
	return "Id=" + id + "\nNRestarts=" + restarts + "\nExecMainExitTimestamp=" + exited + "\nExecMainCode=" + code +
		"\nExecMainStatus=" + status + "\nResult=success\nLoadState=" + load + "\nActiveState=" + active + "\nSubState=" + sub +
		"\nActiveEnterTimestamp=" + entered + "\n"
}

func TestParseUnitsReadsEveryState(t *testing.T) {
	units := []string{"web.service", "crashed.service", "killed.service", "looping.service", "gone.service", "alias.service"}
	stdout := unitBlock("web.service", "loaded", "active", "running", "0", "0", "0", "Wed 2026-12-02 10:22:04 UTC", "") + "\n" +
		unitBlock("crashed.service", "loaded", "failed", "failed", "2", "3", "1", "Wed 2026-12-02 10:00:00 UTC", "Wed 2026-12-02 10:05:00 UTC") + "\n" +
		unitBlock("killed.service", "loaded", "inactive", "dead", "0", "9", "2", "", "Wed 2026-12-02 10:05:00 UTC") + "\n" +
		unitBlock("looping.service", "loaded", "activating", "auto-restart", "7", "1", "1", "n/a", "Wed 2026-12-02 10:05:00 UTC") + "\n" +
		unitBlock("gone.service", "not-found", "inactive", "dead", "0", "0", "0", "", "") + "\n" +
		unitBlock("real.service", "loaded", "active", "running", "1", "0", "0", "Wed 2026-12-02 10:22:04 UTC", "")
	got := parseUnits(units, stdout)
	at := func(s string) time.Time { return time.Date(2026, 12, 2, 10, 22, 4, 0, time.UTC).Add(parseOffset(t, s)) }
	for unit, want := range map[string]Status{
		"web.service":     {State: StateRunning, Native: "active", StartedAt: at("0s")},
		"crashed.service": {State: StateExited, Native: "failed", ExitCode: 3, RestartCount: 2, StartedAt: at("-22m4s"), FinishedAt: at("-17m4s")},
		"killed.service":  {State: StateExited, Native: "inactive", ExitCode: 137, FinishedAt: at("-17m4s")},
		"looping.service": {State: StateRestarting, Native: "activating", ExitCode: 1, RestartCount: 7, FinishedAt: at("-17m4s")},
		"gone.service":    {State: StateNotDeployed, Native: "not-found"},
		"alias.service":   {State: StateRunning, Native: "active", RestartCount: 1, StartedAt: at("0s")}, // an alias: its block says the real name
	} {
		st := got[unit]
		if st.State != want.State || st.Native != want.Native || st.ExitCode != want.ExitCode || st.RestartCount != want.RestartCount ||
			!st.StartedAt.Equal(want.StartedAt) || !st.FinishedAt.Equal(want.FinishedAt) {
			t.Errorf("%s: got %+v\nwant %+v", unit, st, want)
		}
	}
}

func parseOffset(t *testing.T, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestParseUnitsSaysWhatItCouldNotRead(t *testing.T) {
	got := parseUnits([]string{"a.service", "b.service"},
		unitBlock("a.service", "loaded", "exploding", "x", "0", "0", "0", "", "")+"\n"+
			unitBlock("b.service", "loaded", "active", "running", "many", "0", "0", "", ""))
	for unit, why := range map[string]string{"a.service": `unexpected ActiveState "exploding"`, "b.service": `bad NRestarts "many"`} {
		if st := got[unit]; st.State != StateUnknown || st.Err == nil || !strings.Contains(st.Err.Error(), why) || st.Raw == "" {
			t.Errorf("%s: got %+v, want unknown saying %s with the raw properties", unit, st, why)
		}
	}
	if st := parseUnits([]string{"a.service"}, "")["a.service"]; st.State != StateUnknown {
		t.Errorf("no output: got %+v, want unknown", st)
	}
}

func TestSystemdEngineDownIsTheHostsProblem(t *testing.T) {
	b := systemdBackend{}
	services := []*ServiceConfig{{Unit: "a.service"}}
	_, err := b.parseProbe("nixos", services, RunResult{ExitCode: 1, Stderr: "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down"})
	if err == nil || err.Error() != "systemd on nixos does not answer: Failed to connect to bus: Host is down" {
		t.Errorf("got %v", err)
	}
	// A unit systemctl does not know makes it exit non-zero, with the block all the same.
	got, err := b.parseProbe("nixos", services, RunResult{ExitCode: 1, Stdout: unitBlock("a.service", "not-found", "inactive", "dead", "0", "0", "0", "", "")})
	if err != nil || got["a.service"].State != StateNotDeployed {
		t.Errorf("got %v, %v", got, err)
	}
}

func TestSystemdRecipes(t *testing.T) {
	s := &ServiceConfig{Kind: KindSystemd, Unit: "synapse.service"}
	for _, tc := range []struct {
		b           systemdBackend
		action      string
		want        string
		description string
	}{
		{systemdBackend{sudo: true}, "restart", "sudo -n systemctl restart 'synapse.service'", "a login that is not root asks sudo"},
		{systemdBackend{}, "stop", "systemctl stop 'synapse.service'", "root needs no sudo"},
		{systemdBackend{sudo: true}, "logs", "journalctl -u 'synapse.service' -n 7 --no-pager -o short-iso", "the journal needs only the group systemd-journal"},
		{systemdBackend{user: true, sudo: true}, "start", `XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}" systemctl --user start 'synapse.service'`, "a user unit is the user's own"},
		{systemdBackend{user: true}, "logs", "journalctl --user-unit 'synapse.service' -n 7 --no-pager -o short-iso", "a user unit's lines"},
	} {
		if got := tc.b.actionCommand(s, tc.action, 7); got != tc.want {
			t.Errorf("%s: %s\nwant %s", tc.description, got, tc.want)
		}
	}
	probe := systemdBackend{}.probeCommand([]*ServiceConfig{s, {Unit: "it's.service"}})
	if want := "TZ=UTC systemctl show --property=" + unitProperties + ` -- 'synapse.service' 'it'\''s.service'`; probe != want {
		t.Errorf("probe %s\nwant %s", probe, want)
	}
	if got := (systemdBackend{user: true}).eventsCommand([]*ServiceConfig{s}); got != "" {
		t.Errorf("user units have no stream, got %s", got)
	}
}

func TestSystemdEventsAreSystemdsOwnLines(t *testing.T) {
	b := systemdBackend{}
	for line, want := range map[string]struct {
		unit           string
		relevant, died bool
	}{
		`{"UNIT":"web.service","MESSAGE":"web.service: Main process exited, code=exited, status=1/FAILURE","MESSAGE_ID":"98e322203f7a4ed290d09fe03c09fe15"}`: {"web.service", true, true},
		`{"UNIT":"web.service","MESSAGE":"Started web.service - Web."}`:                                                                                      {"web.service", true, false},
		`{"MESSAGE":"a line without a unit"}`: {"", false, false},
		`not json`:                            {"", false, false},
	} {
		unit, relevant, died := b.parseEvent([]byte(line))
		if unit != want.unit || relevant != want.relevant || died != want.died {
			t.Errorf("%s: got %q %v %v, want %+v", line, unit, relevant, died, want)
		}
	}
}
