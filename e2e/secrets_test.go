package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/opsroom/opsroom/internal/testworld"
)

// secret is a value from opsroom's config that must never be shown.
type secret struct {
	where string // the config key it came from
	value string
}

// secretKey names the config keys whose inline value is a secret.
var secretKey = regexp.MustCompile(`(password|passphrase|token|secret|_key)$`)

// configuredSecrets reads the config opsroom was started with and returns
// every secret in it, so that a secret added to the config later is covered
// too: each value given as {file: PATH} or {env: NAME} (only secrets take
// those forms), each inline value of a key named like a secret, and each
// private key file, whole and line by line.
func configuredSecrets(t *testing.T, cfgPath string) []secret {
	t.Helper()
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	var out []secret
	var walk func(where, key string, v any)
	walk = func(where, key string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if path, ok := v["file"].(string); ok && len(v) == 1 {
				content, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				out = append(out, secret{where, strings.TrimRight(string(content), "\r\n")})
				return
			}
			if name, ok := v["env"].(string); ok && len(v) == 1 {
				out = append(out, secret{where, os.Getenv(name)})
				return
			}
			for k, x := range v {
				walk(where+"."+k, k, x)
			}
		case []any:
			for _, x := range v {
				walk(where, key, x)
			}
		case string:
			switch {
			case secretKey.MatchString(key):
				out = append(out, secret{where, v})
			case key == "identity_file":
				content, err := os.ReadFile(v)
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				out = append(out, secret{where, string(content)})
				for _, line := range strings.Split(string(content), "\n") {
					if !strings.HasPrefix(line, "-----") {
						out = append(out, secret{where + " (a line of it)", line})
					}
				}
			}
		}
	}
	walk("", "", cfg)
	// A short value could turn up by chance; every secret here is long.
	return slices.DeleteFunc(out, func(s secret) bool { return len(s.value) < 12 })
}

// assertNoSecret fails the test for each secret that text holds, saying where
// it came from and where it showed, but not what it is.
func assertNoSecret(t *testing.T, what, text string, secrets []secret) {
	t.Helper()
	for _, s := range secrets {
		for _, form := range []string{s.value, strings.ReplaceAll(s.value, " ", "")} {
			if i := strings.Index(text, form); i >= 0 {
				line := strings.Count(text[:i], "\n") + 1
				t.Errorf("%s holds the secret from %s (line %d)", what, s.where, line)
				break
			}
		}
	}
}

// protectedKey is a copy of the private key at path, encrypted with passphrase.
func protectedKey(t *testing.T, path, passphrase string) string {
	t.Helper()
	key, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	protected := filepath.Join(t.TempDir(), "id_ed25519_protected")
	if err := os.WriteFile(protected, key, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ssh-keygen", "-q", "-p", "-P", "", "-N", passphrase, "-f", protected).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -p: %v\n%s", err, out)
	}
	return protected
}

// TestLogsNeverContainSecrets runs opsroom with every kind of secret it takes,
// through login (with a password, then with an access token), sync in an
// encrypted room, commands that succeed, fail on the host, fail to reach it
// and are refused, and checks its whole debug log, and the room, for each.
func TestLogsNeverContainSecrets(t *testing.T) {
	w := newEncryptedWorld(t)
	// The bot's account has cross-signing, so that opsroom uses its recovery key.
	setup := w.hs.Login(t, w.botID, w.botPassword)
	withCrypto(t, setup)
	recoveryKey := crossSigning(t, setup, w.botPassword)
	w.matrix = map[string]any{"encryption": map[string]any{
		"pickle_key":   map[string]string{"file": w.secretFile(t, "pickle-key", testPickleKey)},
		"recovery_key": map[string]string{"file": w.secretFile(t, "recovery-key", recoveryKey)},
	}}

	const passphrase = "correct horse battery staple 42"
	withPassphrase := func(h host) host {
		h["identity_file"] = protectedKey(t, w.sshd.IdentityFile, passphrase)
		h["identity_passphrase"] = passphrase
		return h
	}
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	hosts := map[string]host{
		"local":  withPassphrase(w.localHost()),
		"badkey": withPassphrase(hostFor(w.sshd, w.sshd.WrongKnownHosts(t))),
	}
	services := map[string]service{
		"web":     containerService(c),
		"gone":    {"host": "local", "kind": "container", "container": testworld.UniqueName(t, "gone")},
		"spoofed": {"host": "badkey", "kind": "container", "container": c.Name},
	}

	run := func(how string, alsoConfigured ...string) {
		o := w.startOpsroom(t, hosts, services)
		mustContain(t, how+": status", w.ask(t, w.alice, "!status"), "web", "| running")
		mustContain(t, how+": a command that fails on the host", w.ask(t, w.alice, "!restart gone"), "failed", "No such container")
		mustContain(t, how+": a host that is refused", w.ask(t, w.alice, "!status spoofed"), "host key mismatch")
		mustContain(t, how+": a sender who may not", w.ask(t, w.eve, "!restart web"), "not allowed")
		o.stop(t)

		secrets := configuredSecrets(t, filepath.Join(w.dir, "config.yaml"))
		var found []string
		for _, s := range secrets {
			found = append(found, s.where)
		}
		for _, want := range append([]string{".matrix.password", ".matrix.encryption.pickle_key", ".matrix.encryption.recovery_key",
			".hosts.local.identity_passphrase", ".hosts.local.identity_file"}, alsoConfigured...) {
			if !slices.Contains(found, want) {
				t.Fatalf("%s: the secrets read from the config miss %s (found %q)", how, want, found)
			}
		}
		log := o.log()
		mustContain(t, how+": the log", log, "Processing command", "restart")
		assertNoSecret(t, how+": opsroom's log", log, secrets)
		var room strings.Builder
		for _, evt := range w.botMessages(t) {
			room.WriteString(evt.Content.AsMessage().Body + "\n")
		}
		assertNoSecret(t, how+": the room", room.String(), secrets)
	}

	run("with a password")

	// The same with an access token, as a new device in a new database.
	token := w.hs.Login(t, w.botID, w.botPassword).AccessToken
	w.dir = t.TempDir()
	w.database = newDatabase(t, w.dir)
	w.matrix["access_token"] = map[string]string{"file": w.secretFile(t, "access-token", token)}
	run("with an access token", ".matrix.access_token")
}
