package commands

import (
	"fmt"
	"regexp"
	"strings"

	"go.mau.fi/util/glob"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/config"
	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

// Role is what a sender may do: viewers look, operators change things.
type Role int

const (
	RoleNone Role = iota
	RoleViewer
	RoleOperator
)

func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleOperator:
		return "operator"
	}
	return "no role"
}

// Access is the `access:` section of the config: who has which role.
type Access struct {
	// Operators and Viewers are Matrix IDs or patterns (`*` matches any run of
	// characters, e.g. @*:example.org). An operator is also a viewer.
	Operators []string `yaml:"operators"`
	Viewers   []string `yaml:"viewers"`
	// OperatorPowerLevel, when above 0, makes every member of the ops room with
	// at least this power level an operator.
	OperatorPowerLevel int `yaml:"operator_power_level"`
	// RequireCrossSigned lets operator commands through only from devices their
	// owner has cross-signed (only encrypted messages carry that).
	RequireCrossSigned bool `yaml:"require_cross_signed"`
	// FourEyes makes a confirmation count only from an operator other than the
	// one who asked.
	FourEyes bool `yaml:"four_eyes"`
	// ConfirmTimeout is how long a command waits for its confirmation (default 2m).
	ConfirmTimeout config.Duration `yaml:"confirm_timeout" check:"positive"`
}

// Validate reports every problem at once, naming the key; it also checks the
// services' own operator lists.
func (a *Access) Validate(services map[string]*ops.ServiceConfig) (errs, warnings []error) {
	if len(a.Operators) == 0 && a.OperatorPowerLevel <= 0 {
		errs = append(errs, fmt.Errorf("access.operators: required: who may change things, e.g. [\"@alice:example.org\"] "+
			"(or set access.operator_power_level)"))
	}
	for _, list := range []struct {
		key      string
		patterns []string
	}{{"operators", a.Operators}, {"viewers", a.Viewers}} {
		for i, p := range list.patterns {
			if err := ValidUserPattern(p); err != nil {
				errs = append(errs, fmt.Errorf("access.%s[%d]: %w", list.key, i, err))
			}
		}
	}
	for name, svc := range services {
		for i, p := range svc.Operators {
			if err := ValidUserPattern(p); err != nil {
				errs = append(errs, fmt.Errorf("services.%s.operators[%d]: %w", name, i, err))
			}
		}
	}
	if a.ConfirmTimeout.Duration < 0 {
		errs = append(errs, fmt.Errorf("access.confirm_timeout: must be a positive duration like 2m"))
	}
	if a.OperatorPowerLevel < 0 || a.OperatorPowerLevel > 100 {
		errs = append(errs, fmt.Errorf("access.operator_power_level: %d is not a power level from 1 to 100 (0 turns it off)", a.OperatorPowerLevel))
	}
	return errs, warnings
}

// ValidUserPattern says what is wrong with a Matrix ID or pattern, if anything.
func ValidUserPattern(p string) error {
	if !config.IsUserID(p) {
		return fmt.Errorf("%q is not a user ID or pattern like @alice:example.org or @*:example.org", p)
	}
	if _, err := userPattern(p); err != nil {
		return fmt.Errorf("%q is not a valid pattern: %v", p, err)
	}
	return nil
}

// MatchUser says whether user is one of the IDs, or matches one of the
// patterns (the entries with a *).
func MatchUser(patterns []string, user id.UserID) bool {
	for _, p := range patterns {
		if p == string(user) {
			return true
		}
		if strings.Contains(p, "*") {
			if re, err := userPattern(p); err == nil && re.MatchString(string(user)) {
				return true
			}
		}
	}
	return false
}

// userPattern is an access pattern in Matrix's glob syntax (go.mau.fi/util/glob:
// * matches any run of characters, ? one), as a regular expression; unlike
// glob.Compile it tells upper from lower case, as Matrix does in user IDs.
func userPattern(p string) (*regexp.Regexp, error) {
	var re strings.Builder
	re.WriteString("^")
	_ = glob.ToRegexPattern(p, &re) // a strings.Builder does not fail
	re.WriteString("$")
	return regexp.Compile(re.String())
}

