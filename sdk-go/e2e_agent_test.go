//go:build e2e

package sdk_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestE2EAgentExample(t *testing.T) {
	env := requireE2E(t)
	bin := filepath.Join(t.TempDir(), "agent")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", "examples", "go", "agent")
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the agent example: %v\n%s", err, out)
	}
	const key = "sk-test-must-not-leak-7d1f"
	run := exec.Command(bin)
	run.Env = append(os.Environ(), "AGENT_IMAGE="+env.image, "AGENT_API_KEY="+key,
		"AGENT_LAUNCH="+os.Getenv("MATCHLOCK_TEST_LAUNCH"))
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("agent example failed: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"result: sum=55", "key seen by the guest: SANDBOX_SECRET_", "the guest only saw the placeholder"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, key) {
		t.Errorf("the real key appears in the output:\n%s", text)
	}
}
