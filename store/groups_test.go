package store

import (
	"context"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

func TestAlertsOfAHostWithinTheWindowAreOneGroup(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		s, path := openTemp(t)
		rooms := []id.RoomID{"!ops:example.org"}
		t0 := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
		record := func(st *Store, subject, host, kind string, at time.Time, rooms []id.RoomID) *Alert {
			t.Helper()
			a := &Alert{Time: at, Subject: subject, Host: host, Kind: kind, Message: subject + " " + kind, Line: kind, GroupWindow: 5 * time.Second}
			if err := st.RecordTransition(ctx, WatchState{Key: "service:" + subject, State: kind, Since: at}, a, rooms); err != nil {
				t.Fatal(err)
			}
			return a
		}

		a := record(s, "a", "spark", "exited", t0, rooms)
		b := record(s, "b", "spark", "exited", t0.Add(time.Second), rooms)
		other := record(s, "x", "vps", "exited", t0.Add(2*time.Second), rooms)      // another host
		muted := record(s, "m", "spark", "exited", t0.Add(2*time.Second), nil)      // nowhere to go
		c := record(s, "c", "spark", "crash-loop", t0.Add(5*time.Second), rooms)    // within 5 s of b: the window slides
		late := record(s, "d", "spark", "exited", t0.Add(11*time.Second), rooms)    // 6 s after c
		rec := record(s, "b", "spark", "recovered", t0.Add(20*time.Second), rooms)  // b's recovery joins b's group
		lone := record(s, "d", "spark", "recovered", t0.Add(21*time.Second), rooms) // d is alone: no group
		for _, tc := range []struct {
			alert *Alert
			group int64
		}{{b, a.ID}, {other, 0}, {muted, 0}, {c, a.ID}, {late, 0}, {rec, a.ID}, {lone, 0}} {
			if tc.alert.GroupID != tc.group {
				t.Errorf("%s %s: group %d, want %d", tc.alert.Subject, tc.alert.Kind, tc.alert.GroupID, tc.group)
			}
		}

		// A restart reads the groups back as they were stored.
		_ = s.Close()
		s2, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		members, err := s2.GroupAlerts(ctx, a.ID, rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range members {
			got = append(got, m.Subject+" "+m.Kind)
		}
		want := []string{"a exited", "b exited", "c crash-loop", "b recovered"}
		if len(got) != len(want) {
			t.Fatalf("group members %q, want %q", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("group members %q, want %q", got, want)
			}
		}
		if upTo, _ := s2.GroupAlerts(ctx, a.ID, b.ID); len(upTo) != 2 {
			t.Errorf("the group up to b has %d alerts, want 2 (a, b): what b's edit says, however often it is retried", len(upTo))
		}
		if evt, err := s2.GroupEvent(ctx, a.ID, rooms[0]); err != nil || evt != "" {
			t.Errorf("GroupEvent before delivery = %q, %v; want none", evt, err)
		}
		if err := s2.MarkDelivered(ctx, Delivery{Alert: a, RoomID: rooms[0]}, "$head"); err != nil {
			t.Fatal(err)
		}
		if evt, err := s2.GroupEvent(ctx, a.ID, rooms[0]); err != nil || evt != "$head" {
			t.Errorf("GroupEvent = %q, %v; want $head", evt, err)
		}
	})
}
