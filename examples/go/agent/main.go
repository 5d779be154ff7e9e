// Command agent is a small agent-style program: it writes a script into a sandbox, runs it,
// reads back the result file, and shows that an API key given with AddSecret never reaches
// the guest (the guest sees only a placeholder; the engine's proxy substitutes the real value
// in HTTPS requests to the allowed host).
//
//	MATCHLOCK_BIN=/path/to/matchlock AGENT_IMAGE=alpine:latest go run .
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	sdk "matchlock.dev/go/sdk"
)

const apiHost = "api.example.com"

// The "code" an agent would generate: it reports what it sees of the secret and does a
// small computation, leaving its answer in a file.
const script = `#!/bin/sh
echo "key seen by the guest: $API_KEY"
n=0; for i in $(seq 1 10); do n=$((n + i)); done
echo "sum=$n" > /workspace/result.txt
`

func main() {
	realKey := os.Getenv("AGENT_API_KEY")
	if realKey == "" {
		realKey = "sk-demo-" + fmt.Sprint(time.Now().UnixNano()) // stands in for a real key
	}
	image := os.Getenv("AGENT_IMAGE")
	if image == "" {
		image = "alpine:latest"
	}
	cfg := sdk.DefaultConfig()
	if launch := os.Getenv("AGENT_LAUNCH"); launch != "" { // optional argv prefix, e.g. a recorder
		var prefix []string
		if err := json.Unmarshal([]byte(launch), &prefix); err != nil {
			log.Fatalf("AGENT_LAUNCH: %v", err)
		}
		cfg.LaunchCommand = append(prefix, cfg.BinaryPath, "rpc")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, err := sdk.NewClient(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close(0)

	sandbox := sdk.New(image).
		AllowHost(apiHost).
		AddSecret("API_KEY", realKey, apiHost)
	vmID, err := client.Launch(sandbox)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("sandbox:", vmID)

	if err := client.WriteFileMode(ctx, "/workspace/agent.sh", []byte(script), 0o755); err != nil {
		log.Fatal(err)
	}
	run, err := client.Exec(ctx, "/workspace/agent.sh")
	if err != nil {
		log.Fatal(err)
	}
	if run.ExitCode != 0 {
		log.Fatalf("script failed (%d): %s", run.ExitCode, run.Stderr)
	}
	fmt.Print(run.Stdout)
	result, err := client.ReadFile(ctx, "/workspace/result.txt")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print("result: ", string(result))

	seen := strings.TrimPrefix(strings.TrimSpace(run.Stdout), "key seen by the guest: ")
	switch {
	case strings.Contains(run.Stdout, realKey):
		log.Fatal("the real key leaked into the guest")
	case !strings.HasPrefix(seen, "SANDBOX_SECRET_"):
		log.Fatalf("expected a placeholder, the guest saw %q", seen)
	}
	fmt.Println("the guest only saw the placeholder")
}
