#!/usr/bin/env python3
"""A launch-command prefix for the SDK tests: `rpc_recorder.py -- matchlock rpc` runs the engine
and relays its stdio unchanged, appending every protocol line (both directions) to a file in
$MATCHLOCK_RPC_RECORD_DIR, so validate_traffic.py can check the real traffic against
rpc-schema/schema.json. Without that variable, or for another subcommand than `rpc`, it
simply becomes the command (exec).

Recorded lines: {"dir": "c2e" | "e2c", "line": "<the raw line>"}. The engine's stderr is not
touched (the SDK reads it directly). When this process dies, the engine's stdin pipe closes with
it, so the engine tears the sandbox down exactly as it would for a dead SDK."""
import json
import os
import subprocess
import sys
import threading


def main():
    argv = sys.argv[1:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        sys.exit("usage: rpc_recorder.py -- ENGINE rpc [args]")
    record_dir = os.environ.get("MATCHLOCK_RPC_RECORD_DIR")
    # SDKs also run other subcommands (`rm`, `volume …`) through their launch command: only
    # `ENGINE rpc …` speaks the protocol.
    if not record_dir or len(argv) < 2 or argv[1] != "rpc":
        os.execvp(argv[0], argv)

    os.makedirs(record_dir, exist_ok=True)
    path = os.path.join(record_dir, f"{os.getpid()}.jsonl")
    record = open(path, "a", buffering=1, encoding="utf-8")
    lock = threading.Lock()

    def note(direction, raw):
        with lock:
            record.write(json.dumps({"dir": direction,
                                     "line": raw.decode("utf-8", "replace").rstrip("\n")}) + "\n")

    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def client_to_engine():
        try:
            for raw in sys.stdin.buffer:
                note("c2e", raw)
                child.stdin.write(raw)
                child.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        finally:
            try:
                child.stdin.close()
            except OSError:
                pass

    threading.Thread(target=client_to_engine, daemon=True).start()
    out = sys.stdout.buffer
    try:
        for raw in child.stdout:
            note("e2c", raw)
            out.write(raw)
            out.flush()
    except (BrokenPipeError, OSError):
        pass
    sys.exit(child.wait())


if __name__ == "__main__":
    main()
