package bot

import (
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"
)

func TestValidateSaysWhatIsMissing(t *testing.T) {
	c := &Config{Homeserver: "matrix.example.org", UserID: "opsroom", Rooms: []id.RoomID{"#ops:example.org"}}
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
		`matrix.encryption.pickle_key: required`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q:\n%s", want, got)
		}
	}
	if c.MaxJobs != defaultMaxJobs || c.DeviceName != defaultDeviceName {
		t.Errorf("defaults not filled: %+v", c)
	}
}

func TestEncryptionCanBeTurnedOffButNotHalfway(t *testing.T) {
	c := &Config{Encryption: Encryption{Disabled: true}}
	errs, _ := c.Validate()
	for _, e := range errs {
		if strings.Contains(e.Error(), "pickle_key") {
			t.Errorf("pickle_key required with encryption disabled: %v", e)
		}
	}
	c = &Config{Encryption: Encryption{Disabled: true, Require: true}}
	errs, _ = c.Validate()
	found := false
	for _, e := range errs {
		found = found || strings.Contains(e.Error(), "matrix.encryption.disabled")
	}
	if !found {
		t.Errorf("require with encryption disabled accepted: %v", errs)
	}
}
