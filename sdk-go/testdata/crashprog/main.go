// crashprog creates a sandbox, prints its id and dies without closing the client:
// `crashprog exit` calls os.Exit, `crashprog kill` SIGKILLs itself. The test then checks
// that the engine noticed and left no sandbox running.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"syscall"

	sdk "matchlock.dev/go/sdk"
)

func main() {
	var launch []string
	if err := json.Unmarshal([]byte(os.Getenv("CRASH_LAUNCH")), &launch); err != nil {
		fmt.Fprintln(os.Stderr, "CRASH_LAUNCH:", err)
		os.Exit(2)
	}
	client, err := sdk.NewClient(sdk.Config{LaunchCommand: launch})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	id, err := client.CreateContext(context.Background(), sdk.New(os.Getenv("MATCHLOCK_TEST_IMAGE")).Options())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(id)
	if len(os.Args) > 1 && os.Args[1] == "kill" {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal ends us
	}
	os.Exit(3)
}
