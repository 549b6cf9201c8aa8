package ops

import (
	"os/exec"
	"testing"
)

var hostile = []string{
	"plain",
	"; rm -rf /",
	"$(id)",
	"`id`",
	"it's",
	`"double" 'single' \back\slash`,
	"line one\nline two",
	"tab\there",
	"*?[glob]~",
	"$HOME ${PATH} $((1+1))",
	"a && b || c | d > e < f &",
	"ünïcödé ＄（ｉｄ） ‘quotes’",
	"",
	"'",
	"''\\''",
}

// TestQuoteRoundTripsThroughARealShell proves the property that matters: bash
// hands the quoted value back verbatim, whatever it holds.
func TestQuoteRoundTripsThroughARealShell(t *testing.T) {
	for _, s := range hostile {
		out, err := exec.Command("bash", "-c", "printf %s "+Quote(s)).Output()
		if err != nil {
			t.Fatalf("bash on %q: %v", s, err)
		}
		if string(out) != s {
			t.Errorf("Quote(%q) came back from bash as %q", s, out)
		}
	}
}

func TestCheckArgRefusesNUL(t *testing.T) {
	if checkArg("a\x00b") == nil {
		t.Error("a NUL byte cannot pass through a shell and must be refused")
	}
	if err := checkArg("docker ps"); err != nil {
		t.Errorf("plain command refused: %v", err)
	}
}

func TestRecipes(t *testing.T) {
	h := &HostConfig{ComposeCommand: "docker-compose"}
	compose := &ServiceConfig{Name: "bridge", Kind: KindCompose, Container: "bridge-1", Directory: "/srv/my bridge", ComposeService: "bridge"}
	plain := &ServiceConfig{Name: "synapse", Kind: KindContainer, Container: "synapse"}
	custom := &ServiceConfig{Name: "x", Kind: KindContainer, Container: "x", Directory: "/srv/x",
		Actions: map[string]string{"logs": "journalctl -n {lines} -u x", "restart": "systemctl restart x"}}
	for _, tc := range []struct {
		s      *ServiceConfig
		action string
		lines  int
		want   string
	}{
		{compose, "logs", 50, "docker logs --tail 50 'bridge-1' 2>&1"},
		{compose, "restart", 0, "docker restart 'bridge-1'"},
		{compose, "stop", 0, "docker stop 'bridge-1'"},
		{compose, "start", 0, "cd '/srv/my bridge' && docker-compose up -d 'bridge'"},
		{plain, "start", 0, "docker start 'synapse'"},
		{custom, "logs", 7, "cd '/srv/x' && journalctl -n 7 -u x"},
		{custom, "restart", 0, "cd '/srv/x' && systemctl restart x"},
		{custom, "stop", 0, "docker stop 'x'"},
	} {
		if got := actionCommand(h, tc.s, tc.action, tc.lines); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.s.Name, tc.action, got, tc.want)
		}
	}
	want := `docker inspect --type container -f '` + inspectFormat + `' 'a' 'b'`
	if got := dockerCLI.inspectCommand([]string{"a", "b"}); got != want {
		t.Errorf("inspect: %q, want %q", got, want)
	}
	if got := commitCommand(compose); got != "git -C '/srv/my bridge' rev-parse HEAD" {
		t.Errorf("commit: %q", got)
	}
}
