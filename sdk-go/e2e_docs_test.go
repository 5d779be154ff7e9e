//go:build e2e

package sdk_test

import (
	"context"
	"testing"

	sdk "matchlock.dev/go/sdk"
)

func TestE2EDocSnippets(t *testing.T) {
	onShared := map[string]func(context.Context, *sdk.Client) error{
		"snippetExec": snippetExec, "snippetStreaming": snippetStreaming, "snippetPipes": snippetPipes,
		"snippetProcess": snippetProcess, "snippetTTY": snippetTTY, "snippetFiles": snippetFiles,
		"snippetFileHelpers": snippetFileHelpers, "snippetErrors": snippetErrors, "snippetCancel": snippetCancel,
		"snippetNetwork": snippetNetwork, "snippetEvents": snippetEvents, "snippetLogs": snippetLogs,
		"snippetEngine": snippetEngine,
	}
	for name, fn := range onShared {
		fn := fn
		t.Run(name, func(t *testing.T) {
			c := shared(t)
			failExtension(t, name, fn(context.Background(), c))
		})
	}
	env := requireE2E(t)
	own := map[string]func(context.Context, *sdk.Client, string) error{
		"snippetBuilder": snippetBuilder, "snippetHooks": snippetHooks,
	}
	for name, fn := range own {
		fn := fn
		t.Run(name, func(t *testing.T) {
			c, err := sdk.NewClient(env.config())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(0)
			if err := fn(context.Background(), c, env.image); err != nil {
				t.Fatal(err)
			}
		})
	}
}
