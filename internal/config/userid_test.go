package config

import (
	"testing"

	"maunium.net/go/mautrix/id"
)

func TestIsUserIDAgreesWithMautrix(t *testing.T) {
	for _, s := range []string{
		"@alice:example.org", "@*:example.org", "@:x", "@a:b:c", "@alice:example.org:8448",
		"", "@", "alice", "alice:example.org", "@alice", "@alice:", "#room:example.org", "!abc:example.org",
	} {
		_, _, err := id.UserID(s).Parse()
		if got, want := IsUserID(s), err == nil; got != want {
			t.Errorf("IsUserID(%q) = %v; mautrix says %v", s, got, want)
		}
	}
}
