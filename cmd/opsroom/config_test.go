package main

import (
	"os/exec"
	"strings"
	"testing"
)

// checkConfig runs the real command line, as a user would, and returns its exit code and output.
func checkConfig(t *testing.T, path string) (int, string) {
	t.Helper()
	cmd := exec.Command("go", "run", "-tags", "goolm", ".", "-config", path, "-check-config")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if exitErr, ok := err.(*exec.ExitError); ok {
		return exitErr.ExitCode(), string(out)
	} else if err != nil {
		t.Fatalf("go run: %v\n%s", err, out)
	}
	return 0, string(out)
}

func TestCheckConfigAcceptsTheExample(t *testing.T) {
	code, out := checkConfig(t, "../../config.example.yaml")
	if code != 0 {
		t.Fatalf("config.example.yaml: exit %d, want 0:\n%s", code, out)
	}
	if !strings.Contains(out, "ok (2 hosts, 5 services") {
		t.Errorf("output does not confirm the example's hosts and services:\n%s", out)
	}
}

func TestCheckConfigNamesEveryUnknownKey(t *testing.T) {
	code, out := checkConfig(t, "testdata/unknown-key.yaml")
	if code == 0 {
		t.Fatalf("unknown keys accepted:\n%s", out)
	}
	for _, want := range []string{
		`unknown key "alowed_users" in matrix`,
		`unknown key "identity_fil" in a host`,
		"matrix.allowed_users is now access.operators",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckConfigNamesAnUndefinedHost(t *testing.T) {
	code, out := checkConfig(t, "testdata/undefined-host.yaml")
	if code == 0 {
		t.Fatalf("a service on an undefined host accepted:\n%s", out)
	}
	if !strings.Contains(out, "services.bridge.host") || !strings.Contains(out, "spork") || !strings.Contains(out, "spark") {
		t.Errorf("output does not name the key, the bad host and the defined one:\n%s", out)
	}
}

func TestCheckConfigRejectsBadKindsEnginesProbesAndSteps(t *testing.T) {
	code, out := checkConfig(t, "testdata/bad-kinds.yaml")
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
