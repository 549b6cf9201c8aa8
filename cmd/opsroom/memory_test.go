package main

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestGCPercentDefaultsUnlessTheEnvironmentSetsOne(t *testing.T) {
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	if p, set := gcPercent(env(nil)); !set || p != defaultGCPercent {
		t.Errorf("no GOGC: gcPercent = %d, %v; want %d, true", p, set, defaultGCPercent)
	}
	for _, v := range []string{"100", "off", ""} {
		if p, set := gcPercent(env(map[string]string{"GOGC": v})); set {
			t.Errorf("GOGC=%q: gcPercent = %d, true; want the environment's to stand", v, p)
		}
	}
}

func TestTuneMemorySetsTheCollector(t *testing.T) {
	was := debug.SetGCPercent(100)
	defer debug.SetGCPercent(was)

	// given GOGC set (even empty): the collector is left as it is
	t.Setenv("GOGC", "")
	if p, fromEnv := tuneMemory(); !fromEnv || p != 100 || debug.SetGCPercent(100) != 100 {
		t.Errorf("GOGC set: tuneMemory = %d, %v; want the current 100 left, from the environment", p, fromEnv)
	}

	// given no GOGC (t.Setenv restores it after): opsroom's default applies
	_ = os.Unsetenv("GOGC")
	if p, fromEnv := tuneMemory(); fromEnv || p != defaultGCPercent || debug.SetGCPercent(100) != defaultGCPercent {
		t.Errorf("no GOGC: tuneMemory = %d, %v; want %d set", p, fromEnv, defaultGCPercent)
	}
}
