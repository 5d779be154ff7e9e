"""Secrets through the TLS interception proxy, end to end, with real TLS clients in the guest.

The lab is a network namespace (10.78.N.0/24) with dnsmasq and three upstreams:
  * api.llm.test / other.llm.test :443 -- a local server speaking the OpenAI chat-completions
    API (fake_llm_server.py) with `usage` and SSE streaming, logging every request it gets;
  * h2.llm.test :8443 -- a Go HTTPS server that speaks HTTP/2 (tls_clients/h2server.go);
  * on the host's 127.0.0.1, the same LLM server over plain HTTP as a local model backend.
All certificates come from a throwaway lab CA that only the ENGINE trusts (SSL_CERT_FILE in its
environment): the guest trusts nothing but the sandbox's own CA, added to its system bundle at
boot, so every client below verifies the engine's leaf certificates unchanged.

The guest image adds the host's curl, python3 (urllib, ssl), Node (fetch) and a static Go client
to the BusyBox image, whose own wget does TLS without a signature_algorithms extension.

Sandboxes are shared per module where the tests only read: one for secrets, usage and the event
log; separate ones where a flag changes behaviour (budget, model router, rpc rules).
"""
import glob
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

import jsonschema
import pytest

import host_tools
import oci_archive
from conftest import ARCHIVE, ROOT, wait_for
from netlab import NetLab

HERE = os.path.dirname(os.path.abspath(__file__))
N = 10 + (os.getpid() + 101) % 200
HOST_IP = f"10.78.{N}.1"
LAB_IP = f"10.78.{N}.2"
NETNS = f"mlint{os.getpid()}"
VETH = f"mli{os.getpid() % 100000}"
IMAGE = "matchlock-test/tls-clients:latest"
VALUE = "mlvalue-" + secrets.token_hex(16)  # distinct per run: a match can only come from here
PLACEHOLDER = re.compile(r"SANDBOX_SECRET_[0-9a-f]{32}")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("dnsmasq"),
    reason="needs root, iproute2 and dnsmasq (scripts/install-deps.sh)")


def sh(*args, check=True, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, check=check, **kw)


def make_ca_and_cert(d, names):
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_key, ca, key, csr, cert, ext = (os.path.join(d, n) for n in (
        "ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem", "srv.ext"))
    sh("openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
       "-subj", "/CN=matchlock interception lab CA",
       "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    sh("openssl", "req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=" + names[0])
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join("DNS:" + n for n in names) + "\n"
                "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n")
    sh("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
       "-out", cert, "-days", "2", "-extfile", ext)
    return ca, cert, key


class Lab:
    def __init__(self, root, net):
        self.root = root
        self.net = net
        self.llm_log = os.path.join(root, "llm.log")
        self.backend_log = os.path.join(root, "backend.log")
        self.h2_log = os.path.join(root, "h2.log")
        for p in (self.llm_log, self.backend_log, self.h2_log):
            open(p, "w").close()

    def start(self, *argv, ns=True):
        return self.net.start(*argv, ns=ns)

    def llm_requests(self):
        with open(self.llm_log) as f:
            return [json.loads(l) for l in f]

    def backend_requests(self):
        with open(self.backend_log) as f:
            return [json.loads(l) for l in f]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("interception-lab"))
    try:
        h2server = host_tools.go_program(os.path.join(HERE, "tls_clients", "h2server.go"), root)
    except (FileNotFoundError, subprocess.CalledProcessError) as e:
        pytest.fail(f"cannot build the Go h2 server (scripts/install-deps.sh installs Go): {e}")
    net = NetLab(NETNS, VETH, HOST_IP, LAB_IP, cwd=root).create()
    lab = Lab(root, net)
    try:
        lab.ca, cert, key = make_ca_and_cert(root, ["api.llm.test", "other.llm.test",
                                                    "h2.llm.test"])
        net.dnsmasq("llm.test", pid_file=os.path.join(root, "dnsmasq.pid"))
        lab.start(sys.executable, os.path.join(HERE, "fake_llm_server.py"), LAB_IP, "443",
                  lab.llm_log, cert, key)
        lab.start(h2server, f"{LAB_IP}:8443", cert, key, lab.h2_log)
        lab.backend_port = 19000 + os.getpid() % 1000
        lab.start(sys.executable, os.path.join(HERE, "fake_llm_server.py"), "127.0.0.1",
                  str(lab.backend_port), lab.backend_log, ns=False)
        wait_for(lambda: net.listening(LAB_IP, 443) and net.listening(LAB_IP, 8443)
                 and net.listening("127.0.0.1", lab.backend_port, ns=False), "the lab's servers")
        yield lab
    finally:
        net.destroy()


