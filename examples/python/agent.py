"""A small agent-style program: write code into a sandbox, run it, read the result back.

The sandbox may only reach api.example.com, and holds an API key the guest never sees: its
environment carries a placeholder that the network proxy swaps for the real value on
requests to api.example.com only.

    MATCHLOCK_BIN=/path/to/matchlock python3 examples/python/agent.py
"""

import os

from matchlock import Client, Sandbox

IMAGE = os.environ.get("MATCHLOCK_TEST_IMAGE", "alpine:latest")
REAL_KEY = "sk-real-key-do-not-leak"

# What an LLM might have written for us: a shell program (BusyBox has no Python).
PROGRAM = """#!/bin/sh
set -e
total=0
for n in $(seq 1 10); do total=$((total + n * n)); done
echo "sum of squares 1..10 = $total" > /workspace/result.txt
echo "$API_KEY" > /workspace/key-seen.txt
"""

sandbox = Sandbox(IMAGE).allow_host("api.example.com").add_secret("API_KEY", REAL_KEY, "api.example.com")

with Client() as client:
    vm_id = client.launch(sandbox)
    print(f"sandbox {vm_id} is up")

    client.write_file("/workspace/task.sh", PROGRAM, mode=0o755)
    run = client.exec("/workspace/task.sh")
    if run.exit_code != 0:
        raise SystemExit(f"task failed ({run.exit_code}): {run.stderr}")

    result = client.read_file("/workspace/result.txt").decode().strip()
    print(f"result: {result}")
    assert result == "sum of squares 1..10 = 385"

    seen = client.read_file("/workspace/key-seen.txt").decode().strip()
    assert REAL_KEY not in seen and seen.startswith("SANDBOX_SECRET_"), seen
    print(f"guest saw only the placeholder: {seen}")
