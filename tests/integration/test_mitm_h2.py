"""HTTP/2 through the TLS interception proxy, on both legs.

The lab is test_interception.py's (its network namespace, DNS, lab CA and servers, reused through
its fixtures): h2.llm.test:8443 is a Go server that speaks h2 and http/1.1 and logs the protocol
each request arrived in; api.llm.test:443 speaks http/1.1 only (no ALPN). The guest's clients are
the host's curl (--http2) and a static Go client (net/http, h2 by ALPN), which print the protocol
and the status.

The proxy offers the guest h2 only when the upstream it dialled for the guest's ClientHello chose
h2, so an h2-offering guest talks HTTP/1.1 to an http/1.1-only server, and h2 end to end to an h2
one; the policy still runs per stream (secrets, blocks).
"""
import os
import re
import secrets

import pytest

from test_interception import (IMAGE, LAB_IP, guest, image, lab,  # noqa: F401 (fixtures)
                               lab_flags, pytestmark)

H2 = "https://h2.llm.test:8443"
VALUE = "mlh2value-" + secrets.token_hex(16)
OTHER_VALUE = "mlh2other-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def box(ml, lab, image):
    """H2_KEY bound to h2.llm.test, OTHER_KEY to api.llm.test; blocked.llm.test not allowed."""
    r = ml.run("run", "-d", "--image", image, *lab_flags(lab),
               "--secret", "H2_KEY@h2.llm.test", "--secret", "OTHER_KEY@api.llm.test",
               "--allow-host", "h2.llm.test",
               env={"SSL_CERT_FILE": lab.ca, "H2_KEY": VALUE, "OTHER_KEY": OTHER_VALUE})
    assert r.returncode == 0, r.stderr
    vm_id = r.stdout.decode().strip()
    yield vm_id
    ml.run("kill", vm_id)


def h2_log(lab):
    with open(lab.h2_log) as f:
        return [l.split() for l in f]


def test_go_client_and_curl_speak_h2_on_both_legs(ml, lab, box):
    rc, out, err = guest(ml, box, f"goclient {H2}/proto?c=go; "
                                  f"curl -sS --http2 -w '%{{http_version}}\\n' {H2}/proto?c=curl")
    assert rc == 0, (out, err)
    lines = out.splitlines()
    assert lines[0] == "HTTP/2.0 200", out
    assert out.count("proto=HTTP/2.0") == 2, out  # what the server saw
    assert lines[-1] == "2", out  # what curl negotiated with the proxy
    assert [l[0] for l in h2_log(lab) if l[2] == "/proto"][-2:] == ["HTTP/2.0", "HTTP/2.0"]


def test_the_secret_is_injected_per_stream(ml, lab, box):
    rc, out, err = guest(ml, box, f'goclient {H2}/proto "Authorization: Bearer $H2_KEY"')
    assert rc == 0, (out, err)
    assert out.splitlines()[0] == "HTTP/2.0 200", out
    assert f"auth-length={len('Bearer ' + VALUE)}" in out
    assert h2_log(lab)[-1][:4] == ["HTTP/2.0", "h2.llm.test:8443", "/proto", "Bearer"]
    assert h2_log(lab)[-1][4] == VALUE


def test_trailers_reach_the_guest(ml, lab, box):
    # The Go client prints trailers (curl 7.88 shows none, even talking to the server directly).
    rc, out, err = guest(ml, box, f"goclient {H2}/trailers")
    assert rc == 0, (out, err)
    assert out.splitlines() == ["HTTP/2.0 200", "body-before-trailers", "trailer: Grpc-Status: 0"]


def test_a_request_the_policy_blocks_gets_403_on_the_h2_stream(ml, lab, box):
    # OTHER_KEY is bound to api.llm.test: sending it to h2.llm.test is blocked, per request.
    before = len(h2_log(lab))
    rc, out, err = guest(ml, box, f'goclient {H2}/proto?c=exfil "Authorization: Bearer $OTHER_KEY"')
    assert out.splitlines()[0] == "HTTP/2.0 403", (out, err)
    assert len(h2_log(lab)) == before  # never reached the server
    # The connection-level policy blocks a host that is not allowed at all: still a 403.
    rc, out, err = guest(ml, box, "goclient https://blocked.llm.test:8443/proto; "
                                  "curl -sS --http2 -o /dev/null -w '%{http_code}' "
                                  "https://blocked.llm.test:8443/proto")
    assert re.match(r"HTTP/\S+ 403$", out.splitlines()[0]), (out, err)
    assert out.splitlines()[-1].endswith("403"), (out, err)
    assert len(h2_log(lab)) == before


def test_an_http11_only_upstream_gets_http11_from_an_h2_offering_guest(ml, lab, box):
    rc, out, err = guest(ml, box, "goclient 'https://api.llm.test/v1/models?client=go-h2-offer'; echo; "
                                  "curl -sS --http2 -o /dev/null -w '%{http_version} %{http_code}' "
                                  "'https://api.llm.test/v1/models?client=curl-h2-offer'")
    assert rc == 0, (out, err)
    lines = out.splitlines()
    assert lines[0] == "HTTP/1.1 200", out
    assert '"gpt-test"' in out
    assert lines[-1] == "1.1 200", out
    paths = [r["path"] for r in lab.llm_requests()]
    assert any("client=go-h2-offer" in p for p in paths)
    assert any("client=curl-h2-offer" in p for p in paths)


def test_two_concurrent_streams_share_one_connection(ml, lab, box):
    # /barrier answers "together" only when both requests are inside the server at once.
    rc, out, err = guest(ml, box, "curl -sS --http2 --parallel --parallel-max 2 "
                                  "-w 'connects=%{num_connects}\\n' "
                                  f"{H2}/barrier?n=1 {H2}/barrier?n=2")
    assert rc == 0, (out, err)
    assert out.count("together") == 2, out
    assert sum(int(n) for n in re.findall(r"connects=(\d+)", out)) == 1, out  # one guest conn
    barrier = [l for l in h2_log(lab) if l[2] == "/barrier"][-2:]
    assert [l[0] for l in barrier] == ["HTTP/2.0", "HTTP/2.0"]
    assert barrier[0][-1] == barrier[1][-1]  # and one upstream connection (same client port)
