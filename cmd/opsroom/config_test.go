package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden files of the config check from its output")

// opsroomBin is the binary under test, built once for every test of the command line.
var opsroomBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "opsroom-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	opsroomBin = filepath.Join(dir, "opsroom")
	build := exec.Command("go", "build", "-tags", "goolm", "-o", opsroomBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building opsroom: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// exampleEnv sets the environment variables config.example.yaml takes its secrets from.
var exampleEnv = []string{"OPSROOM_PASSWORD=test-password", "OPSROOM_PICKLE_KEY=test-pickle-key"}

// runOpsroom runs the real command line, as a user would, and returns its exit code and output.
func runOpsroom(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(opsroomBin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode(), string(out)
	} else if err != nil {
		t.Fatalf("running opsroom: %v\n%s", err, out)
	}
	return 0, string(out)
}

func checkConfig(t *testing.T, path string, env ...string) (int, string) {
	t.Helper()
	return runOpsroom(t, env, "-config", path, "-check-config")
}

// golden compares got with the file, or rewrites the file with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestCheckConfigAcceptsTheExample(t *testing.T) {
	// given the example, with the environment variables it names set
	// when it is checked
	code, out := checkConfig(t, "../../config.example.yaml", exampleEnv...)
	// then it passes
	if code != 0 {
		t.Fatalf("config.example.yaml: exit %d, want 0:\n%s", code, out)
	}
	if !strings.Contains(out, "ok (2 hosts, 5 services") {
		t.Errorf("output does not confirm the example's hosts and services:\n%s", out)
	}
}

