// Package config holds the config types that several of opsroom's packages
// share: secrets, durations and the check of Matrix user IDs. It imports
// nothing of the project.
package config