@pytest.fixture(scope="module")
def image(ml, lab):
    """The BusyBox image plus the host's curl, python3 and node, and a static Go client."""
    d = tempfile.mkdtemp(prefix="tls-clients-", dir=lab.root)
    files = host_tools.program_files("curl", "node")
    files.update(host_tools.python_files())
    files["usr/bin/goclient"] = host_tools.go_program(
        os.path.join(HERE, "tls_clients", "goclient.go"), d)
    out = os.path.join(d, "image.tar")
    oci_archive.derive_image(ARCHIVE, out, {}, extra_layers=[host_tools.layer(files)])
    with open(out, "rb") as f:
        r = ml.run("image", "import", IMAGE, input=f.read())
    assert r.returncode == 0, r.stderr
    return IMAGE


def engine_env(lab):
    return {"SSL_CERT_FILE": lab.ca, "LLM_KEY": VALUE}


def lab_flags(lab, *allow):
    flags = ["--dns-servers", LAB_IP, "--allow-private-host", LAB_IP]
    for a in allow:
        flags += ["--allow-host", a]
    return flags


def start(ml, lab, image, *flags):
    r = ml.run("run", "-d", "--image", image, *lab_flags(lab), *flags, env=engine_env(lab))
    assert r.returncode == 0, r.stderr
    assert VALUE.encode() not in r.stdout + r.stderr
    return r.stdout.decode().strip()


def guest(ml, vm_id, script):
    r = ml.run("exec", vm_id, "--", "sh", "-c", script)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


@pytest.fixture(scope="module")
def box(ml, lab, image, tmp_path_factory):
    """One sandbox: LLM_KEY bound to api.llm.test, other.llm.test and h2.llm.test allowed,
    a usage log and an event log."""
    d = str(tmp_path_factory.mktemp("box"))
    usage, events = os.path.join(d, "usage.jsonl"), os.path.join(d, "events.jsonl")
    vm_id = start(ml, lab, image, "--privileged", "--secret", "LLM_KEY@api.llm.test",
                  "--allow-host", "other.llm.test", "--allow-host", "h2.llm.test",
                  "--usage-log-path", usage, "--event-log", events,
                  "--agent-system", "pytest-agent", "--run-id", "run-42")
    yield {"id": vm_id, "usage": usage, "events": events}
    ml.run("kill", vm_id)


def header(request, name):
    """A logged request's header, by case-insensitive name (Node sends lowercase names)."""
    for k, v in request["headers"].items():
        if k.lower() == name.lower():
            return v
    return None


def last_request_to(lab, host, marker):
    matches = [r for r in lab.llm_requests()
               if (header(r, "Host") or "").split(":")[0] == host and marker in r["path"]]
    return matches[-1] if matches else None


# --- every TLS client verifies the sandbox CA, and the secret is injected for its host ---------

