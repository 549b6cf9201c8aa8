package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal and returns its terminal side (what a
// program started in a terminal has as stderr) and its controlling side,
// which reads what was written.
func openPTY(t *testing.T) (term, ctl *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ctl.Close() })
	if err := unix.IoctlSetPointerInt(int(ctl.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ctl.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	term, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { term.Close() })
	return term, ctl
}

func TestConsoleLogsAreColouredOnlyOnATerminal(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	cfg := LogConfig{Level: "info", Format: "console"}

	// Given stderr redirected to a file, as `opsroom 2>opsroom.log` or the journal has it,
	file, err := os.Create(filepath.Join(t.TempDir(), "opsroom.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	// when opsroom logs,
	log := newLoggerTo(cfg, file, colourFor(file))
	log.Error().Str("host", "spark").Msg("Probe failed")
	// then the lines carry no escape codes.
	data, err := os.ReadFile(file.Name())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsRune(data, 0x1b) || !strings.Contains(string(data), "Probe failed host=spark") {
		t.Errorf("a log file got %q, want plain text", data)
	}

	// Given stderr on a terminal, the same line is coloured,
	term, ctl := openPTY(t)
	if !colourFor(term) {
		t.Fatalf("a terminal is not taken for one")
	}
	log = newLoggerTo(cfg, term, colourFor(term))
	log.Error().Str("host", "spark").Msg("Probe failed")
	buf := make([]byte, 4096)
	n, err := ctl.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.ContainsRune(buf[:n], 0x1b) {
		t.Errorf("a terminal got %q, want colours", buf[:n])
	}
	// unless NO_COLOR asks for none.
	t.Setenv("NO_COLOR", "1")
	if colourFor(term) {
		t.Errorf("NO_COLOR=1 on a terminal still colours")
	}
}

func TestJSONLogsAreOneObjectPerLine(t *testing.T) {
	var buf bytes.Buffer
	log := newLoggerTo(LogConfig{Level: "debug", Format: "json"}, &buf, true)
	log.Warn().Str("service", "bridge").Int("exit_code", 137).Msg("Service exited")
	log.Debug().Msg("second")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil {
		t.Fatalf("not JSON: %v: %s", err, lines[0])
	}
	for key, want := range map[string]any{"level": "warn", "service": "bridge", "exit_code": 137.0, "message": "Service exited"} {
		if entry[key] != want {
			t.Errorf("%s = %v, want %v (line %s)", key, entry[key], want, lines[0])
		}
	}
	if _, ok := entry["time"].(string); !ok || bytes.ContainsRune(buf.Bytes(), 0x1b) {
		t.Errorf("want a time field and no escape codes: %s", lines[0])
	}
}
