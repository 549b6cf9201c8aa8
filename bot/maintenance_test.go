package bot

import (
	"testing"
	"time"

	"github.com/opsroom/opsroom/internal/config"
)

func TestScheduledWindowOpensOnItsDaysAtItsTime(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no zoneinfo:", err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	windows := []MaintenanceWindow{
		{Services: []string{"web"}, Weekdays: []string{"sun", "Wednesday"}, At: "03:00", Duration: config.Duration{Duration: time.Hour}},
		{Hosts: []string{"spark"}, At: "23:30", Duration: config.Duration{Duration: 2 * time.Hour}}, // every day, past midnight
	}
	if errs := ValidateMaintenance(windows, map[string]bool{"web": true}, map[string]bool{"spark": true}); len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, tc := range []struct {
		window    int
		now       string
		wantStart string // "" : not open
	}{
		{0, "2025-03-02 02:59", ""},                 // a Sunday, before
		{0, "2025-03-02 03:00", "2025-03-02 03:00"}, // at its start
		{0, "2025-03-02 03:59", "2025-03-02 03:00"},
		{0, "2025-03-02 04:00", ""},                 // over
		{0, "2025-03-03 03:30", ""},                 // a Monday
		{0, "2025-03-05 03:30", "2025-03-05 03:00"}, // a Wednesday
		{0, "2025-03-30 03:30", "2025-03-30 03:00"}, // the Sunday clocks go forward: 03:00 is a local time
		{1, "2025-03-05 00:45", "2025-03-04 23:30"}, // across midnight
		{1, "2025-03-05 01:30", ""},
	} {
		start, open := windows[tc.window].openAt(at(tc.now))
		got := ""
		if open {
			got = start.Format("2006-01-02 15:04")
		}
		if got != tc.wantStart {
			t.Errorf("window %d at %s: open since %q, want %q", tc.window, tc.now, got, tc.wantStart)
		}
	}
}

func TestScheduledWindowErrorsNameTheKey(t *testing.T) {
	windows := []MaintenanceWindow{{Services: []string{"wbe"}, Weekday: "mondays", At: "3am", Duration: config.Duration{Duration: 8 * 24 * time.Hour}}, {}}
	errs := ValidateMaintenance(windows, map[string]bool{"web": true}, nil)
	want := []string{
		`maintenance[0].services[0]: "wbe" is not a service in services:`,
		`maintenance[0].weekdays: "mondays" is not a weekday; use mon, tue, wed, thu, fri, sat or sun`,
		`maintenance[0].at: "3am" is not a time of day like "03:00" (in display_timezone)`,
		`maintenance[0].duration: must be a duration like 1h, at most 7d`,
		`maintenance[1].services: name the services or the hosts (hosts: [...]) the window is for`,
	}
	got := map[string]bool{}
	for _, e := range errs {
		got[e.Error()] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing error %q; got %q", w, errs)
		}
	}
}