CLIENTS = {
    "curl": 'curl -sS --max-time 60 -H "Authorization: Bearer $LLM_KEY" '
            '"https://api.llm.test/v1/models?client=curl"',
    "python": 'python3 -c "import os, urllib.request as u; '
              'r = u.Request(\'https://api.llm.test/v1/models?client=python\', '
              'headers={\'Authorization\': \'Bearer \' + os.environ[\'LLM_KEY\']}); '
              'print(u.urlopen(r, timeout=60).read().decode())"',
    "node": 'node -e "fetch(\'https://api.llm.test/v1/models?client=node\', {headers: '
            '{Authorization: \'Bearer \' + process.env.LLM_KEY}}).then(r => r.text())'
            '.then(t => console.log(t), e => { console.error(e); process.exit(1); })"',
    "go": 'goclient "https://api.llm.test/v1/models?client=go" '
          '"Authorization: Bearer $LLM_KEY"',
    # BusyBox wget sends no signature_algorithms: the guest-facing side must still answer.
    "busybox-wget": 'wget -q -O- --header "Authorization: Bearer $LLM_KEY" '
                    '"https://api.llm.test/v1/models?client=busybox-wget"',
}


@pytest.mark.parametrize("client", list(CLIENTS))
def test_client_trusts_the_sandbox_ca_and_the_secret_is_injected(ml, lab, box, client):
    rc, out, err = guest(ml, box["id"], CLIENTS[client])
    assert rc == 0, (out, err)
    assert '"gpt-test"' in out
    got = last_request_to(lab, "api.llm.test", f"client={client}")
    assert got is not None, "the request never reached the upstream"
    assert header(got, "Authorization") == f"Bearer {VALUE}"


def test_placeholder_in_the_url_query_is_replaced_for_the_bound_host(ml, lab, box):
    rc, out, err = guest(ml, box["id"],
                         'curl -sS -o /dev/null -w "%{http_code}" '
                         '"https://api.llm.test/v1/models?marker=query&key=$LLM_KEY"')
    assert out == "200", err
    got = last_request_to(lab, "api.llm.test", "marker=query")
    assert f"key={VALUE}" in got["path"]
    # In the path too (the event log records paths: it must keep the guest's placeholder).
    guest(ml, box["id"], 'curl -sS -o /dev/null "https://api.llm.test/v1/keys/$LLM_KEY?marker=path"')
    got = last_request_to(lab, "api.llm.test", "marker=path")
    assert got["path"].startswith(f"/v1/keys/{VALUE}?")


def test_placeholder_sent_to_another_host_is_blocked_and_never_leaves(ml, lab, box):
    rc, out, err = guest(ml, box["id"],
                         'curl -sS -w "\\n%{http_code}" -H "Authorization: Bearer $LLM_KEY" '
                         '"https://other.llm.test/v1/models?marker=exfil"')
    assert out.splitlines()[-1] == "403", (out, err)
    assert last_request_to(lab, "other.llm.test", "marker=exfil") is None
    # The same host without the placeholder is fine: the block is about the secret.
    rc, out, err = guest(ml, box["id"], 'curl -sS -o /dev/null -w "%{http_code}" '
                                        '"https://other.llm.test/v1/models?marker=clean"')
    assert out == "200", err


def test_a_name_that_disagrees_with_the_sni_gets_no_secret(ml, lab, box):
    # SNI other.llm.test, Host api.llm.test: not provably going to the bound host.
    rc, out, err = guest(ml, box["id"],
                         'curl -sS -w "\\n%{http_code}" -H "Host: api.llm.test" '
                         '-H "Authorization: Bearer $LLM_KEY" '
                         '"https://other.llm.test/v1/models?marker=fronting"')
    assert out.splitlines()[-1] in ("403", "421"), (out, err)
    for host in ("api.llm.test", "other.llm.test"):
        got = last_request_to(lab, host, "marker=fronting")
        assert got is None or VALUE not in json.dumps(got)


def test_placeholder_in_a_body_passes_untouched(ml, lab, box):
    body = r'"{\"model\":\"gpt-test\",\"messages\":[{\"role\":\"user\",\"content\":\"$LLM_KEY\"}]}"'
    rc, out, err = guest(ml, box["id"], "curl -sS -H 'Content-Type: application/json' "
                                        f"-d {body} "
                                        '"https://other.llm.test/v1/chat/completions?marker=body"')
    assert rc == 0, err
    got = last_request_to(lab, "other.llm.test", "marker=body")
    assert got is not None
    assert PLACEHOLDER.search(got["body"]) and VALUE not in got["body"]


