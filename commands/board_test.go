package commands

import (
	"testing"
	"time"

	"github.com/opsroom/opsroom/store"
)

func TestBoardListsWhatIsBrokenOrSaysAllClear(t *testing.T) {
	utc := time.FixedZone("UTC", 0)
	since := time.Date(2025, 11, 24, 14, 2, 0, 0, utc)
	window := &store.Maintenance{Scope: store.ScopeService, Name: "db", End: since.Add(time.Hour), By: "@alice:example.org", Reason: "schema migration"}
	for _, tc := range []struct {
		name    string
		rows    []BoardRow
		windows []*store.Maintenance
		note    string
		want    string
	}{
		{name: "all clear", want: "📋 ✅ **All clear**: every watched service and host is up."},
		{
			name: "broken",
			rows: []BoardRow{
				{Service: "web", Host: "spark", State: "exited", Since: since},
				{Host: "vps", State: "unreachable", Since: since, AckedBy: "@bob:example.org"},
				{Service: "db", Host: "spark", State: "crash-loop", Since: since, Maintenance: true, Muted: true},
			},
			windows: []*store.Maintenance{window},
			want: "📋 **Broken now**: 3\n\n| service | state | since | acknowledged by |\n|---|---|---|---|\n" +
				"| **web** on `spark` | exited | Nov 24 14:02 UTC | — |\n" +
				"| host `vps` | unreachable | Nov 24 14:02 UTC | @bob:example.org |\n" +
				"| **db** on `spark` | crash-loop 🔧 🔕 | Nov 24 14:02 UTC | — |\n\n" +
				"🔧 In maintenance (alerts recorded, not posted):\n\n- **db** until Nov 24 15:02 UTC (@alice:example.org: schema migration)",
		},
		{name: "cannot pin", note: "⚠️ cannot pin", want: "📋 ✅ **All clear**: every watched service and host is up.\n\n⚠️ cannot pin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := BoardMarkdown(tc.rows, tc.windows, tc.note); got != tc.want {
				t.Errorf("board:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestMaintenanceSummarySaysWhatChangedAndWhatIsDown(t *testing.T) {
	utc := time.FixedZone("UTC", 0)
	start := time.Date(2025, 11, 24, 3, 0, 0, 0, utc)
	m := &store.Maintenance{Scope: store.ScopeList, Name: store.ListTargets([]string{"web", "db"}, []string{"spark"}), Start: start, Reason: "backup"}
	changes := []*store.Alert{
		{Subject: "web", Kind: "exited", Time: start.Add(2 * time.Minute)},
		{Subject: "db", Kind: "exited", Time: start.Add(3 * time.Minute)},
		{Subject: "web", Kind: "recovered", Time: start.Add(5 * time.Minute)},
	}
	down := []BoardRow{{Service: "db", Host: "spark", State: "exited", Since: start.Add(3 * time.Minute)}}
	got := MaintenanceSummary(m, start.Add(time.Hour), "its time is up", changes, down)
	want := "🔧 Maintenance of **web**, **db** and host `spark` is over (its time is up) after 1 h; it was for: backup.\n\n" +
		"During it:\n\n- **web**: exited 03:02:00, recovered 03:05:00\n- **db**: exited 03:03:00\n\n" +
		"⚠️ Not running now: **db** exited since 03:03 UTC."
	if got != want {
		t.Errorf("summary:\n%s\nwant:\n%s", got, want)
	}
	got = MaintenanceSummary(m, start.Add(10*time.Minute), "everything in it is back up", nil, nil)
	want = "🔧 Maintenance of **web**, **db** and host `spark` is over (everything in it is back up) after 10 min; it was for: backup.\n\n" +
		"Nothing changed during it.\n\n✅ Everything in it is running."
	if got != want {
		t.Errorf("summary:\n%s\nwant:\n%s", got, want)
	}
}
