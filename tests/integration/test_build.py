"""`matchlock build`: Dockerfiles built natively, every RUN in a real build VM (TCG here).

One MATCHLOCK_HOME serves the module, so the build cache carries over between tests the way it
does for a user; a test that needs a cold cache passes --no-cache or changes its Dockerfile.
Bad-input tests never boot a VM.
"""
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile

import pytest

from conftest import ARCHIVE, IMAGE, Matchlock

BUILD_TIMEOUT = 600


@pytest.fixture(scope="module")
def home():
    d = tempfile.mkdtemp(prefix="matchlock-build-")
    m = Matchlock(os.path.join(d, "ml"))
    m.root = d
    with open(ARCHIVE, "rb") as f:
        r = m.run("image", "import", IMAGE, input=f.read())
    assert r.returncode == 0, r.stderr
    yield m
    leftover = m.qemu_processes()
    subprocess.run(["pkill", "-9", "-f", m.home], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)
    assert leftover == [], f"QEMU processes outlived the tests: {leftover}"


def context(m, name, files):
    """A build context directory under the test's root: {relative path: text or bytes}."""
    d = os.path.join(m.root, name)
    shutil.rmtree(d, ignore_errors=True)
    for rel, body in files.items():
        p = os.path.join(d, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(body.encode() if isinstance(body, str) else body)
    return d


def build(m, ctx, *flags):
    r = m.run("build", "--progress", "plain", *flags, ctx, timeout=BUILD_TIMEOUT)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def run_image(m, image, *cmd):
    r = m.run("run", "--image", image, *cmd)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def image_names(m):
    r = m.run("image", "ls")
    return [l.split()[0] for l in r.stdout.decode().splitlines()[1:]]


def booted_vm(err):
    return "booting the build VM" in err


MULTISTAGE = """\
# syntax=docker/dockerfile:1
ARG BASE=matchlock/busybox:latest
FROM ${BASE} AS builder
ARG GREETING=hello
WORKDIR /src
COPY --chown=1000:50 app/ ./
RUN echo "$GREETING from $(cat name.txt)" > out.txt \\
 && mkdir -p /work/dir /work/gone && touch /work/keep /work/gone/x /work/dir/old \\
 && ln -s /src/out.txt /work/link && ln out.txt hard.txt
RUN rm -rf /work/gone /work/dir && mkdir /work/dir && touch /work/dir/new

FROM matchlock/busybox:latest
LABEL org.example.stage=final
ENV GREETING_FILE=/srv/out.txt
COPY --from=builder /src/out.txt /srv/
COPY --from=builder /work /work
EXPOSE 8080
CMD ["sh", "-c", "cat $GREETING_FILE"]
"""


@pytest.fixture(scope="module")
def multistage(home):
    ctx = context(home, "multistage", {
        "Dockerfile": MULTISTAGE,
        "app/name.txt": "matchlock\n",
    })
    rc, out, err = build(home, ctx, "-t", "built/multi:1", "-t", "built/multi:latest")
    assert rc == 0, err
    return ctx, out, err


def test_multistage_build_runs_and_keeps_deletions(home, multistage):
    ctx, out, err = multistage
    assert out.strip().startswith("sha256:"), out
    assert booted_vm(err), err
    assert "Successfully built and tagged built/multi:1" in err
    names = image_names(home)
    assert "built/multi:1" in names and "built/multi:latest" in names
    # CMD of the final stage, the file made by the first stage's RUN.
    rc, o, e = run_image(home, "built/multi:1")
    assert rc == 0, e
    assert o == "hello from matchlock\n"
    # Deleted paths stay deleted, the replaced directory is opaque, links survive.
    rc, o, e = run_image(home, "built/multi:1", "sh", "-c",
                         "ls -A /work | sort | tr '\\n' ' '; echo; ls /work/dir; readlink /work/link")
    assert rc == 0, e
    assert o.splitlines() == ["dir keep link ", "new", "/src/out.txt"], o


def test_run_layers_carry_whiteouts_hardlinks_and_ownership(home, multistage):
    """The first stage as an image: its layers hold the whiteouts, the hard link and --chown."""
    ctx, _, _ = multistage
    rc, out, err = build(home, ctx, "--target", "builder", "-t", "built/stage1:1")
    assert rc == 0, err
    assert not booted_vm(err), "every step of the target was cached by the first build"
    rc, o, e = run_image(home, "built/stage1:1", "sh", "-c",
                         "cat /src/out.txt; stat -c '%u:%g %h' /src/name.txt /src/out.txt;"
                         " ls /work/gone 2>&1; ls /work/dir; pwd")
    assert rc == 0, e
    lines = o.splitlines()
    assert lines[0] == "hello from matchlock"
    assert lines[1] == "1000:50 1"            # COPY --chown, numeric
    assert lines[2] == "0:0 2"                # out.txt and hard.txt are one inode
    assert "No such file or directory" in lines[3]
    assert lines[4:] == ["new", "/src"]       # WORKDIR is the image's working directory


def test_second_build_is_cached_without_a_vm(home, multistage):
    ctx, first_out, _ = multistage
    rc, out, err = build(home, ctx, "-t", "built/multi:1")
    assert rc == 0, err
    assert not booted_vm(err), err
    steps = [l for l in err.splitlines() if " CACHED" in l]
    assert len(steps) == 5, err  # COPY, RUN, RUN, COPY, COPY
    # An unchanged rebuild is the same image.
    assert out == first_out


def test_build_arg_changes_the_run_step(home, multistage):
    ctx, first_out, _ = multistage
    rc, out, err = build(home, ctx, "--build-arg", "GREETING=bye", "-t", "built/multi:bye")
    assert rc == 0, err
    assert booted_vm(err)
    assert out != first_out
    rc, o, e = run_image(home, "built/multi:bye")
    assert rc == 0 and o == "bye from matchlock\n", (o, e)


def test_oci_output_is_importable_elsewhere(home, multistage):
    ctx, _, _ = multistage
    dest = os.path.join(home.root, "multi.oci.tar")
    rc, out, err = build(home, ctx, "--output", f"type=oci,dest={dest}")
    assert rc == 0, err
    with tarfile.open(dest) as t:
        names = t.getnames()
        assert "oci-layout" in names and "index.json" in names
        index = json.load(t.extractfile("index.json"))
        manifest_digest = index["manifests"][0]["digest"]
        manifest = json.load(t.extractfile("blobs/sha256/" + manifest_digest.split(":")[1]))
        config = json.load(t.extractfile("blobs/sha256/" + manifest["config"]["digest"].split(":")[1]))
        assert config["config"]["Labels"] == {"org.example.stage": "final"}
        assert config["config"]["ExposedPorts"] == {"8080/tcp": {}}
        assert len(config["rootfs"]["diff_ids"]) == len(manifest["layers"])
        assert [h.get("created_by", "") for h in config["history"]][-1].startswith("CMD")
    other = Matchlock(os.path.join(home.root, "elsewhere"))
    with open(dest, "rb") as f:
        r = other.run("image", "import", "imported/multi:1", input=f.read())
    assert r.returncode == 0, r.stderr
    rc, o, e = run_image(other, "imported/multi:1")
    assert rc == 0 and o == "hello from matchlock\n", (o, e)
    other.assert_nothing_left()


def test_dockerignore_and_copy_rules(home):
    ctx = context(home, "ignore", {
        "Dockerfile": "FROM matchlock/busybox:latest\nCOPY . /ctx/\nCOPY *.txt /glob/\n"
                      "ADD bundle.tar.gz /unpacked/\nCOPY --chmod=0700 run.sh /bin/run-me\n",
        ".dockerignore": "secret.txt\n*.log\n!keep.log\nbuild/\n",
        "a.txt": "a", "secret.txt": "s", "debug.log": "d", "keep.log": "k",
        "build/out.o": "o", "run.sh": "#!/bin/sh\necho ran\n",
    })
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        data = b"inside\n"
        info = tarfile.TarInfo("pkg/file.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    with open(os.path.join(ctx, "bundle.tar.gz"), "wb") as f:
        f.write(buf.getvalue())
    rc, out, err = build(home, ctx, "-t", "built/ignore:1")
    assert rc == 0, err
    assert not booted_vm(err), "COPY and ADD are host-side: no VM"
    rc, o, e = run_image(home, "built/ignore:1", "sh", "-c",
                         "ls -A /ctx | sort | tr '\\n' ' '; echo; ls /glob; cat /unpacked/pkg/file.txt;"
                         " stat -c %a /bin/run-me; run-me")
    assert rc == 0, e
    lines = o.splitlines()
    assert lines[0].split() == sorted(["Dockerfile", ".dockerignore", "a.txt", "bundle.tar.gz",
                                       "keep.log", "run.sh"]), lines[0]
    assert lines[1:] == ["a.txt", "inside", "700", "ran"]


def test_the_sandboxs_etc_files_replace_an_images_link_and_keep_its_modes(home):
    """Images made for systemd-resolved ship /etc/resolv.conf as a link into /run (dangling in
    a sandbox): the sandbox's DNS settings replace the link, and nothing is made at its target
    (following the link would fail the sandbox's configuration: /run/resolve does not exist).
    An image's own /etc/hosts keeps its mode and owner under the sandbox's content."""
    ctx = context(home, "etc-files", {"Dockerfile": "FROM matchlock/busybox:latest\n"
                                                    "ADD etc.tar /\n"})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("etc/resolv.conf")
        info.type, info.linkname = tarfile.SYMTYPE, "../run/resolve/stub-resolv.conf"
        t.addfile(info)
        hosts = b"10.9.9.9 from-the-image\n"
        info = tarfile.TarInfo("etc/hosts")
        info.size, info.mode, info.uid, info.gid = len(hosts), 0o640, 1000, 50
        t.addfile(info, io.BytesIO(hosts))
    with open(os.path.join(ctx, "etc.tar"), "wb") as f:
        f.write(buf.getvalue())
    rc, out, err = build(home, ctx, "-t", "built/etc-files:1")
    assert rc == 0, err
    rc, out, err = run_image(home, "built/etc-files:1", "sh", "-c",
                             "if [ -L /etc/resolv.conf ]; then echo link; else echo file; fi; "
                             "ls /run/resolve 2>/dev/null | wc -l; "
                             "grep -c ^nameserver /etc/resolv.conf || true; "
                             "stat -c '%a %u %g' /etc/hosts; grep -c from-the-image /etc/hosts || true")
    assert rc == 0, err
    kind, at_target, nameservers, mode, uid, gid, image_lines = out.split()
    assert (kind, at_target) == ("file", "0")
    assert int(nameservers) >= 1
    assert (mode, uid, gid) == ("640", "1000", "50")
    assert image_lines == "0", "CONFIG's hosts file replaces the image's content"


def test_failing_run_stops_the_build_with_its_code(home):
    ctx = context(home, "failing", {
        "Dockerfile": "FROM matchlock/busybox:latest\nRUN echo before\nRUN echo oops >&2; exit 3\n"
                      "RUN echo never\n",
    })
    rc, out, err = build(home, ctx, "-t", "built/failing:1")
    assert rc == 3, err
    assert "oops" in err
    assert "never" not in err.replace("RUN echo never", "")
    last = err.strip().splitlines()[-1]
    assert last.startswith("matchlock: build: Dockerfile:3: RUN") and "exit code 3" in last, last
    assert "built/failing:1" not in image_names(home)
    home.assert_nothing_left()


@pytest.mark.parametrize("dockerfile,files,flags,message", [
    ("FROM matchlock/busybox:latest\nFORM x\n", {}, [], "Dockerfile:2: unknown instruction"),
    ("FROM matchlock/busybox:latest\nCOPY missing.txt /\n", {}, [], "Dockerfile:2:"),
    ("FROM matchlock/busybox:latest\nCOPY ../outside /\n", {}, [], "Dockerfile:2:"),
    ("FROM matchlock/busybox:latest\n", {}, ["--build-arg", "=x"], "--build-arg"),
    ("FROM 127.0.0.1:9/no/such:image\nRUN true\n", {}, [], "Dockerfile:1: FROM"),
    ("FROM matchlock/busybox:latest AS a\nFROM a\n", {}, ["--target", "nope"], "nope"),
    ("FROM scratch\nRUN true\n", {}, [], "Dockerfile:2:"),
])
def test_bad_input_one_line_and_nothing_stored(home, dockerfile, files, flags, message):
    ctx = context(home, "bad", {"Dockerfile": dockerfile, **files})
    before = image_names(home)
    rc, out, err = build(home, ctx, "-t", "built/bad:1", *flags)
    assert rc != 0
    last = err.strip().splitlines()[-1]
    assert last.startswith("matchlock: build:") and message in last, err
    assert image_names(home) == before
    home.assert_nothing_left()


def test_no_tag_and_no_output_is_refused(home):
    ctx = context(home, "notag", {"Dockerfile": "FROM matchlock/busybox:latest\n"})
    rc, out, err = build(home, ctx)
    assert rc == 2 and "-t NAME" in err


@pytest.mark.parametrize("flags,interfaces", [([], "eth0 lo"), (["--no-network"], "lo")])
def test_run_steps_have_the_builds_network(home, flags, interfaces):
    ctx = context(home, "net", {
        "Dockerfile": "FROM matchlock/busybox:latest\n"
                      "RUN echo \"ifaces: $(ls /sys/class/net | sort | tr '\\n' ' ')\"\n",
    })
    rc, out, err = build(home, ctx, *flags, "--no-cache", "-t", "built/net:1")
    assert rc == 0, err
    line = next(l for l in err.splitlines() if "ifaces: " in l and "RUN" not in l)
    assert line.split("ifaces: ")[1].split() == interfaces.split(), line


# ---------------------------------------------------------------- a Debian base from the fixtures

FIXTURES = os.environ.get("OCI_FIXTURES_DIR", "")
DEBIAN = "127.0.0.1:5000/debian:bookworm"


def debian_available():
    import urllib.request
    try:
        with urllib.request.urlopen("http://127.0.0.1:5000/v2/debian/tags/list", timeout=5) as r:
            return "bookworm" in json.load(r).get("tags", [])
    except OSError:
        return False


DEBIAN_DOCKERFILE = f"""\
FROM {DEBIAN}
RUN useradd -m -u 1234 -s /bin/bash builder && rm -rf /usr/share/doc && mkdir -p /opt/app
COPY --chown=builder:builder app.txt /opt/app/
COPY tool.sh /bin/tool
USER builder
WORKDIR /home/builder
RUN id -un > who && stat -c %U /opt/app/app.txt >> who && tool >> who
"""


def test_debian_base_users_merged_usr_and_deleted_dirs(home):
    """A real distribution: useradd in a RUN, --chown by name from its /etc/passwd, COPY into
    /bin (a symlink to usr/bin there), a base directory deleted by a RUN."""
    if not debian_available():
        if os.environ.get("OCI_FIXTURES_REQUIRED") == "1":
            raise AssertionError("the fixtures registry has no debian image (OCI_FIXTURES_DEBIAN=1)")
        pytest.skip("the fixtures registry has no debian image")
    ctx = context(home, "debian", {
        "Dockerfile": DEBIAN_DOCKERFILE,
        "app.txt": "app\n",
        "tool.sh": "#!/bin/sh\necho tool-ran\n",
    })
    os.chmod(os.path.join(ctx, "tool.sh"), 0o755)
    rc, out, err = build(home, ctx, "-t", "built/debian:1")
    assert rc == 0, err
    rc, o, e = run_image(home, "built/debian:1", "sh", "-c",
                         "cat who; id -un; pwd; test -L /bin && echo bin-is-link;"
                         " ls /usr/bin/tool; test -e /usr/share/doc || echo no-doc")
    assert rc == 0, e
    assert o.splitlines() == ["builder", "builder", "tool-ran", "builder", "/home/builder",
                              "bin-is-link", "/usr/bin/tool", "no-doc"], o


CONFIG_DOCKERFILE = """\
FROM matchlock/busybox:latest
SHELL ["/bin/sh", "-c"]
RUN <<EOF
echo "from a heredoc" > /heredoc.txt
mkdir -p /data
EOF
COPY <<-EOT /etc/app.conf
	key=value
	EOT
ENV A=1 B="two words"
USER agent
WORKDIR /home/agent
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /heredoc.txt /etc/app.conf"]
LABEL a=b c="d e"
EXPOSE 80 53/udp
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --retries=2 CMD wget -q -O- http://localhost/ || exit 1
"""


def test_config_records_every_setting_and_heredocs_run(home):
    ctx = context(home, "config", {"Dockerfile": CONFIG_DOCKERFILE})
    dest = os.path.join(home.root, "config.oci.tar")
    rc, out, err = build(home, ctx, "-t", "built/config:1", "--output", f"type=oci,dest={dest}")
    assert rc == 0, err
    with tarfile.open(dest) as t:
        index = json.load(t.extractfile("index.json"))
        manifest = json.load(t.extractfile(
            "blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]))
        config = json.load(t.extractfile(
            "blobs/sha256/" + manifest["config"]["digest"].split(":")[1]))
    c = config["config"]
    assert "A=1" in c["Env"] and "B=two words" in c["Env"]
    assert c["User"] == "agent" and c["WorkingDir"] == "/home/agent"
    assert c["Entrypoint"] == ["/bin/sh", "-c"] and c["Cmd"] == ["cat /heredoc.txt /etc/app.conf"]
    assert c["Labels"] == {"a": "b", "c": "d e"}
    assert c["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert c["Volumes"] == {"/data": {}}
    assert c["StopSignal"] == "SIGTERM"
    assert c["Healthcheck"]["Test"][0] == "CMD-SHELL" and c["Healthcheck"]["Retries"] == 2
    assert c["Healthcheck"]["Interval"] == 30 * 10**9
    # Layers: busybox's, the RUN, the COPY; metadata steps are empty_layer history entries.
    assert len(manifest["layers"]) == len(config["rootfs"]["diff_ids"]) == 3
    assert sum(1 for h in config["history"] if not h.get("empty_layer")) == 3
    rc, o, e = run_image(home, "built/config:1")
    assert rc == 0, e
    assert o == "from a heredoc\nkey=value\n", o


def test_interrupted_build_leaves_nothing(home):
    ctx = context(home, "interrupt", {
        "Dockerfile": "FROM matchlock/busybox:latest\nRUN echo started-long-step; sleep 300\n",
    })
    p = home.popen("build", "--progress", "plain", "--no-cache", "-t", "built/interrupted:1", ctx,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = []
    for raw in p.stderr:
        seen.append(raw.decode(errors="replace"))
        if "started-long-step" in seen[-1] and "RUN" not in seen[-1]:
            break
    else:
        raise AssertionError("the step never started: " + "".join(seen))
    p.send_signal(signal.SIGINT)
    rest = p.stderr.read().decode(errors="replace")
    assert p.wait(timeout=60) == 130, "".join(seen) + rest
    assert "interrupted" in rest
    assert "built/interrupted:1" not in image_names(home)
    home.assert_nothing_left()


def test_killed_build_is_cleaned_by_gc(home):
    ctx = context(home, "killed", {
        "Dockerfile": "FROM matchlock/busybox:latest\nRUN echo started-killed-step; sleep 300\n",
    })
    p = home.popen("build", "--progress", "plain", "--no-cache", "-t", "built/killed:1", ctx,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for raw in p.stderr:
        line = raw.decode(errors="replace")
        if "started-killed-step" in line and "RUN" not in line:
            break
    scratch = os.path.join(home.home, "cache", "build", "tmp")
    assert any(n.startswith(f"build-{p.pid}-") for n in os.listdir(scratch))
    p.kill()
    p.wait(timeout=30)
    r = home.run("gc")
    assert r.returncode == 0, r.stderr
    assert b"build scratch build-%d-" % p.pid in r.stdout, r.stdout
    assert not any(n.startswith(f"build-{p.pid}-") for n in os.listdir(scratch))
    assert home.run("prune").returncode == 0
    assert "built/killed:1" not in image_names(home)
    home.assert_nothing_left()


def test_allow_host_build_runs_behind_the_policy(home):
    """--allow-host puts RUN behind the interception policy: a name that is not allowed gets the
    policy's sinkhole address from the engine's DNS, which only interception answers with."""
    ctx = context(home, "allowhost", {
        "Dockerfile": "FROM matchlock/busybox:latest\n"
                      "RUN nslookup not-allowed.example.com 2>&1 | sed 's/^/dns: /'; true\n",
    })
    rc, out, err = build(home, ctx, "--allow-host", "allowed.example.com", "--no-cache",
                         "-t", "built/allowhost:1")
    assert rc == 0, err
    answers = [l for l in err.splitlines() if "dns: " in l and "RUN" not in l]
    assert any("192.168.127.3" in l for l in answers), err
