"""Checks protocol messages against rpc-schema/schema.json. Used by rpc_client.Rpc on every
line it sends and receives, and by tests/sdk/validate_traffic.py on the SDKs' recorded traffic."""
import json
import os

import jsonschema

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = json.load(open(os.path.join(ROOT, "rpc-schema", "schema.json")))


def _validator(subschema):
    # Resolve "#/$defs/..." against the whole document.
    return jsonschema.Draft202012Validator(
        subschema, resolver=jsonschema.RefResolver.from_schema(SCHEMA))


def check_outgoing(msg):
    """A client → engine message: a method's params or a client notification's params."""
    method = msg["method"]
    if method in SCHEMA["methods"]:
        _validator(SCHEMA["methods"][method]["params"]).validate(msg.get("params", {}))
    elif method in SCHEMA["client_notifications"]:
        _validator(SCHEMA["client_notifications"][method]).validate(msg["params"])


def check_incoming(msg, method_of_id):
    """An engine → client message: a notification, or a response to the request whose method
    `method_of_id` maps its id to."""
    if "method" in msg:
        _validator(SCHEMA["envelopes"]["notification"]).validate(msg)
        _validator(SCHEMA["server_notifications"][msg["method"]]).validate(msg["params"])
        return
    _validator(SCHEMA["envelopes"]["response"]).validate(msg)
    if "result" in msg:
        method = method_of_id.get(msg["id"])
        if method in SCHEMA["methods"]:
            _validator(SCHEMA["methods"][method]["result"]).validate(msg["result"])
