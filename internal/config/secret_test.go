package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"
)

func TestSecretComesFromInlineFileOrEnvAndNeverPrints(t *testing.T) {
	const value = "hunter2-very-secret"
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OPSROOM_TEST_SECRET", value)
	for _, src := range []string{
		"s: " + value,
		"s: {file: " + file + "}",
		"s: {env: OPSROOM_TEST_SECRET}",
	} {
		var holder struct {
			S Secret `yaml:"s"`
		}
		if err := yaml.Unmarshal([]byte(src), &holder); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got, err := holder.S.Reveal(); err != nil || got != value {
			t.Errorf("%s: Reveal = %q, %v", src, got, err)
		}
		var logged strings.Builder
		log := zerolog.New(&logged)
		log.Info().Interface("holder", holder).Any("secret", holder.S).Msg("config")
		printed := fmt.Sprintf("%v %+v %#v %s %q", holder, holder, holder, holder.S, holder.S) + logged.String()
		if strings.Contains(printed, value) {
			t.Errorf("%s: the secret was printed: %s", src, printed)
		}
	}
	var bad struct {
		S Secret `yaml:"s"`
	}
	if err := yaml.Unmarshal([]byte("s: {file: a, env: B}"), &bad); err == nil {
		t.Error("a secret with both file and env must be refused")
	}
}
