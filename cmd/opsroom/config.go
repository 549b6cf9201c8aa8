package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/opsroom/opsroom/bot"
	"github.com/opsroom/opsroom/commands"
	"github.com/opsroom/opsroom/ops"
)

// Config is the whole config file; each package owns the type of its own section.
type Config struct {
	Matrix   bot.Config      `yaml:"matrix"`
	Access   commands.Access `yaml:"access"`
	Database string          `yaml:"database"`
	Audit    AuditConfig     `yaml:"audit"`
	Log      LogConfig       `yaml:"log"`
	Fleet    ops.Config      `yaml:",inline"`
}

// LogConfig is the `log:` section.
type LogConfig struct {
	Level  string `yaml:"level"`  // trace, debug, info, warn, error
	Format string `yaml:"format"` // console or json
}

// AuditConfig is the `audit:` section.
type AuditConfig struct {
	// Retention is how long audit rows are kept (0: for ever).
	Retention ops.Duration `yaml:"retention"`
}

var typeSection = map[string]string{
	"main.AuditConfig":  "audit",
	"main.Config":       "the top level",
	"main.LogConfig":    "log",
	"bot.Config":        "matrix",
	"bot.Encryption":    "matrix.encryption",
	"commands.Access":   "access",
	"ops.HostConfig":    "a host",
	"ops.ServiceConfig": "a service",
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
	e, w := c.Matrix.Validate()
	errs, warnings = append(errs, e...), append(warnings, w...)
	e, w = c.Fleet.Validate()
	errs, warnings = append(errs, e...), append(warnings, w...)
	e, w = c.Access.Validate(c.Fleet.Services)
	errs, warnings = append(errs, e...), append(warnings, w...)
	return errs, warnings
}
