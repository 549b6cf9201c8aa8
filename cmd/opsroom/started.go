package main

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the times in /proc/PID/stat: USER_HZ, 100 on every
// Linux architecture (it is part of the kernel's ABI).
const userHZ = 100

// processStart is when the kernel started this process, which on a busy
// machine can be a good fraction of a second before main runs: a command sent
// the moment the service manager started opsroom was sent after its start. It
// falls back to now where /proc cannot tell (not Linux, or no /proc).
func processStart() time.Time {
	now := time.Now()
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return now
	}
	uptime, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return now
	}
	age, ok := processAge(string(stat), string(uptime))
	if !ok || age < 0 || age > time.Minute {
		return now
	}
	return now.Add(-age)
}

// processAge is how long ago the process of stat (/proc/PID/stat) started,
// given the system's uptime (/proc/uptime); both count from boot.
func processAge(stat, uptime string) (time.Duration, bool) {
	// The command name (field 2) is in parentheses and may hold spaces and
	// parentheses itself: the fields after it start at the last ')'.
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, false
	}
	fields := strings.Fields(stat[end+1:])
	const startTimeField = 22 - 3 // field 22, counting from 1, of which the first after the name is field 3
	if len(fields) <= startTimeField {
		return 0, false
	}
	ticks, err := strconv.ParseUint(fields[startTimeField], 10, 64)
	if err != nil {
		return 0, false
	}
	up, _, _ := strings.Cut(strings.TrimSpace(uptime), " ")
	seconds, err := strconv.ParseFloat(up, 64)
	if err != nil {
		return 0, false
	}
	since := time.Duration(seconds*float64(time.Second)) - time.Duration(ticks)*time.Second/userHZ
	return since, true
}
