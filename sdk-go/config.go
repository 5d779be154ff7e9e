package sdk

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Config tells a client how to start the engine.
type Config struct {
	// BinaryPath is the matchlock binary. Empty: the MATCHLOCK_BIN environment variable,
	// then `matchlock` on PATH.
	BinaryPath string
	// UseSudo runs `sudo <binary> rpc`.
	UseSudo bool
	// LaunchCommand, when set, is the full argv that replaces `<binary> rpc`, e.g.
	// {"ssh", "host", "matchlock", "rpc"}. Attach appends {"--attach", id} to it.
	// BinaryPath is then used only for the CLI calls (Remove, Volume*).
	LaunchCommand []string
}

// DefaultConfig returns a Config whose BinaryPath is $MATCHLOCK_BIN (empty when unset,
// which falls back to PATH).
func DefaultConfig() Config {
	return Config{BinaryPath: os.Getenv("MATCHLOCK_BIN")}
}

// resolveBinary finds the engine: explicit path, then $MATCHLOCK_BIN, then PATH.
func resolveBinary(cfg Config) (string, error) {
	if path := strings.TrimSpace(cfg.BinaryPath); path != "" {
		return lookExecutable(path, "Config.BinaryPath")
	}
	if path := strings.TrimSpace(os.Getenv("MATCHLOCK_BIN")); path != "" {
		return lookExecutable(path, "MATCHLOCK_BIN")
	}
	path, err := exec.LookPath("matchlock")
	if err != nil {
		return "", fmt.Errorf("%w (no matchlock on PATH)", ErrEngineNotFound)
	}
	return path, nil
}

func lookExecutable(path, source string) (string, error) {
	found, err := exec.LookPath(path)
	if err != nil {
		return "", fmt.Errorf("%w (%s=%q: %v)", ErrEngineNotFound, source, path, err)
	}
	return found, nil
}

// engineArgv is the command line of the engine process; extra is appended (e.g. --attach).
func engineArgv(cfg Config, extra ...string) ([]string, error) {
	var argv []string
	if len(cfg.LaunchCommand) > 0 {
		argv = append(argv, cfg.LaunchCommand...)
	} else {
		bin, err := resolveBinary(cfg)
		if err != nil {
			return nil, err
		}
		if cfg.UseSudo {
			argv = append(argv, "sudo")
		}
		argv = append(argv, bin, "rpc")
	}
	return append(argv, extra...), nil
}
