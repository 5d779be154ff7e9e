// Times sequential Exec("true") calls through the Go SDK for bench/sdk.py: prints one JSON line
// {"seconds": [...]} (one entry per timed call). Reads MATCHLOCK_BIN, BENCH_IMAGE,
// BENCH_EXECS and BENCH_WARMUP from the environment.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	sdk "matchlock.dev/go/sdk"
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

func run() error {
	ctx := context.Background()
	client, err := sdk.NewClient(sdk.DefaultConfig())
	if err != nil {
		return err
	}
	defer client.Close(0)
	if _, err := client.Create(sdk.New(os.Getenv("BENCH_IMAGE")).Options()); err != nil {
		return err
	}
	for i := 0; i < envInt("BENCH_WARMUP", 5); i++ {
		if _, err := client.Exec(ctx, "true"); err != nil {
			return err
		}
	}
	seconds := []float64{}
	for i := 0; i < envInt("BENCH_EXECS", 100); i++ {
		start := time.Now()
		r, err := client.Exec(ctx, "true")
		if err != nil {
			return err
		}
		seconds = append(seconds, time.Since(start).Seconds())
		if r.ExitCode != 0 {
			return fmt.Errorf("exec true: exit %d", r.ExitCode)
		}
	}
	return json.NewEncoder(os.Stdout).Encode(map[string][]float64{"seconds": seconds})
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sdk bench (go):", err)
		os.Exit(1)
	}
}
