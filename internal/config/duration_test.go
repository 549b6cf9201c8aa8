package config

import (
	"testing"
	"time"
)

func TestParseDurationTakesDays(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"90d": 90 * 24 * time.Hour, "0d": 0, "30m": 30 * time.Minute, "1h30m": 90 * time.Minute, "2s": 2 * time.Second,
	} {
		if got, err := ParseDuration(s); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s", s, got, err, want)
		}
	}
	for _, s := range []string{"", "d", "-1d", "1.5d", "1w", "ten"} {
		if got, err := ParseDuration(s); err == nil {
			t.Errorf("ParseDuration(%q) = %s, want an error", s, got)
		}
	}
}
