package main

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/opsroom/opsroom/bot"
	"github.com/opsroom/opsroom/commands"
	"github.com/opsroom/opsroom/internal/config"
	"github.com/opsroom/opsroom/internal/ha"
	"github.com/opsroom/opsroom/internal/monitor"
	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

// Config is the whole config file; each package owns the type of its own section.
type Config struct {
	Matrix bot.Config      `yaml:"matrix"`
	Access commands.Access `yaml:"access"`
	// Alerts is what happens to an alert no one takes: reminders, escalation.
	Alerts bot.AlertsConfig `yaml:"alerts"`
	// Database is a SQLite file, or a postgres:// URI; DatabasePassword is
	// the PostgreSQL password, a secret kept out of the URI.
	Database         string        `yaml:"database"`
	DatabasePassword config.Secret `yaml:"database_password"`
	Audit            AuditConfig   `yaml:"audit"`
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
	// Maintenance are the scheduled maintenance windows.
	Maintenance []bot.MaintenanceWindow `yaml:"maintenance"`
	// HA is how instances sharing a PostgreSQL database take turns (internal/ha).
	HA ha.Config `yaml:"ha"`
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

// validateDatabase checks the database: key and its password.
func (c *Config) validateDatabase() (errs, warnings []error) {
	if !store.IsPostgres(c.Database) {
		if c.DatabasePassword.IsSet() {
			errs = append(errs, errors.New("database_password: is for a PostgreSQL database (database: postgres://USER@HOST/DB); database: names a SQLite file"))
		}
		return errs, nil
	}
	u, err := url.Parse(c.Database)
	if err != nil {
		return []error{fmt.Errorf("database: %s is not a PostgreSQL URI (postgres://USER@HOST:PORT/DATABASE?sslmode=require): %v",
			store.Redacted(c.Database), errors.Unwrap(err))}, nil
	}
	if _, inline := u.User.Password(); inline {
		if c.DatabasePassword.IsSet() {
			errs = append(errs, errors.New("database: the URI holds a password and database_password gives another; keep one, database_password"))
		} else {
			warnings = append(warnings, errors.New("database: the URI holds a password in the config file; give it as database_password: {env: NAME} or {file: PATH} instead"))
		}
	}
	return errs, warnings
}

// validate fills defaults and collects every section's errors and warnings.
func (c *Config) validate() (errs, warnings []error) {
	if c.Database == "" {
		c.Database = "opsroom.db"
	}
	errs, warnings = c.validateDatabase()
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
	e, w = c.Alerts.Validate()
	errs, warnings = append(errs, e...), append(warnings, w...)
	e, w = c.Fleet.Validate()
	errs, warnings = append(errs, e...), append(warnings, w...)
	if len(c.Fleet.Services) == 0 {
		// A fleet without services is fine to the fleet (its tests build them), not to a user.
		errs = append(errs, errors.New("services: at least one service is needed: opsroom operates and watches the services named there (see config.example.yaml)"))
	}
	e, w = c.Access.Validate(c.Fleet.Services)
	errs, warnings = append(errs, e...), append(warnings, w...)
	services, hosts := map[string]bool{}, map[string]bool{}
	for name := range c.Fleet.Services {
		services[name] = true
	}
	for name := range c.Fleet.Hosts {
		hosts[name] = true
	}
	errs = append(errs, bot.ValidateMaintenance(c.Maintenance, services, hosts)...)
	e, w = c.HTTP.Validate()
	errs, warnings = append(errs, e...), append(warnings, w...)
	e, w = c.Heartbeat.Validate()
	errs, warnings = append(errs, e...), append(warnings, w...)
	lease := c.HA.Lease.Duration
	errs = append(errs, c.HA.Validate()...)
	if lease != 0 && !store.IsPostgres(c.Database) {
		warnings = append(warnings, fmt.Errorf("ha.lease: a standby needs a database the instances share (a postgres:// URI); "+
			"a SQLite file is one instance's, so %s has no effect", lease))
	}
	return errs, warnings
}
