package testworld

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

func TestHomeserverCarriesAMessageBetweenTwoUsers(t *testing.T) {
	Short(t)
	hs := StartHomeserver(t)
	ctx := context.Background()
	alice, bob := hs.Client(t, "alice"), hs.Client(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(ctx, room.RoomID, "hello bob"); err != nil {
		t.Fatal(err)
	}
	// Dendrite hands a sent event to its sync API asynchronously: bob sees it a moment later.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		msgs, err := bob.Messages(ctx, room.RoomID, "", "", mautrix.DirectionBackward, nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, evt := range msgs.Chunk {
			_ = evt.Content.ParseRaw(evt.Type)
			if evt.Sender == alice.UserID && evt.Content.AsMessage().Body == "hello bob" {
				return
			}
		}
	}
	t.Errorf("bob does not see alice's message within 10 s")
}

func TestSSHDAcceptsThePinnedKeyOnly(t *testing.T) {
	Short(t)
	RequireDocker(t)
	s := StartSSHD(t)
	ssh := func(knownHosts string) (string, error) {
		_, port, _ := strings.Cut(s.Addr, ":")
		out, err := exec.Command("ssh", "-i", s.IdentityFile, "-p", port,
			"-o", "UserKnownHostsFile="+knownHosts, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
			s.User+"@127.0.0.1", "sudo", "-n", "-iu", Owner, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
		return string(out), err
	}
	for _, pinned := range []string{s.KnownHosts, s.HashedKnownHosts} {
		if out, err := ssh(pinned); err != nil {
			t.Errorf("ssh with the key pinned in %s: %v\n%s", pinned, err, out)
		}
	}
	if out, err := ssh(s.WrongKnownHosts(t)); err == nil || !strings.Contains(out, "HOST IDENTIFICATION HAS CHANGED") {
		t.Errorf("ssh with a wrong pinned key was not refused as a changed host key: %v\n%s", err, out)
	}
}

func TestServiceContainerRunsAndLogs(t *testing.T) {
	Short(t)
	RequireDocker(t)
	c := RunContainer(t, UniqueName(t, "svc"), map[string]string{"LINES": "3"})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(Docker(t, "logs", c.Name), "log line 3") {
		if time.Now().After(deadline) {
			t.Fatalf("container logs lack the 3 lines: %q", Docker(t, "logs", c.Name))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := Inspect(t, c.Name, "{{.State.Status}}"); got != "running" {
		t.Errorf("container is %s, want running", got)
	}
}

// TestSSHDKeepsOpenSSHsDefaultLimits: the test hosts' sshd must limit sessions
// and new connections as users' hosts do; a raised limit would hide what
// max_sessions and the session queue are for.
func TestSSHDKeepsOpenSSHsDefaultLimits(t *testing.T) {
	Short(t)
	s := StartSSHD(t)
	out, err := exec.Command(sshdBinary, "-T", "-f", s.config, "-C", "user="+s.User+",host=localhost,addr=127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("sshd -T: %v\n%s", err, out)
	}
	for _, want := range []string{"\nmaxsessions 10\n", "\nmaxstartups 10:30:100\n"} {
		if !strings.Contains("\n"+string(out), want) {
			t.Errorf("the test sshd's effective config lacks %q", strings.TrimSpace(want))
		}
	}
}

// TestSSHDLetsOnlyTheLoginUsersIn: the test hosts' sshd is shaped like
// users' hosts: the key logs in as the login user, and neither as root nor
// as the owner until a test authorizes it; sshd's log names who logged in.
func TestSSHDLetsOnlyTheLoginUsersIn(t *testing.T) {
	Short(t)
	s := StartSSHD(t)
	ssh := func(user string) (string, error) {
		_, port, _ := strings.Cut(s.Addr, ":")
		out, err := exec.Command("ssh", "-i", s.IdentityFile, "-p", port,
			"-o", "UserKnownHostsFile="+s.KnownHosts, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
			user+"@127.0.0.1", "id", "-un").CombinedOutput()
		return string(out), err
	}
	if out, err := ssh(Login); err != nil || !strings.Contains(out, Login) {
		t.Errorf("ssh as %s: %v\n%s", Login, err, out)
	}
	for _, user := range []string{"root", Owner, DashLogin} {
		if out, err := ssh(user); err == nil {
			t.Errorf("ssh as %s was let in, want it refused:\n%s", user, out)
		}
	}
	s.AuthorizeOwner(t)
	if out, err := ssh(Owner); err != nil || !strings.Contains(out, Owner) {
		t.Errorf("ssh as %s once authorized: %v\n%s", Owner, err, out)
	}
	if got, want := strings.Join(s.LoggedIn(), " "), Login+" "+Owner; got != want {
		t.Errorf("sshd's log says %q logged in, want %q", got, want)
	}
}
