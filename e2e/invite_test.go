package e2e

import (
	"context"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/testworld"
)

// membership reads the bot's membership in a room, as who sees it.
func (w *world) membership(t testing.TB, who *mautrix.Client, room id.RoomID) event.Membership {
	t.Helper()
	var m event.MemberEventContent
	if err := who.StateEvent(context.Background(), room, event.StateMember, string(w.botID), &m); err != nil {
		t.Fatalf("reading the bot's membership in %s: %v", room, err)
	}
	return m.Membership
}

func TestInvitesAreAcceptedOnlyFromAllowedUsersIntoOpsRooms(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	// An ops room the bot is not invited to yet when it starts.
	later, err := w.alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "ops 2"})
	if err != nil {
		t.Fatal(err)
	}
	w.moreRooms = []id.RoomID{later.RoomID}
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})

	// eve (not allowed) invites the bot into her room; alice into a room that is not an ops room.
	evesRoom, err := w.eve.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{w.botID}})
	if err != nil {
		t.Fatal(err)
	}
	otherRoom, err := w.alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{w.botID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.alice.InviteUser(ctx, later.RoomID, &mautrix.ReqInviteUser{UserID: w.botID}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the bot joining the ops room alice invited it to", func() bool {
		return w.membership(t, w.alice, later.RoomID) == event.MembershipJoin
	})
	// The invites were all in the bot's sync by now; a command proves it went on past them.
	mustContain(t, "status", w.ask(t, w.alice, "!status web"), "**running**")
	if m := w.membership(t, w.eve, evesRoom.RoomID); m != event.MembershipInvite {
		t.Errorf("the bot's membership in the room of eve (not allowed) is %s, want it left at invite", m)
	}
	if m := w.membership(t, w.alice, otherRoom.RoomID); m != event.MembershipInvite {
		t.Errorf("the bot's membership in a room that is not an ops room is %s, want it left at invite", m)
	}
}
