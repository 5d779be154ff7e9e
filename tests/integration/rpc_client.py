"""A minimal JSON-RPC client for `matchlock rpc`, speaking as the SDKs do, that schema-checks
every line in both directions against rpc-schema/schema.json."""
import base64
import contextlib
import json
import os
import queue
import subprocess
import threading

import jsonschema

from conftest import BIN
from rpc_schema import check_incoming, check_outgoing

DEFAULT_TIMEOUT = 180


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__(f"[{code}] {message}")
        self.code, self.message = code, message


class Rpc:
    def __init__(self, env, args=("rpc",)):
        # args: ("rpc", "--attach", VM_ID) speaks to a sandbox another process owns.
        self.proc = subprocess.Popen([BIN, *args], env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.next_id = 1
        self.lock = threading.Lock()
        self.waiters = {}          # id -> Queue receiving notifications then the response
        self.method_of_id = {}
        self.orphans = queue.Queue()  # messages without a known id
        self.schema_errors = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            msg = json.loads(line)
            try:
                check_incoming(msg, self.method_of_id)
            except jsonschema.ValidationError as e:
                self.schema_errors.append((msg, e.message))
            target = msg.get("params", {}).get("id") if "method" in msg else msg.get("id")
            with self.lock:
                q = self.waiters.get(target)
            (q if q is not None else self.orphans).put(msg)
        with self.lock:
            for q in self.waiters.values():
                q.put(None)

    def send(self, method, params=None, with_id=True, validate=True):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        rid = None
        if with_id:
            with self.lock:
                rid = self.next_id
                self.next_id += 1
                self.waiters[rid] = queue.Queue()
                self.method_of_id[rid] = method
            msg["id"] = rid
        if validate:  # deliberately bad requests skip the schema check
            check_outgoing(msg)
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()
        return rid

    def send_raw(self, line):
        self.proc.stdin.write(line)
        self.proc.stdin.flush()

    def wait(self, rid, timeout=DEFAULT_TIMEOUT):
        """Returns (notifications, response) for request rid."""
        notes = []
        while True:
            msg = self.waiters[rid].get(timeout=timeout)
            if msg is None:
                raise EOFError("matchlock rpc exited")
            if "method" in msg:
                notes.append(msg)
                continue
            return notes, msg

    def call(self, method, params=None, timeout=DEFAULT_TIMEOUT):
        _, resp = self.wait(self.send(method, params), timeout)
        if "error" in resp:
            raise RpcError(resp["error"]["code"], resp["error"]["message"])
        return resp["result"]

    def exec(self, command, **params):
        r = self.call("exec", dict(params, command=command))
        return r["exit_code"], base64.b64decode(r["stdout"]), base64.b64decode(r["stderr"])

    def close(self, timeout_seconds=2):
        try:
            result = self.call("close", {"timeout_seconds": timeout_seconds})
        finally:
            self.proc.stdin.close()
        code = self.proc.wait(timeout=60)
        return result, code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def b64(data):
    return base64.b64encode(data).decode()


@contextlib.contextmanager
def booted(ml, create_params):
    """An Rpc whose sandbox is created with `create_params` (its id in `.vm_id`); on exit it is
    closed cleanly, every line must have matched the schema and nothing may be left behind.
    For module fixtures that share one sandbox between tests."""
    rpc = Rpc(ml.env)
    try:
        rpc.vm_id = rpc.call("create", create_params)["id"]
        yield rpc
        assert rpc.close() == ({}, 0)
    finally:
        rpc.kill()
    assert rpc.schema_errors == []
    ml.assert_nothing_left()

