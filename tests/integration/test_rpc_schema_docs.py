"""docs/rpc.md is checked against rpc-schema/schema.json: its method table lists exactly the
schema's methods, each row names every top-level param the schema accepts, and every
notification of the schema is mentioned. No VM is needed."""
import os
import re

from rpc_schema import ROOT, SCHEMA

DOC = open(os.path.join(ROOT, "docs", "rpc.md"), encoding="utf-8").read()


def method_rows():
    """{method: params cell} from the `| method | params | result |` table."""
    rows = {}
    for line in DOC.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        for name in re.findall(r"`([a-z_]+)`", cells[0]):
            rows[name] = cells[1]
    return rows


def resolve(schema):
    ref = schema.get("$ref")
    if ref:
        node = SCHEMA
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return resolve(node)
    return schema


def test_the_method_table_lists_exactly_the_schema_methods():
    assert set(method_rows()) == set(SCHEMA["methods"])


def test_each_row_names_every_param_the_schema_accepts():
    rows = method_rows()
    missing = []
    for method, spec in SCHEMA["methods"].items():
        params = resolve(spec["params"])
        names = set(params.get("properties", {}))
        for sub in params.get("allOf", []):
            names |= set(resolve(sub).get("properties", {}))
        for name in sorted(names):
            if f"`{name}`" not in rows.get(method, "") and not (
                    rows.get(method, "").startswith("as `")):
                missing.append(f"{method}.{name}")
    assert not missing, "params in the schema but not in docs/rpc.md's table: " + ", ".join(missing)


def test_every_notification_is_documented():
    names = set(SCHEMA["client_notifications"]) | set(SCHEMA["server_notifications"])
    absent = sorted(n for n in names
                    if f"`{n}" not in DOC and f" {n} " not in DOC
                    and f".{n.split('.')[-1]}`" not in DOC)
    assert not absent, "notifications missing from docs/rpc.md: " + ", ".join(absent)
