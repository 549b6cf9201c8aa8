package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Secret is a value given inline, or as {file: PATH} or {env: NAME}. It never
// prints its value: only Reveal returns it.
type Secret struct {
	value string
	File  string
	Env   string
}

// UnmarshalYAML accepts a plain scalar or a mapping with file or env.
func (s *Secret) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind == yaml.ScalarNode {
		s.value = node.Value
		return nil
	}
	var ref struct {
		File string `yaml:"file"`
		Env  string `yaml:"env"`
	}
	if err := node.Decode(&ref); err != nil {
		return err
	}
	if (ref.File == "") == (ref.Env == "") {
		return fmt.Errorf("line %d: a secret is a plain value, {file: PATH} or {env: NAME}", node.Line)
	}
	s.File, s.Env = ExpandHome(ref.File), ref.Env
	return nil
}

// IsSet says whether the secret was given at all.
func (s Secret) IsSet() bool { return s.value != "" || s.File != "" || s.Env != "" }

// Reveal reads the secret. A file's trailing newline is dropped.
func (s Secret) Reveal() (string, error) {
	switch {
	case s.File != "":
		data, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("reading secret: %w", err)
		}
		return strings.TrimRight(string(data), "\r\n"), nil
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("reading secret: environment variable %s is not set", s.Env)
		}
		return v, nil
	case s.value != "":
		return s.value, nil
	}
	return "", errors.New("secret is not set")
}

// String never shows the value.
func (s Secret) String() string {
	switch {
	case s.File != "":
		return "[secret from file " + s.File + "]"
	case s.Env != "":
		return "[secret from $" + s.Env + "]"
	case s.value != "":
		return "[redacted]"
	}
	return "[unset]"
}

// GoString keeps %#v from showing the value.
func (s Secret) GoString() string { return s.String() }

// Format keeps every fmt verb (%v, %+v, %s, %q) from showing the value.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// MarshalText keeps encoders (JSON logs, YAML) from showing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Check reads the secret as Reveal does, and says why it cannot be read,
// naming the environment variable or file, never the value: the config
// check runs it, so that opsroom refuses to start before it creates anything.
func (s Secret) Check() error {
	switch {
	case s.File != "":
		data, err := os.ReadFile(s.File)
		if err != nil {
			return fmt.Errorf("the secret's file cannot be read: %w; create it (readable by opsroom's user), or give the secret as {env: NAME}", err)
		}
		if strings.TrimRight(string(data), "\r\n") == "" {
			return fmt.Errorf("the secret's file %s is empty", s.File)
		}
	case s.Env != "":
		if v, ok := os.LookupEnv(s.Env); !ok || v == "" {
			return fmt.Errorf("environment variable %s is not set (or empty); set it in opsroom's environment, or give the secret as {file: PATH}", s.Env)
		}
	}
	return nil
}