func TestCheckConfigRefusesTheExampleWithoutItsSecrets(t *testing.T) {
	// given the example, without the environment variables it names
	env := []string{"OPSROOM_PASSWORD=", "OPSROOM_PICKLE_KEY="}
	// when it is checked
	code, out := checkConfig(t, "../../config.example.yaml", env...)
	// then each secret that cannot be read is an error naming its key and variable
	if code == 0 {
		t.Fatalf("the example passed with its secrets unset:\n%s", out)
	}
	for _, want := range []string{
		"error: matrix.password: environment variable OPSROOM_PASSWORD is not set",
		"error: matrix.encryption.pickle_key: environment variable OPSROOM_PICKLE_KEY is not set",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckConfigNamesTheKeyAndWhatIsRight(t *testing.T) {
	for _, tc := range []struct {
		name, key, right string
	}{
		{"secret-env-unset", "matrix.password", "environment variable OPSROOM_TEST_UNSET_PASSWORD is not set"},
		{"secret-file-unreadable", "matrix.encryption.pickle_key", "the secret's file cannot be read: open testdata/no-such-pickle-key: no such file"},
		{"interval-negative", "watch.interval", "must be a positive duration such as 30s, 10m or 1h, got -5s"},
		{"interval-zero", "watch.interval", "must be a positive duration such as 30s, 10m or 1h, got 0s"},
		{"crash-loop-window-negative", "watch.crash_loop_window", "must be a positive duration such as 30s, 10m or 1h, got -10m"},
		{"unreachable-probes-zero", "watch.unreachable_probes", "must be a whole number of at least 1, got 0"},
		{"command-timeout-negative", "hosts.spark.command_timeout", "must be a positive duration such as 30s, 10m or 1h, got -60s"},
		{"update-timeout-negative", "services.web.update_timeout", "must be a positive duration such as 30s, 10m or 1h, got -1m"},
		{"port-out-of-range", "hosts.spark.address", `"10.8.0.2:99999" is not host:port with a port from 1 to 65535`},
		{"no-services", "services", "at least one service is needed"},
		{"unknown-key-in-watch", "watch.intervall", "unknown key; did you mean interval?"},
		{"unknown-key-in-host", "hosts.spark.adress", "unknown key; did you mean address?"},
		{"two-bad-durations", "watch.flap_window", `"later" is not a duration like 10s, 2m or 90d`},
		{"database-password-for-sqlite", "database_password", "is for a PostgreSQL database"},
		{"database-password-twice", "database", "the URI holds a password and database_password gives another"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// given a config with one mistake (two for two-bad-durations)
			dir := filepath.Join("testdata", t.Name()[:strings.IndexByte(t.Name(), '/')])
			// when it is checked
			code, out := checkConfig(t, filepath.Join(dir, tc.name+".yaml"))
			// then it fails, naming the key and what is right
			if code == 0 {
				t.Fatalf("accepted:\n%s", out)
			}
			if want := "error: " + tc.key + ": " + tc.right; !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
			golden(t, filepath.Join(dir, tc.name+".golden"), out)
		})
	}
}

func TestCheckConfigReportsTenErrorsInOneRun(t *testing.T) {
	// given a config with ten mistakes of ten kinds
	dir := filepath.Join("testdata", t.Name())
	// when it is checked
	code, out := checkConfig(t, filepath.Join(dir, "config.yaml"))
	// then all ten are listed, and nothing else
	if code == 0 {
		t.Fatalf("accepted:\n%s", out)
	}
	if n := strings.Count(out, "error: "); n != 10 {
		t.Errorf("%d errors reported, want 10:\n%s", n, out)
	}
	golden(t, filepath.Join(dir, "config.golden"), out)
}

func TestCheckConfigShowsASyntaxErrorInItsLines(t *testing.T) {
	// given a config whose quote on line 15 is never closed
	dir := filepath.Join("testdata", t.Name())
	// when it is checked
	code, out := checkConfig(t, filepath.Join(dir, "config.yaml"))
	// then the error shows the line the parser names and the unclosed quote's line, each with its neighbours
	if code == 0 {
		t.Fatalf("accepted:\n%s", out)
	}
	for _, want := range []string{
		"config.yaml:11: YAML syntax: did not find expected key",
		">   11 |   spark:",
		"line 15 opens a quote it does not close",
		"    14 |     use_agent: true\n  >   15 |     known_hosts: \"testdata/known_hosts\n      16 | services:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	golden(t, filepath.Join(dir, "config.golden"), out)
}

func TestPrintExampleWritesAConfigThatPasses(t *testing.T) {
	// given the example the binary carries
	code, out := runOpsroom(t, nil, "-print-example")
	if code != 0 {
		t.Fatalf("-print-example: exit %d:\n%s", code, out)
	}
	want, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("-print-example differs from config.example.yaml")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("-print-example is not YAML: %v", err)
	}
	// when it is written to a file and checked, with its environment variables set
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = checkConfig(t, path, exampleEnv...)
	// then it passes
	if code != 0 {
		t.Fatalf("the printed example: exit %d, want 0:\n%s", code, out)
	}
}

func TestStartRefusesABadConfigBeforeCreatingTheDatabase(t *testing.T) {
	// given a config whose secret cannot be read, and whose database would be new
	dir := t.TempDir()
	db := filepath.Join(dir, "opsroom.db")
	cfg, err := os.ReadFile("testdata/TestCheckConfigNamesTheKeyAndWhatIsRight/secret-env-unset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, []byte("database: "+db+"\n")...)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	// when opsroom starts with it
	code, out := runOpsroom(t, nil, "-config", path)
	// then it exits non-zero, naming the secret, and has created nothing
	if code == 0 || !strings.Contains(out, "matrix.password: environment variable OPSROOM_TEST_UNSET_PASSWORD is not set") {
		t.Errorf("exit %d, want non-zero naming matrix.password:\n%s", code, out)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "config.yaml" {
			t.Errorf("%s was created by a start that the config check refused", e.Name())
		}
	}
}

func TestCheckConfigNamesEveryUnknownKey(t *testing.T) {
	code, out := checkConfig(t, "testdata/unknown-key.yaml")
	if code == 0 {
		t.Fatalf("unknown keys accepted:\n%s", out)
	}
	for _, want := range []string{
		"matrix.alowed_users: unknown key; the keys here are access_token,",
		"hosts.spark.identity_fil: unknown key; did you mean identity_file?",
		"matrix.allowed_users: moved to access.operators",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckConfigNamesAnUndefinedHost(t *testing.T) {
	code, out := checkConfig(t, "testdata/undefined-host.yaml", "OPSROOM_TEST_PASSWORD=x", "OPSROOM_TEST_PICKLE_KEY=y")
	if code == 0 {
		t.Fatalf("a service on an undefined host accepted:\n%s", out)
	}
	if !strings.Contains(out, "services.bridge.host") || !strings.Contains(out, "spork") || !strings.Contains(out, "spark") {
		t.Errorf("output does not name the key, the bad host and the defined one:\n%s", out)
	}
}

func TestCheckConfigRejectsBadKindsEnginesProbesAndSteps(t *testing.T) {
	code, out := checkConfig(t, "testdata/bad-kinds.yaml", "OPSROOM_TEST_PASSWORD=x", "OPSROOM_TEST_PICKLE_KEY=y")
	if code == 0 {
		t.Fatalf("accepted:\n%s", out)
	}
	for _, want := range []string{
		`hosts.spark.engine: "lxc" is not an engine; use docker or podman`,
		`services.vm.kind: "vm" is not a kind; use one of compose, container, systemd`,
		`services.api.health.http.url: required`,
		`services.site.update[0].run: required`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