def test_usage_log_has_one_line_per_call_json_and_sse(ml, lab, box):
    chat = ('curl -sS -H "Authorization: Bearer $LLM_KEY" -H "Content-Type: application/json" '
            "-d '{\"model\":\"gpt-test\",\"stream\":%s,\"messages\":[]}' "
            '"https://api.llm.test/v1/chat/completions?marker=usage-%s"')
    rc, out, err = guest(ml, box["id"], chat % ("false", "json"))
    assert '"usage"' in out, err
    rc, out, err = guest(ml, box["id"], chat % ("true", "sse"))
    assert "data: [DONE]" in out, err
    with open(box["usage"]) as f:
        lines = [json.loads(l) for l in f]
    calls = [l for l in lines if l.get("host") == "api.llm.test"]
    assert len(calls) >= 2
    for line in calls[-2:]:
        assert line["model"] == "gpt-test"
        assert (line["prompt_tokens"], line["completion_tokens"], line["total_tokens"]) == (11, 7, 18)
        assert line["cost_usd"] == pytest.approx(0.25)
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line["ts"])


def test_event_log_validates_and_records_the_injection_by_name(ml, lab, box):
    guest(ml, box["id"], 'curl -sS -o /dev/null -H "Authorization: Bearer $LLM_KEY" '
                         '"https://api.llm.test/v1/models?marker=events"')
    schema = json.load(open(os.path.join(ROOT, "rpc-schema", "event-log.schema.json")))
    with open(box["events"]) as f:
        events = [json.loads(l) for l in f]
    assert events
    for e in events:
        jsonschema.validate(e, schema)
        assert e["run_id"] == "run-42" and e["agent_system"] == "pytest-agent"
    types = {e["event_type"] for e in events}
    assert {"gate_decision", "request_transform", "http_request", "http_response"} <= types
    injected = [e for e in events if e["event_type"] == "request_transform"
                and e["data"].get("action") == "injected"]
    assert injected and all("LLM_KEY" in json.dumps(e) for e in injected)


def test_the_value_is_nowhere_after_real_traffic(ml, lab, box):
    rc, out, err = guest(ml, box["id"],
                         "env; cat /proc/[0-9]*/environ 2>/dev/null; dmesg; cat /proc/cmdline; "
                         "grep -rl -F \"$LLM_KEY\" / --exclude-dir=proc --exclude-dir=sys "
                         "--exclude-dir=dev 2>/dev/null | head -1")
    assert rc == 0, err
    assert PLACEHOLDER.search(out)
    assert VALUE not in out
    vm_dir = os.path.join(ml.home, "vms", box["id"])
    paths = [box["events"], box["usage"], os.path.join(ml.home, "state.db")]
    paths += [p for p in glob.glob(os.path.join(vm_dir, "**"), recursive=True)
              if os.path.isfile(p) and not p.endswith((".ext4", ".img", ".qcow2"))]
    for p in paths:
        with open(p, "rb") as f:
            assert VALUE.encode() not in f.read(), f"the secret value leaked into {p}"
    for cmd in (["inspect", box["id"]], ["get", box["id"]], ["list"]):
        r = ml.run(*cmd)
        assert VALUE.encode() not in r.stdout + r.stderr
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert VALUE not in ps


# --- HTTP/2 ---------------------------------------------------------------------------------------

def test_http2_on_both_legs_with_injection(ml, lab, box):
    rc, out, err = guest(ml, box["id"], 'goclient https://h2.llm.test:8443/proto; '
                                        'curl -sS --http2 https://h2.llm.test:8443/proto')
    assert rc == 0, err
    assert out.splitlines()[0] == "HTTP/2.0 200"
    assert out.count("proto=HTTP/2.0") == 2
    with open(lab.h2_log) as f:
        assert all(l.startswith("HTTP/2.0 ") for l in f if "/proto" in l)


