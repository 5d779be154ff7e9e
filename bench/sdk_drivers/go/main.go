// Times sequential Exec("true") and Version calls through the Go SDK for bench/sdk.py: prints
// one JSON line {"exec": [...], "version": [...]} (seconds per timed call). Reads MATCHLOCK_BIN, BENCH_IMAGE,
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
	execs := []float64{}
	for i := 0; i < envInt("BENCH_EXECS", 100); i++ {
		start := time.Now()
		r, err := client.Exec(ctx, "true")
		if err != nil {
			return err
		}
		execs = append(execs, time.Since(start).Seconds())
		if r.ExitCode != 0 {
			return fmt.Errorf("exec true: exit %d", r.ExitCode)
		}
	}
	versions := []float64{}
	for i := 0; i < envInt("BENCH_EXECS", 100); i++ {
		start := time.Now()
		if _, err := client.Version(ctx); err != nil {
			return err
		}
		versions = append(versions, time.Since(start).Seconds())
	}
	return json.NewEncoder(os.Stdout).Encode(map[string][]float64{"exec": execs, "version": versions})
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sdk bench (go):", err)
		os.Exit(1)
	}
}
