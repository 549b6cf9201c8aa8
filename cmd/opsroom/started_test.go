package main

import (
	"testing"
	"time"
)

func TestProcessAgeReadsProcStat(t *testing.T) {
	// given a process named with a space and a parenthesis, started 12345.67 s after boot
	stat := "4242 (opsroom (x) 2) S 1 4242 4242 0 -1 4194560 1043 0 0 0 3 1 0 0 20 0 9 0 1234567 1290092544 4867 18446744073709551615"
	// when the system has been up 12346.00 s
	age, ok := processAge(stat, "12346.00 24000.50\n")
	// then it started 0.33 s ago
	if !ok || age != 330*time.Millisecond {
		t.Errorf("processAge = %v, %v; want 330ms, true", age, ok)
	}
	if _, ok := processAge("4242 (opsroom) S 1", "12346.00 1.00"); ok {
		t.Errorf("processAge of a short stat line is ok, want not")
	}
}

func TestProcessStartIsBeforeMain(t *testing.T) {
	now := time.Now()
	start := processStart()
	if start.After(now) || now.Sub(start) > time.Minute {
		t.Errorf("processStart = %s, %s before now; want a moment before now", start, now.Sub(start))
	}
}
