package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

// An alert is taken once, its edit goes where it went, and a command's
// resolution is recorded once, edited into the alert it fixed.
func TestAnAlertIsTakenOnceAndResolvedOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		s, _ := openTemp(t)
		room := id.RoomID("!ops:example.org")
		down := WatchState{Key: "service:web", State: "exited", Alerted: true, Since: time.Now()}
		alert := &Alert{Subject: "web", Kind: "exited", Message: "web exited"}
		if err := s.RecordTransition(ctx, down, alert, []id.RoomID{room}); err != nil {
			t.Fatal(err)
		}
		if open, err := s.Remindable(ctx); err != nil || len(open) != 1 || open[0].ID != alert.ID {
			t.Fatalf("Remindable = %v, %v; want the exit", open, err)
		}

		taken, err := s.AckAlert(ctx, alert.ID, "@eve:example.org", time.Now())
		if err != nil || taken.ID != alert.ID {
			t.Fatalf("AckAlert = %+v, %v", taken, err)
		}
		if again, err := s.AckAlert(ctx, alert.ID, "@bob:example.org", time.Now()); !errors.Is(err, ErrAlreadyAcked) || again.AckedBy != "@eve:example.org" {
			t.Errorf("a second AckAlert = %+v, %v; want ErrAlreadyAcked by eve", again, err)
		}
		if open, err := s.Remindable(ctx); err != nil || len(open) != 0 {
			t.Errorf("Remindable after the ack = %d alerts, %v; want none", len(open), err)
		}
		if acks, err := s.OpenAcknowledgements(ctx); err != nil || len(acks) != 1 || acks["web"] != "@eve:example.org" {
			t.Errorf("OpenAcknowledgements = %v, %v; want web taken by eve (for the board)", acks, err)
		}
		edit, err := s.NextDelivery(ctx, room)
		if err != nil || edit.Alert.ID != alert.ID {
			t.Fatalf("the queue starts with %+v, %v; want the alert", edit, err)
		}
		if err := s.MarkDelivered(ctx, *edit, "$alert"); err != nil {
			t.Fatal(err)
		}
		if edit, err = s.NextDelivery(ctx, room); err != nil || edit.Alert.Kind != KindAcknowledged || edit.Alert.AboutID != alert.ID || !edit.Alert.EditOnly {
			t.Fatalf("then %+v, %v; want the acknowledgement's edit", edit.Alert, err)
		}
		if err := s.MarkDelivered(ctx, *edit, "$ack"); err != nil {
			t.Fatal(err)
		}

		up := WatchState{Key: "service:web", State: "running", Since: time.Now()}
		fixed := &Alert{Subject: "web", Kind: KindResolved, Message: "✅ Resolved by @alice's `!start`", EditOnly: true}
		if err := s.RecordTransition(ctx, up, fixed, nil); err != nil {
			t.Fatal(err)
		}
		if fixed.ID == 0 || fixed.AboutID != alert.ID {
			t.Fatalf("the resolution = %+v; want it recorded about the alert", fixed)
		}
		if acks, err := s.OpenAcknowledgements(ctx); err != nil || len(acks) != 0 {
			t.Errorf("OpenAcknowledgements after the resolution = %v, %v; want none", acks, err)
		}
		twice := &Alert{Subject: "web", Kind: KindResolved, Message: "again", EditOnly: true}
		if err := s.RecordTransition(ctx, up, twice, nil); err != nil || twice.ID != 0 {
			t.Errorf("a second resolution was recorded (%d, %v): there was nothing open", twice.ID, err)
		}
		if _, err := s.AckAlert(ctx, alert.ID, "@bob:example.org", time.Now()); !errors.Is(err, ErrAlreadyAcked) {
			t.Errorf("AckAlert of a resolved alert: %v", err)
		}
		d, err := s.NextDelivery(ctx, room)
		if err != nil || d.Alert.ID != fixed.ID {
			t.Fatalf("the queue then holds %+v, %v; want the resolution's edit", d, err)
		}
		target, eventID, err := s.AlertEvent(ctx, d.Alert.AboutID, room)
		if err != nil || eventID != "$alert" || target.AckedBy != "@eve:example.org" || target.Resolved.IsZero() {
			t.Errorf("the alert it edits = %+v %s, %v; want eve's, resolved, posted as $alert", target, eventID, err)
		}
	})
}

// A reminder step is recorded once: a second try at the same step records nothing.
func TestAReminderStepIsRecordedOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		s, _ := openTemp(t)
		room := id.RoomID("!ops:example.org")
		alert := &Alert{Subject: "web", Kind: "exited", Message: "web exited"}
		if err := s.RecordTransition(ctx, WatchState{Key: "service:web", State: "exited", Alerted: true}, alert, []id.RoomID{room}); err != nil {
			t.Fatal(err)
		}
		for i, want := range []bool{true, false} {
			ok, err := s.RecordReminder(ctx, alert, 0, 1, &Alert{Message: "reminder"})
			if err != nil || ok != want {
				t.Errorf("try %d: RecordReminder = %v, %v; want %v", i+1, ok, err, want)
			}
		}
		open, err := s.Remindable(ctx)
		if err != nil || len(open) != 1 || open[0].Reminded != 1 {
			t.Fatalf("Remindable = %+v, %v; want the alert, reminded once", open, err)
		}
		if _, err := s.AckAlert(ctx, alert.ID+1, "@eve:example.org", time.Now()); err != nil {
			t.Errorf("a 👀 on the reminder does not take the alert: %v", err)
		}
	})
}
