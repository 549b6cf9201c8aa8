package ops

import "testing"

func TestExitMeaning(t *testing.T) {
	for _, tc := range []struct {
		st   Status
		want string
	}{
		{Status{ExitCode: 137}, "killed (SIGKILL)"},
		{Status{ExitCode: 143}, "terminated (SIGTERM)"},
		{Status{ExitCode: 139}, "segfault (SIGSEGV)"},
		{Status{ExitCode: 1}, "error"},
		{Status{ExitCode: 127}, "its command was not found"},
		{Status{ExitCode: 150}, "ended by signal 22"},
		{Status{ExitCode: 137, OOMKilled: true}, "out of memory (killed by the kernel's OOM killer)"},
		{Status{ExitCode: 137, MemoryLimit: 50 << 20}, "killed (SIGKILL); with its memory limit of 50 MiB, likely out of memory"},
		{Status{ExitCode: 1, MemoryLimit: 50 << 20}, "error"},
	} {
		if got := ExitMeaning(tc.st); got != tc.want {
			t.Errorf("ExitMeaning(%+v) = %q, want %q", tc.st, got, tc.want)
		}
	}
}

func TestInspectLineCarriesOOMKilledAndTheMemoryLimit(t *testing.T) {
	name, st := dockerCLI.parseInspectLine("/web|exited|2026-12-02T10:00:00Z|2026-12-02T10:01:00Z|0||137|testsvc:dev|true|52428800")
	if name != "web" || st.State != StateExited || !st.OOMKilled || st.MemoryLimit != 50<<20 {
		t.Errorf("got %q %+v, want web exited, OOMKilled, a 50 MiB limit", name, st)
	}
	// The format before the two fields were added still reads.
	if name, st := dockerCLI.parseInspectLine("/web|exited|2026-12-02T10:00:00Z|2026-12-02T10:01:00Z|0||137|testsvc:dev"); name != "web" || st.OOMKilled {
		t.Errorf("the older line: got %q %+v", name, st)
	}
}

func TestUnitKilledForMemoryIsOOMKilled(t *testing.T) {
	st := unitStatus("web.service", map[string]string{"LoadState": "loaded", "ActiveState": "failed", "ExecMainStatus": "9",
		"ExecMainCode": "2", "Result": "oom-kill"})
	if st.State != StateExited || st.ExitCode != 137 || !st.OOMKilled {
		t.Errorf("got %+v, want exited with 137, OOMKilled", st)
	}
}
