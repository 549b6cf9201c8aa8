// Package config holds the config types that several of opsroom's packages
// share, secrets and durations; it imports nothing of the project.
package config
