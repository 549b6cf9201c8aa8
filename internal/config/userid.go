package config

import "strings"

// IsUserID says whether s has the shape of a Matrix user ID,
// @localpart:server, as mautrix's id.UserID.Parse checks it: an @, and a
// server after the first colon. A pattern like @*:example.org has it too.
func IsUserID(s string) bool {
	rest, ok := strings.CutPrefix(s, "@")
	_, server, found := strings.Cut(rest, ":")
	return ok && found && server != ""
}
