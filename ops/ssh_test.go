package ops

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// TestPinnedAlgorithmsReadHashedEntries: a host pinned by `ssh-keyscan -H`
// (hashed names) asks for the kinds of key pinned, as a plain entry does.
func TestPinnedAlgorithmsReadHashedEntries(t *testing.T) {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ed, _ := ssh.NewPublicKey(edPub)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec, _ := ssh.NewPublicKey(&ecPriv.PublicKey)
	file := filepath.Join(t.TempDir(), "known_hosts")
	lines := knownhosts.Line([]string{knownhosts.HashHostname(knownhosts.Normalize("spark.example.org:2222"))}, ed) + "\n" +
		knownhosts.Line([]string{"other.example.org"}, ec) + "\n" +
		knownhosts.Line([]string{knownhosts.Normalize("10.0.0.2:22")}, ec) + "\n"
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string][]string{
		"spark.example.org:2222": {ssh.KeyAlgoED25519},
		"10.0.0.2:22":            {ssh.KeyAlgoECDSA256},
		"unknown.example.org:22": nil,
	} {
		if got := pinnedAlgorithms(file, addr); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", addr, got, want)
		}
	}
}
