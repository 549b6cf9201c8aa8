package main

import (
	"os"
	"runtime/debug"
)

// defaultGCPercent is the garbage collector's GOGC when opsroom's
// environment does not set one. opsroom is a small heap (a few MB live,
// most of it the fleet's connections) that mostly idles: Go's default of 100
// lets the heap grow to twice what is live before collecting, and the
// binary's idle memory with it (see the README's Benchmarks). At 25 a
// collection comes after a quarter more, for a little more CPU while
// commands run. GOGC in the environment (or GOMEMLIMIT beside it) still
// decides, as for any Go program.
const defaultGCPercent = 25

// gcPercent is the GOGC opsroom sets, if any: none when the environment sets one.
func gcPercent(lookupEnv func(string) (string, bool)) (percent int, set bool) {
	if _, ok := lookupEnv("GOGC"); ok {
		return 0, false
	}
	return defaultGCPercent, true
}

// tuneMemory sets opsroom's GOGC unless its environment did, and says which applies.
func tuneMemory() (percent int, fromEnv bool) {
	percent, set := gcPercent(os.LookupEnv)
	if !set {
		// SetGCPercent answers with the setting it replaces: set it back.
		percent = debug.SetGCPercent(100)
		debug.SetGCPercent(percent)
		return percent, true
	}
	debug.SetGCPercent(percent)
	return percent, false
}
