package config

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type testStep struct {
	Name string `yaml:"name"`
	Run  string `yaml:"run"`
}

type testService struct {
	Host    string     `yaml:"host"`
	Port    int        `yaml:"port"`
	Timeout Duration   `yaml:"timeout" check:"positive"`
	Retries int        `yaml:"retries" check:"positive"`
	Steps   []testStep `yaml:"steps"`
	Token   Secret     `yaml:"token"`
	Skipped string     `yaml:"-"`
}

type testCommon struct {
	Verbose bool `yaml:"verbose"`
}

type testConfig struct {
	Services   map[string]*testService `yaml:"services"`
	testCommon `yaml:",inline"`
}

func TestCheckNodeReportsEveryProblemAtItsPathAndKeepsTheRest(t *testing.T) {
	// given a document with one of each kind of problem, and good values around them
	src := `services:
  web:
    host: spark
    hots: spark
    port: eighty
    timeout: -5s
    retries: 0
    steps:
      - {name: pull, run: git pull}
      - {name: build, rnu: make}
    token: {env: OPSROOM_TEST_UNSET_TOKEN}
  db:
    host: vps
    host: vps2
    timeout: 1m
verbose: yes
verbos: true
`
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	// when it is checked against its type
	problems := CheckNode(&doc, reflect.TypeFor[testConfig](), map[string]string{"verbos": "moved to verbose"})
	// then each problem is reported once, at its full path and line, with what is right
	var got []string
	for _, p := range problems {
		got = append(got, p.Error())
	}
	want := []string{
		`services.web.hots: unknown key; did you mean host? (line 4)`,
		`services.web.port: must be a whole number, not "eighty" (line 5)`,
		`services.web.timeout: must be a positive duration such as 30s, 10m or 1h, got -5s; leave the key out for its default (line 6)`,
		`services.web.retries: must be a whole number of at least 1, got 0; leave the key out for its default (line 7)`,
		`services.web.steps[1].rnu: unknown key; did you mean run? (line 10)`,
		`services.web.token: environment variable OPSROOM_TEST_UNSET_TOKEN is not set (or empty); set it in opsroom's environment, or give the secret as {file: PATH} (line 11)`,
		`services.db.host: given twice (first on line 13); keep one (line 14)`,
		`verbos: moved to verbose (line 17)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// and what is left decodes without error, keeping the good values
	var cfg testConfig
	if err := doc.Decode(&cfg); err != nil {
		t.Fatalf("the checked document does not decode: %v", err)
	}
	if web := cfg.Services["web"]; web == nil || web.Host != "spark" || web.Port != 0 || len(web.Steps) != 2 || web.Steps[0].Run != "git pull" {
		t.Errorf("services.web decoded as %+v", web)
	}
	if db := cfg.Services["db"]; db == nil || db.Host != "vps" || db.Timeout.Duration.String() != "1m0s" {
		t.Errorf("services.db decoded as %+v", db)
	}
	if !cfg.Verbose {
		t.Error("verbose: yes was lost")
	}
}

func TestSecretCheckNamesWhereItComesFromNeverTheValue(t *testing.T) {
	t.Setenv("OPSROOM_TEST_SET_TOKEN", "hunter2-very-secret")
	for _, tc := range []struct {
		secret Secret
		want   string
	}{
		{Secret{value: "hunter2-very-secret"}, ""},
		{Secret{Env: "OPSROOM_TEST_SET_TOKEN"}, ""},
		{Secret{Env: "OPSROOM_TEST_UNSET_TOKEN"}, "environment variable OPSROOM_TEST_UNSET_TOKEN is not set"},
		{Secret{File: "/nonexistent/token"}, "open /nonexistent/token: no such file or directory"},
		{Secret{}, ""},
	} {
		err := tc.secret.Check()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v, want no error", tc.secret, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: %v, want an error saying %q", tc.secret, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("the error shows the value: %v", err)
		}
	}
}

func TestSyntaxErrorShowsTheLineItsNeighboursAndAnUnclosedQuote(t *testing.T) {
	// given a file whose single quote on line 2 is never closed
	src := "a:\n  b: 'it''s\n  c: 1\n  d: 2\ne: 3\n"
	var doc yaml.Node
	err := yaml.Unmarshal([]byte(src), &doc)
	if err == nil {
		t.Fatal("the broken YAML parsed")
	}
	// when the error is explained
	got := SyntaxError("config.yaml", []byte(src), err).Error()
	// then it names the line, shows it among its neighbours, and points at the quote
	for _, want := range []string{"config.yaml:", "YAML syntax:", ">    2 |   b: 'it''s", "     3 |   c: 1"} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
	if q := unclosedQuote(strings.Split(src, "\n")); q != 2 {
		t.Errorf("unclosedQuote = %d, want 2", q)
	}
	if q := unclosedQuote([]string{`a: "x \" y"`, `b: 'it''s'`, `- "z"`, `# "`}); q != 0 {
		t.Errorf("unclosedQuote of closed quotes = %d, want 0", q)
	}
}
