package bot

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/ops"
)

// Config is the `matrix:` section of the config file.
type Config struct {
	Homeserver   string       `yaml:"homeserver"`
	UserID       id.UserID    `yaml:"user_id"`
	Password     ops.Secret   `yaml:"password"`
	AccessToken  ops.Secret   `yaml:"access_token"`
	DeviceName   string       `yaml:"device_name"`
	Rooms        []id.RoomID  `yaml:"rooms"`
	AlertRooms   []id.RoomID  `yaml:"alert_rooms"`
	AlertMention []id.UserID  `yaml:"alert_mention"`
	AllowedUsers []string     `yaml:"allowed_users"`
	MaxJobs      int          `yaml:"max_concurrent_jobs"`
	EditInterval ops.Duration `yaml:"edit_interval"`
}

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
	} else if _, _, err := c.UserID.Parse(); err != nil {
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
		if _, _, err := u.Parse(); err != nil {
			bad(fmt.Sprintf("alert_mention[%d]", i), "%q is not a Matrix user ID like @alice:example.org", u)
		}
	}
	if len(c.AllowedUsers) == 0 {
		bad("allowed_users", "required: who may run commands, e.g. [\"@alice:example.org\", \"@*:example.org\"]")
	}
	for i, p := range c.AllowedUsers {
		if !strings.HasPrefix(p, "@") || !strings.Contains(p, ":") {
			bad(fmt.Sprintf("allowed_users[%d]", i), "%q is not a user ID or pattern like @alice:example.org or @*:example.org", p)
		} else if _, err := path.Match(p, ""); err != nil {
			bad(fmt.Sprintf("allowed_users[%d]", i), "%q is not a valid pattern: %v", p, err)
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
	if c.DeviceName == "" {
		c.DeviceName = defaultDeviceName
	}
	return errs, warnings
}

func (c *Config) roomAllowed(room id.RoomID) bool {
	return slices.Contains(c.Rooms, room)
}

// userAllowed matches sender against the allowed IDs and patterns (`*` matches any run of characters).
func (c *Config) userAllowed(sender id.UserID) bool {
	for _, p := range c.AllowedUsers {
		if p == string(sender) {
			return true
		}
		if ok, _ := path.Match(p, string(sender)); ok && strings.Contains(p, "*") {
			return true
		}
	}
	return false
}
