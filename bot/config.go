package bot

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/config"
)

// Config is the `matrix:` section of the config file.
type Config struct {
	Homeserver   string          `yaml:"homeserver"`
	UserID       id.UserID       `yaml:"user_id"`
	Password     config.Secret   `yaml:"password"`
	AccessToken  config.Secret   `yaml:"access_token"`
	DeviceName   string          `yaml:"device_name"`
	Rooms        []id.RoomID     `yaml:"rooms"`
	AlertRooms   []id.RoomID     `yaml:"alert_rooms"`
	AlertMention []id.UserID     `yaml:"alert_mention"`
	MaxJobs      int             `yaml:"max_concurrent_jobs" check:"positive"`
	EditInterval config.Duration `yaml:"edit_interval"`
	Encryption   Encryption      `yaml:"encryption"`
}

// Encryption is the `matrix.encryption:` section: end-to-end encryption with
// mautrix's crypto helper, its keys kept in opsroom's database.
type Encryption struct {
	// Disabled turns encryption off: opsroom then reads only plain rooms.
	Disabled bool `yaml:"disabled"`
	// PickleKey encrypts the Olm/Megolm keys at rest in the database.
	PickleKey config.Secret `yaml:"pickle_key"`
	// Require refuses commands that arrive unencrypted.
	Require bool `yaml:"require"`
	// RecoveryKey, when set, cross-signs opsroom's device with the account's
	// self-signing key from secret storage, so that clients show it as verified.
	RecoveryKey config.Secret `yaml:"recovery_key"`
}

// Enabled says whether opsroom does end-to-end encryption.
func (e *Encryption) Enabled() bool { return !e.Disabled }

const (
	defaultDeviceName = "opsroom"
	defaultMaxJobs    = 4
)

// Validate fills defaults and reports every problem at once, naming the key.
func (c *Config) Validate() (errs, warnings []error) {
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("matrix.%s: "+format, append([]any{key}, args...)...))
	}
	if u, err := url.Parse(c.Homeserver); c.Homeserver == "" {
		bad("homeserver", "required: the homeserver's client URL, e.g. https://matrix.example.org")
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("homeserver", "%q is not an http(s) URL, e.g. https://matrix.example.org", c.Homeserver)
	}
	if c.UserID == "" {
		bad("user_id", "required: the bot's Matrix ID, e.g. @opsroom:example.org")
	} else if !config.IsUserID(string(c.UserID)) {
		bad("user_id", "%q is not a Matrix user ID like @opsroom:example.org", c.UserID)
	}
	switch {
	case !c.Password.IsSet() && !c.AccessToken.IsSet():
		bad("password", "set password or access_token (inline, {file: PATH} or {env: NAME})")
	case c.Password.IsSet() && c.AccessToken.IsSet():
		warnings = append(warnings, fmt.Errorf("matrix.access_token: both password and access_token are set; the access token is used"))
	}
	if len(c.Rooms) == 0 {
		bad("rooms", "required: at least one ops room ID, e.g. [\"!abc123:example.org\"]")
	}
	for _, list := range []struct {
		key   string
		rooms []id.RoomID
	}{{"rooms", c.Rooms}, {"alert_rooms", c.AlertRooms}} {
		key := list.key
		for i, r := range list.rooms {
			if !strings.HasPrefix(string(r), "!") || !strings.Contains(string(r), ":") {
				bad(fmt.Sprintf("%s[%d]", key, i), "%q is not a room ID like !abc123:example.org (aliases are not accepted)", r)
			}
		}
	}
	for i, u := range c.AlertMention {
		if !config.IsUserID(string(u)) {
			bad(fmt.Sprintf("alert_mention[%d]", i), "%q is not a Matrix user ID like @alice:example.org", u)
		}
	}
	if c.MaxJobs < 0 {
		bad("max_concurrent_jobs", "must be at least 1, got %d", c.MaxJobs)
	} else if c.MaxJobs == 0 {
		c.MaxJobs = defaultMaxJobs
	}
	if c.EditInterval.Duration < 0 {
		bad("edit_interval", "must be a positive duration like 2s")
	}
	if c.Encryption.Enabled() && !c.Encryption.PickleKey.IsSet() {
		bad("encryption.pickle_key", "required: a secret that encrypts opsroom's encryption keys at rest "+
			"(e.g. the output of `openssl rand -base64 32`, as {env: OPSROOM_PICKLE_KEY}); "+
			"or set matrix.encryption.disabled: true to use plain rooms only")
	}
	if !c.Encryption.Enabled() && (c.Encryption.Require || c.Encryption.RecoveryKey.IsSet()) {
		bad("encryption.disabled", "is true, but encryption.require or encryption.recovery_key is set; remove one or the other")
	}
	if c.DeviceName == "" {
		c.DeviceName = defaultDeviceName
	}
	return errs, warnings
}

// roomAllowed says whether commands are read in room.
func (c *Config) roomAllowed(room id.RoomID) bool {
	return slices.Contains(c.Rooms, room)
}

// talkRooms are the rooms opsroom joins and speaks in: the ops rooms and the alert rooms.
func (c *Config) talkRooms() []id.RoomID {
	rooms := slices.Clone(c.Rooms)
	for _, r := range c.AlertRooms {
		if !slices.Contains(rooms, r) {
			rooms = append(rooms, r)
		}
	}
	return rooms
}
