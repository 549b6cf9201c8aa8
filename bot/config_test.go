package bot

import (
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"
)

func TestAllowedUsersMatchIDsAndServerPatterns(t *testing.T) {
	c := &Config{AllowedUsers: []string{"@alice:example.org", "@*:ops.example.org"}}
	for user, want := range map[id.UserID]bool{
		"@alice:example.org":      true,
		"@bob:ops.example.org":    true,
		"@bob:example.org":        false,
		"@alice:example.org.evil": false,
		"@eve:evil.org":           false,
		"@x:ops.example.org:1":    false,
	} {
		if got := c.userAllowed(user); got != want {
			t.Errorf("userAllowed(%s) = %v, want %v", user, got, want)
		}
	}
}

func TestValidateSaysWhatIsMissing(t *testing.T) {
	c := &Config{Homeserver: "matrix.example.org", UserID: "opsroom", Rooms: []id.RoomID{"#ops:example.org"}, AllowedUsers: []string{"alice"}}
	errs, _ := c.Validate()
	var all []string
	for _, e := range errs {
		all = append(all, e.Error())
	}
	got := strings.Join(all, "\n")
	for _, want := range []string{
		`matrix.homeserver: "matrix.example.org" is not an http(s) URL`,
		`matrix.user_id: "opsroom" is not a Matrix user ID`,
		`matrix.password: set password or access_token`,
		`matrix.rooms[0]: "#ops:example.org" is not a room ID`,
		`matrix.allowed_users[0]: "alice" is not a user ID or pattern`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q:\n%s", want, got)
		}
	}
	if c.MaxJobs != defaultMaxJobs || c.DeviceName != defaultDeviceName {
		t.Errorf("defaults not filled: %+v", c)
	}
}
