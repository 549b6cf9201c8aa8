package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/opsroom/opsroom/bot"
	"github.com/opsroom/opsroom/commands"
	"github.com/opsroom/opsroom/internal/config"
	"github.com/opsroom/opsroom/internal/monitor"
	"github.com/opsroom/opsroom/ops"
)

// Config is the whole config file; each package owns the type of its own section.
type Config struct {
	Matrix   bot.Config      `yaml:"matrix"`
	Access   commands.Access `yaml:"access"`
	Database string          `yaml:"database"`
	Audit    AuditConfig     `yaml:"audit"`
	// Retention is how long the other growing tables keep their rows.
	Retention RetentionConfig `yaml:"retention"`
	// DisplayTimezone is the zone of every time opsroom shows (an IANA name
	// such as Europe/Berlin; default the host's local zone, UTC in the image).
	DisplayTimezone string     `yaml:"display_timezone"`
	Log             LogConfig  `yaml:"log"`
	Fleet           ops.Config `yaml:",inline"`
	// HTTP and Heartbeat are how opsroom itself is watched (internal/monitor).
	HTTP      monitor.HTTP      `yaml:"http"`
	Heartbeat monitor.Heartbeat `yaml:"heartbeat"`
}

// LogConfig is the `log:` section.
type LogConfig struct {
	Level  string `yaml:"level"`  // trace, debug, info, warn, error
	Format string `yaml:"format"` // console or json
}

// AuditConfig is the `audit:` section.
type AuditConfig struct {
	// Retention is how long audit rows are kept (0: for ever).
	Retention config.Duration `yaml:"retention"`
}

// RetentionConfig is the `retention:` section: how long rows are kept (0: for ever).
type RetentionConfig struct {
	Alerts        config.Duration `yaml:"alerts"`        // alerts and their deliveries (default 90d)
	UpdateRuns    config.Duration `yaml:"update_runs"`   // (default 365d)
	Confirmations config.Duration `yaml:"confirmations"` // closed ones (default 30d)
}

// defaultRetention applies where the retention: section says nothing.
var defaultRetention = RetentionConfig{
	Alerts:        config.Duration{Duration: 90 * 24 * time.Hour},
	UpdateRuns:    config.Duration{Duration: 365 * 24 * time.Hour},
	Confirmations: config.Duration{Duration: 30 * 24 * time.Hour},
}

var typeSection = map[string]string{
	"main.AuditConfig":     "audit",
	"main.RetentionConfig": "retention",
	"main.Config":          "the top level",
	"main.LogConfig":       "log",
	"bot.Config":           "matrix",
	"bot.Encryption":       "matrix.encryption",
	"commands.Access":      "access",
	"ops.HostConfig":       "a host",
	"ops.ServiceConfig":    "a service",
	"ops.Step":             "a step of update: or rollback:",
	"monitor.HTTP":         "http",
	"monitor.Heartbeat":    "heartbeat",
}

var unknownFieldRE = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\S+)$`)

// loadConfig reads and parses the file; it reports every unknown key at once.
func loadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no config at %s: copy config.example.yaml there and edit it, or name another file with -config", path)
	} else if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		var typeErr *yaml.TypeError
		if errors.As(err, &typeErr) {
			msgs := make([]string, len(typeErr.Errors))
			for i, e := range typeErr.Errors {
				msgs[i] = explainYAMLError(e)
			}
			return nil, fmt.Errorf("%s:\n  %s", path, strings.Join(msgs, "\n  "))
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &cfg, nil
}

func explainYAMLError(msg string) string {
	m := unknownFieldRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	if m[2] == "allowed_users" && m[3] == "bot.Config" {
		return fmt.Sprintf("line %s: matrix.allowed_users is now access.operators (who may change things) "+
			"and access.viewers (who may only look); move the list there", m[1])
	}
	section := typeSection[m[3]]
	if section == "" {
		section = m[3]
	}
	return fmt.Sprintf("line %s: unknown key %q in %s; see config.example.yaml for the keys it takes", m[1], m[2], section)
}

// validate fills defaults and collects every section's errors and warnings.
func (c *Config) validate() (errs, warnings []error) {
	if c.Database == "" {
		c.Database = "opsroom.db"
	}
	switch c.Log.Level {
	case "":
		c.Log.Level = "info"
	case "trace", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q is not one of trace, debug, info, warn, error", c.Log.Level))
	}
	switch c.Log.Format {
	case "":
		c.Log.Format = "console"
	case "console", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q is not console or json", c.Log.Format))
	}
	if c.Audit.Retention.Duration < 0 {
		errs = append(errs, fmt.Errorf("audit.retention: must be a positive duration like 365d, or 0 to keep every row"))
	}
	for key, d := range map[string]*config.Duration{
		"retention.alerts": &c.Retention.Alerts, "retention.update_runs": &c.Retention.UpdateRuns, "retention.confirmations": &c.Retention.Confirmations,
	} {
		if d.Duration < 0 {
			errs = append(errs, fmt.Errorf("%s: must be a positive duration like 90d, or leave it out for the default", key))
		}
	}
	if c.Retention.Alerts.Duration == 0 {
		c.Retention.Alerts = defaultRetention.Alerts
	}
	if c.Retention.UpdateRuns.Duration == 0 {
		c.Retention.UpdateRuns = defaultRetention.UpdateRuns
	}
	if c.Retention.Confirmations.Duration == 0 {
		c.Retention.Confirmations = defaultRetention.Confirmations
	}
	if c.DisplayTimezone != "" {
		if _, err := time.LoadLocation(c.DisplayTimezone); err != nil {
			errs = append(errs, fmt.Errorf("display_timezone: %q is not a time zone; use an IANA name such as Europe/Berlin or UTC", c.DisplayTimezone))
		}
	}
	e, w := c.Matrix.Validate()
	errs, warnings = append(errs, e...), append(warnings, w...)
	e, w = c.Fleet.Validate()
	errs, warnings = append(errs, e...), append(warnings, w...)
	e, w = c.Access.Validate(c.Fleet.Services)
	errs, warnings = append(errs, e...), append(warnings, w...)
	e, w = c.HTTP.Validate()
	errs, warnings = append(errs, e...), append(warnings, w...)
	e, w = c.Heartbeat.Validate()
	errs, warnings = append(errs, e...), append(warnings, w...)
	return errs, warnings
}