def test_http2_trailers_reach_the_guest(ml, lab, box):
    # goclient prints the trailers it got ("trailer: Grpc-Status: 0"); curl 7.88 shows HTTP/2
    # trailers nowhere, and the proxy now speaks HTTP/2 to it (no chunked --raw to read them in).
    rc, out, err = guest(ml, box["id"], "goclient https://h2.llm.test:8443/trailers")
    assert rc == 0, err
    assert out.splitlines()[0] == "HTTP/2.0 200"
    assert "body-before-trailers" in out
    assert "grpc-status: 0" in out.lower()


# --- budget and model routing ---------------------------------------------------------------------

def test_budget_gate_answers_429_once_spend_reaches_the_limit(ml, lab, image, tmp_path):
    usage = str(tmp_path / "usage.jsonl")
    vm_id = start(ml, lab, image, "--allow-host", "api.llm.test", "--usage-log-path", usage,
                  "--budget-limit-usd", "0.4")
    try:
        call = ('curl -sS -o /dev/null -w "%{http_code} " -H "Content-Type: application/json" '
                "-d '{\"model\":\"gpt-test\",\"messages\":[]}' "
                "https://api.llm.test/v1/chat/completions?marker=budget")
        before = len([r for r in lab.llm_requests() if "marker=budget" in r["path"]])
        rc, out, err = guest(ml, vm_id, f"{call}; {call}; {call}")
        # 0.25 spent after the first call, 0.50 after the second: the third never leaves.
        assert out.split() == ["200", "200", "429"], err
        after = len([r for r in lab.llm_requests() if "marker=budget" in r["path"]])
        assert after - before == 2
    finally:
        ml.run("kill", vm_id)


def test_local_model_router_sends_the_call_to_the_backend_with_the_model_rewritten(
        ml, lab, image):
    backend = f"127.0.0.1:{lab.backend_port}"
    vm_id = start(ml, lab, image, "--allow-host", "api.llm.test", "--allow-host", "h2.llm.test",
                  "--local-model-route", f"api.llm.test/gpt-test=local-llama@{backend}",
                  "--local-model-route", f"h2.llm.test/gpt-test=local-h2@{backend}")
    try:
        before = len(lab.llm_requests())
        post = ('curl -sS -H "Content-Type: application/json" '
                "-d '{\"model\":\"gpt-test\",\"stream\":%s,\"messages\":[]}' %s")
        for stream in ("false", "true"):
            rc, out, err = guest(ml, vm_id,
                                 post % (stream, "https://api.llm.test/v1/chat/completions"))
            assert rc == 0 and "local-llama" in out, (out, err)
        # The h2 server's host: a guest offering h2 is answered in HTTP/1.1 there, so its
        # requests can go to the backend one by one.
        rc, out, err = guest(ml, vm_id, post % ("false", "--http2 -w '\\n%{http_version}' "
                                                "https://h2.llm.test:8443/v1/chat/completions"))
        assert rc == 0 and "local-h2" in out and out.splitlines()[-1] == "1.1", (out, err)
        models = [json.loads(r["body"])["model"] for r in lab.backend_requests()]
        assert models[-3:] == ["local-llama", "local-llama", "local-h2"]
        assert len(lab.llm_requests()) == before  # nothing reached the real API
    finally:
        ml.run("kill", vm_id)


# --- bad input --------------------------------------------------------------------------------------

