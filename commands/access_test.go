package commands

import (
	"strings"
	"testing"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/ops"
)

func TestNamedRoleMatchesIDsAndServerPatterns(t *testing.T) {
	a := &Access{Operators: []string{"@alice:example.org"}, Viewers: []string{"@*:ops.example.org"}}
	for user, want := range map[id.UserID]Role{
		"@alice:example.org":      RoleOperator,
		"@bob:ops.example.org":    RoleViewer,
		"@bob:example.org":        RoleNone,
		"@alice:example.org.evil": RoleNone,
		"@eve:evil.org":           RoleNone,
		"@x:ops.example.org:1":    RoleNone,
	} {
		if got := a.NamedRole(user); got != want {
			t.Errorf("NamedRole(%s) = %s, want %s", user, got, want)
		}
	}
}

func TestAccessValidateNamesTheKey(t *testing.T) {
	a := &Access{Viewers: []string{"alice"}, OperatorPowerLevel: -1}
	errs, _ := a.Validate(map[string]*ops.ServiceConfig{"homeserver": {Operators: []string{"@ok:example.org", "bob"}}})
	var all []string
	for _, e := range errs {
		all = append(all, e.Error())
	}
	got := strings.Join(all, "\n")
	for _, want := range []string{
		"access.operators: required",
		`access.viewers[0]: "alice" is not a user ID or pattern`,
		`services.homeserver.operators[1]: "bob" is not a user ID`,
		"access.operator_power_level: -1 is not a power level",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q:\n%s", want, got)
		}
	}
}

func TestEveryChangingCommandNeedsAnOperator(t *testing.T) {
	for _, c := range registry() {
		changes := false
		for _, verb := range append(ops.ChangingVerbs, "cancel", "mute", "unmute", "reload", "confirm", "deny") {
			changes = changes || c.Name == verb
		}
		if want := map[bool]Role{true: RoleOperator, false: RoleViewer}[changes]; c.needs() != want {
			t.Errorf("!%s needs %s, want %s", c.Name, c.needs(), want)
		}
	}
}

func TestCrossSignedNeedsAnEncryptedMessageFromACrossSignedDevice(t *testing.T) {
	for _, tc := range []struct {
		name   string
		source event.Source
		trust  id.TrustState
		want   bool
	}{
		{"plain", event.SourceTimeline, id.TrustStateUnset, false},
		{"plain claiming trust", event.SourceTimeline, id.TrustStateCrossSignedVerified, false},
		{"encrypted, unsigned device", event.SourceTimeline | event.SourceDecrypted, id.TrustStateUnknownDevice, false},
		{"encrypted, cross-signed (TOFU)", event.SourceTimeline | event.SourceDecrypted, id.TrustStateCrossSignedTOFU, true},
		{"encrypted, cross-signed and verified", event.SourceTimeline | event.SourceDecrypted, id.TrustStateCrossSignedVerified, true},
	} {
		evt := &event.Event{}
		evt.Mautrix.EventSource, evt.Mautrix.TrustState = tc.source, tc.trust
		if got := crossSigned(evt); got != tc.want {
			t.Errorf("%s: crossSigned = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestUserPatternsAreMatrixGlobsThatKeepCase(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		user    id.UserID
		want    bool
	}{
		{"@*:example.org", "@bridge/irc:example.org", true}, // * is any run of characters, a / too
		{"@ops-*:example.org", "@ops-alice:example.org", true},
		{"@ops-*:example.org", "@OPS-alice:example.org", false}, // user IDs keep their case
		{"@*:example.org", "@alice:Example.org", false},
		{"@alice:example.org", "@Alice:example.org", false},
		{"@?ob:example.org", "@bob:example.org", false}, // only entries with a * are patterns
		{"@?ob*:example.org", "@bob:example.org", true},
		{"@[ab]*:example.org", "@alice:example.org", false}, // no character classes in Matrix globs
		{"@[ab]*:example.org", "@[ab]x:example.org", true},
	} {
		if got := MatchUser([]string{tc.pattern}, tc.user); got != tc.want {
			t.Errorf("MatchUser(%q, %s) = %v, want %v", tc.pattern, tc.user, got, tc.want)
		}
	}
}
