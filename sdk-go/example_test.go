//go:build e2e

package sdk_test

import (
	"context"
	"fmt"
	"log"
	"os"

	sdk "matchlock.dev/go/sdk"
)

// Example is the quick start of docs/sdk-go.md.
func Example() {
	ctx := context.Background()
	client, err := sdk.NewClient(sdk.DefaultConfig()) // finds the engine via MATCHLOCK_BIN or PATH
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close(0) // stops the sandbox and the engine

	image := os.Getenv("MATCHLOCK_TEST_IMAGE") // any image, e.g. "alpine:latest"
	if _, err := client.Launch(sdk.New(image).WithMemory(512)); err != nil {
		log.Fatal(err)
	}
	if err := client.WriteFile(ctx, "/workspace/greet.sh", []byte("echo hello from $(uname -s)\n")); err != nil {
		log.Fatal(err)
	}
	res, err := client.Exec(ctx, "sh /workspace/greet.sh")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(res.Stdout)
	// Output: hello from Linux
}