@pytest.mark.parametrize("flags,named", [
    (["--local-model-route", "no-slash-or-equals"], "--local-model-route"),
    (["--budget-limit-usd", "1"], "--budget-limit-usd"),
    (["--plugin-config", "/nonexistent/plugins.json"], "--plugin-config"),
])
def test_bad_plugin_flags_fail_cleanly(ml, image, flags, named):
    before = (ml.sandbox_dirs(), ml.state_rows(), ml.qemu_processes())
    r = ml.run("run", "--image", image, *flags, "true")
    assert r.returncode != 0
    err = r.stderr.decode()
    assert named in err and err.count("\n") <= 2, err
    # Other tests' sandboxes may be running: nothing new is left behind.
    assert (ml.sandbox_dirs(), ml.state_rows(), ml.qemu_processes()) == before


# --- forced interception, the plugin configuration file, rpc rules and SDK callbacks --------------

def test_network_intercept_alone_allows_every_host_and_logs_every_request(ml, lab, image, tmp_path):
    events = str(tmp_path / "events.jsonl")
    vm_id = start(ml, lab, image, "--network-intercept", "--event-log", events)
    try:
        rc, out, err = guest(ml, vm_id, 'curl -sS -o /dev/null -w "%{http_code}" '
                                        "https://other.llm.test/v1/models?marker=forced")
        assert out == "200", err
    finally:
        ml.run("kill", vm_id)
    with open(events) as f:
        lines = [json.loads(l) for l in f]
    requests = [e for e in lines if e["event_type"] == "http_request"]
    assert any(e["data"]["host"] == "other.llm.test" and e["data"]["path"] == "/v1/models"
               for e in requests)
    assert all("marker=forced" not in json.dumps(e) for e in lines)  # no query strings


@pytest.mark.parametrize("mode,status,text", [
    ("deny-gate", "451", "not today"),  # the plugin's own answer
    ("crash", "403", "gatekeeper"),     # a dead plugin denies, naming itself
])
def test_an_external_plugin_decides_and_fails_closed(ml, lab, image, tmp_path, mode, status, text):
    config = tmp_path / "plugins.json"
    config.write_text(json.dumps({"plugins": [{
        "type": "external", "name": "gatekeeper",
        "command": ["/usr/bin/python3", os.path.join(ROOT, "tests", "fixtures", "policy_plugin.py"),
                    mode],
        "phases": ["gate"], "timeout_ms": 10000}]}))
    vm_id = start(ml, lab, image, "--allow-host", "api.llm.test", "--plugin-config", str(config))
    try:
        before = len(lab.llm_requests())
        rc, out, err = guest(ml, vm_id, 'curl -sS -w "\\n%{http_code}" '
                                        "https://api.llm.test/v1/models?marker=plugin")
        assert out.splitlines()[-1] == status, (out, err)
        assert text in out
        assert len(lab.llm_requests()) == before
    finally:
        ml.run("kill", vm_id)


def test_rpc_interception_rules_and_an_sdk_callback(ml, lab, image, tmp_path):
    from rpc_client import Rpc
    sock_path = str(tmp_path / "hook.sock")
    calls = []
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(8)

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                call = json.loads(data)
                calls.append(call)
                deny = call.get("query", {}).get("cb") == "deny"
                conn.sendall(json.dumps({"action": "block" if deny else "allow"}).encode() + b"\n")

    threading.Thread(target=serve, daemon=True).start()
    rules = [
        {"name": "tag", "phase": "before", "hosts": ["api.llm.test"],
         "set_headers": {"X-Rule": "on"}},
        {"name": "deny-path", "phase": "before", "path": "/v1/blocked", "action": "block"},
        {"name": "rewrite", "phase": "after", "hosts": ["api.llm.test"],
         "body_replacements": [{"find": "gpt-test", "replace": "gpt-REWRITTEN"}]},
        {"name": "hook", "phase": "before", "path": "/v1/models",
         "callback_id": "network_hook_4", "timeout_ms": 10000},
    ]
    rpc = Rpc(dict(ml.env, **engine_env(lab)))
    try:
        rpc.call("create", {"image": image, "network": {
            "allowed_hosts": ["api.llm.test"], "block_private_ips": False,
            "dns_servers": [LAB_IP], "intercept": True,
            "interception": {"callback_socket": sock_path, "rules": rules}}})
        code, out, err = rpc.exec('curl -sS "https://api.llm.test/v1/models?marker=rules"')
        assert code == 0 and b"gpt-REWRITTEN" in out, (out, err)
        got = last_request_to(lab, "api.llm.test", "marker=rules")
        assert header(got, "X-Rule") == "on"
        hook = [c for c in calls if c.get("callback_id") == "network_hook_4"]
        assert hook and hook[-1]["phase"] == "before" and hook[-1]["host"] == "api.llm.test"
        code, out, err = rpc.exec('curl -sS -o /dev/null -o /dev/null -w "%{http_code} " '
                                  '"https://api.llm.test/v1/models?marker=cbdeny&cb=deny" '
                                  '"https://api.llm.test/v1/blocked?marker=pathdeny"')
        assert out.decode().split() == ["403", "403"], (out, err)
        assert last_request_to(lab, "api.llm.test", "marker=cbdeny") is None
        assert last_request_to(lab, "api.llm.test", "marker=pathdeny") is None
        assert rpc.close() == ({}, 0)
    finally:
        rpc.kill()
        server.close()
    assert rpc.schema_errors == []


