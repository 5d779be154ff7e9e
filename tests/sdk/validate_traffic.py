#!/usr/bin/env python3
"""Validates the protocol traffic the SDK tests recorded (rpc_recorder.py) against
rpc-schema/schema.json, line by line in both directions.

usage: validate_traffic.py RECORD_DIR [RECORD_DIR...] [--coverage]

A client line that breaks the schema is accepted only when the engine answered it with an
invalid-request/params/method error: tests send bad input on purpose, and then the engine must
refuse exactly what the schema forbids. Everything else that does not validate fails the run.
--coverage also fails when a method or notification of the schema never appeared."""
import glob
import json
import os
import sys
from collections import Counter

import jsonschema

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from rpc_schema import SCHEMA, check_incoming, check_outgoing  # noqa: E402

REFUSALS = {-32700, -32600, -32601, -32602}


def validate_file(path, seen, problems):
    method_of_id = {}
    pending_bad = {}  # request id -> schema complaint, forgiven if the engine refused it
    for n, rec in enumerate(open(path, encoding="utf-8"), 1):
        where = f"{os.path.basename(path)}:{n}"
        rec = json.loads(rec)
        try:
            msg = json.loads(rec["line"])
        except ValueError:
            problems.append(f"{where}: not JSON: {rec['line'][:200]}")
            continue
        if not isinstance(msg, dict):
            problems.append(f"{where}: not an object: {rec['line'][:200]}")
            continue
        if rec["dir"] == "c2e":
            method = msg.get("method")
            seen[method] += 1
            is_input = method in SCHEMA["client_notifications"]
            if method not in SCHEMA["methods"] and not is_input:
                complaint = f"method {method!r} is not in the schema"
            else:
                complaint = None
                try:
                    check_outgoing(msg)
                except jsonschema.ValidationError as e:
                    complaint = e.message
            rid = msg.get("id")
            if isinstance(rid, int) and not is_input:
                method_of_id[rid] = method
                if complaint:
                    pending_bad[rid] = complaint
            elif complaint:
                problems.append(f"{where}: {method}: {complaint}")
        else:
            if "method" in msg:
                seen[msg["method"]] += 1
                if msg["method"] == "event":
                    seen["event." + str(msg.get("params", {}).get("type"))] += 1
            try:
                check_incoming(msg, method_of_id)
            except (jsonschema.ValidationError, KeyError) as e:
                problems.append(f"{where}: {str(e)[:300]}: {rec['line'][:300]}")
            rid = msg.get("id") if "method" not in msg else None
            if rid in pending_bad:
                complaint = pending_bad.pop(rid)
                code = msg.get("error", {}).get("code")
                if code not in REFUSALS:
                    problems.append(f"{where}: a request the schema forbids ({complaint}) "
                                    f"was answered {rec['line'][:200]}")
    for rid, complaint in pending_bad.items():
        problems.append(f"{os.path.basename(path)}: request {rid} ({method_of_id[rid]}) breaks "
                        f"the schema ({complaint}) and got no refusal")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    files = sorted(f for d in args for f in glob.glob(os.path.join(d, "*.jsonl")))
    if not files:
        sys.exit(f"validate_traffic: no recorded traffic in {args}")
    seen, problems = Counter(), []
    for f in files:
        validate_file(f, seen, problems)
    lines = sum(1 for f in files for _ in open(f, encoding="utf-8"))
    print(f"validate_traffic: {lines} lines in {len(files)} engine sessions")
    known = (set(SCHEMA["methods"]) | set(SCHEMA["client_notifications"]) |
             set(SCHEMA["server_notifications"]))
    missing = sorted(m for m in known if not seen[m])
    if missing:
        print("validate_traffic: never exercised: " + ", ".join(missing))
    for p in problems:
        print("  " + p)
    if problems or ("--coverage" in sys.argv and missing):
        sys.exit(f"validate_traffic: {len(problems)} problem(s)")


if __name__ == "__main__":
    main()
