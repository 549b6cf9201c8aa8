// Package opsroom carries the repository's documented example config into the
// binary, for `opsroom -print-example`: go:embed cannot reach a parent
// directory, so the embedding lives beside the file.
package opsroom

import _ "embed"

// ExampleConfig is config.example.yaml, which documents every key.
//
//go:embed config.example.yaml
var ExampleConfig []byte