WEBSOCKET_CLIENT = r'''
import os, socket, ssl
ctx = ssl.create_default_context()  # the system bundle: the sandbox CA is in it
raw = socket.create_connection(("api.llm.test", 443), timeout=60)
s = ctx.wrap_socket(raw, server_hostname="api.llm.test")
s.sendall(("GET /ws?marker=websocket HTTP/1.1\r\nHost: api.llm.test\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Authorization: Bearer " + os.environ["LLM_KEY"] + "\r\n\r\n").encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(4096)
print(head.split(b"\r\n")[0].decode())
for msg in (b"frame-one", b"frame-two"):
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        got += s.recv(4096)
    print(got.decode())
'''


def test_websocket_over_tls_is_gated_injected_then_spliced(ml, lab, box):
    rc, out, err = guest(ml, box["id"], f"python3 -c '{WEBSOCKET_CLIENT}'")
    assert rc == 0, err
    assert out.splitlines() == ["HTTP/1.1 101 Switching Protocols", "frame-one", "frame-two"]
    got = last_request_to(lab, "api.llm.test", "marker=websocket")
    assert header(got, "Authorization") == f"Bearer {VALUE}"


def test_a_plugin_process_inherits_no_secret_value_and_sees_only_placeholders(
        ml, lab, image, tmp_path):
    log = tmp_path / "plugin.log"
    config = tmp_path / "plugins.json"
    config.write_text(json.dumps({"plugins": [{
        "type": "external", "name": "observer",
        "command": ["/usr/bin/python3", os.path.join(ROOT, "tests", "fixtures", "policy_plugin.py"),
                    "allow", str(log)],
        "phases": ["gate", "request"], "timeout_ms": 10000}]}))
    # LLM_KEY holds the value in the engine's environment (engine_env): NAME@HOSTS reads it.
    vm_id = start(ml, lab, image, "--secret", "LLM_KEY@api.llm.test",
                  "--plugin-config", str(config))
    try:
        rc, out, err = guest(ml, vm_id, 'curl -sS -o /dev/null -w "%{http_code}" '
                                        '-H "Authorization: Bearer $LLM_KEY" '
                                        '"https://api.llm.test/v1/models?marker=observed"')
        assert out == "200", err
        assert header(last_request_to(lab, "api.llm.test", "marker=observed"),
                      "Authorization") == f"Bearer {VALUE}"
        text = log.read_text()
        pid = int(text.splitlines()[0].split()[1])
        with open(f"/proc/{pid}/environ", "rb") as f:
            assert VALUE.encode() not in f.read(), "the plugin process inherited the value"
        assert "marker=observed" in text and PLACEHOLDER.search(text)
        assert VALUE not in text
    finally:
        ml.run("kill", vm_id)