// NamedRole is the role user has by ID or pattern alone (power levels aside).
func (a *Access) NamedRole(user id.UserID) Role {
	switch {
	case MatchUser(a.Operators, user):
		return RoleOperator
	case MatchUser(a.Viewers, user):
		return RoleViewer
	}
	return RoleNone
}

// roleIn is the role of user in room: by ID or pattern, or by power level.
func (a *Access) roleIn(ce *Event) Role {
	role := a.NamedRole(ce.Sender)
	if role == RoleOperator || a.OperatorPowerLevel <= 0 {
		return role
	}
	var pl event.PowerLevelsEventContent
	if err := ce.Proc.Client.StateEvent(ce.Ctx, ce.RoomID, event.StatePowerLevels, "", &pl); err != nil {
		ce.Log.Warn().Err(err).Msg("Could not read the room's power levels")
		return role
	}
	if pl.GetUserLevel(ce.Sender) >= a.OperatorPowerLevel {
		return RoleOperator
	}
	return role
}

// authorize checks that the sender may run c (on the service named first in
// args, for operator commands); it returns the refusal to show, or nil.
func authorize(ce *Event, c *command, args []string) *outcome {
	a := &ce.Meta.Access
	refuse := func(reply, detail string) *outcome {
		o := &outcome{Reply: "⛔ " + reply, Result: store.ResultDenied, Detail: detail}
		// Audited under the service it named, so that !history SERVICE shows it.
		if len(args) > 0 {
			if svc, err := ce.Meta.Fleet.Lookup(args[0]); err == nil {
				o.Service = svc.Name
			}
		}
		return o
	}
	// A reaction confirms a command that came encrypted; only typed commands must be.
	if ce.Meta.RequireEncryption && ce.Event.Type == event.EventMessage && ce.Event.Mautrix.EventSource&event.SourceDecrypted == 0 {
		return &outcome{Reply: "🔒 Commands must be sent encrypted here (matrix.encryption.require): send it from a client with encryption on.",
			Result: store.ResultDenied, Detail: "sent unencrypted; matrix.encryption.require is on"}
	}
	role := a.roleIn(ce)
	switch {
	case role == RoleNone:
		return refuse(fmt.Sprintf("%s is not allowed to run commands here.", ce.Sender), "sender has no role (access.operators, access.viewers)")
	case role < c.needs():
		return refuse(fmt.Sprintf("%s needs the %s role; %s is a %s.", code(Prefix+c.Name), c.needs(), ce.Sender, role),
			fmt.Sprintf("needs role %s, sender is %s", c.needs(), role))
	}
	if c.needs() < RoleOperator {
		return nil
	}
	if a.RequireCrossSigned && !crossSigned(ce.Event) {
		return refuse(fmt.Sprintf("%s changes things, so it must come from a device you have cross-signed (access.require_cross_signed); "+
			"verify this session in your client and send it again.", code(Prefix+c.Name)), "device not cross-signed")
	}
	if len(args) > 0 {
		if svc, err := ce.Meta.Fleet.Lookup(args[0]); err == nil && !mayOperate(svc, ce.Sender) {
			return refuse(fmt.Sprintf("only %s may run %s on **%s** (services.%s.operators).",
				strings.Join(svc.Operators, ", "), code(Prefix+c.Name), svc.Name, svc.Name),
				"not in the service's operators")
		}
	}
	return nil
}

// mayOperate applies a service's own operator list, where it has one.
func mayOperate(svc *ops.ServiceConfig, user id.UserID) bool {
	return len(svc.Operators) == 0 || MatchUser(svc.Operators, user)
}

// crossSigned says whether the event came encrypted from a device its sender cross-signed.
func crossSigned(evt *event.Event) bool {
	return evt.Mautrix.EventSource&event.SourceDecrypted != 0 && evt.Mautrix.TrustState >= id.TrustStateCrossSignedTOFU
}
