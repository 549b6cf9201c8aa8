package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/opsroom/opsroom/internal/config"
)

// movedKeys are keys of older configs, and what to write instead.
var movedKeys = map[string]string{
	"matrix.allowed_users": "moved to access.operators (who may change things) " +
		"and access.viewers (who may only look); move the list there",
}

// loadConfig reads the file at path and checks all of it at once: keys,
// values, secrets and every section's own rules. errs and warnings list
// what it found, each naming its key; err is a file that cannot be read or
// is not YAML.
func loadConfig(path string) (cfg *Config, errs, warnings []error, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil, fmt.Errorf("no config at %s: copy config.example.yaml there (opsroom -print-example > %s) and edit it, or name another file with -config", path, path)
	} else if err != nil {
		return nil, nil, nil, fmt.Errorf("reading config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, nil, config.SyntaxError(path, data, err)
	}
	// Every unknown key and bad value, found before anything is decoded; the
	// check removes them, so that the rest decodes and is validated too.
	problems := config.CheckNode(&doc, reflect.TypeFor[Config](), movedKeys)
	cfg = &Config{}
	if doc.Kind != 0 {
		if err := doc.Decode(cfg); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		}
	}
	var reported []string // keys whose value was wrong: validate would only say it again
	for _, p := range problems {
		errs = append(errs, p)
		if !p.UnknownKey {
			reported = append(reported, p.Path)
		}
	}
	e, w := cfg.validate()
	for _, err := range e {
		if !saidBefore(err, reported) {
			errs = append(errs, err)
		}
	}
	return cfg, errs, w, nil
}

// saidBefore says whether err is about a key (or a key inside one) whose value was already reported.
func saidBefore(err error, keys []string) bool {
	msg := err.Error()
	for _, k := range keys {
		if strings.HasPrefix(msg, k+":") || strings.HasPrefix(msg, k+".") || strings.HasPrefix(msg, k+"[") {
			return true
		}
	}
	return false
}
