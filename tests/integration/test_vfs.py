"""Files end to end: the guest's FUSE workspace served by the owner (every mount mode, nested and
single-file mounts, the POSIX that git, GNU tar and gcc need, escape attempts, hooks and their
events), and files through the agent (rpc write_file/read_file/list_files, `matchlock cp`).

One rpc sandbox on the toolchain image (git, gcc, GNU tar) carries most cases: each works in its
own directory of the mounts, so sharing the boot is honest. Cases that break the sandbox (a
hostile relay) or need CLI flags boot their own.
"""
import base64
import hashlib
import io
import json
import os
import queue
import shutil
import socket
import stat
import subprocess
import tarfile
import tempfile
import threading
import time

import pytest

from conftest import BIN, IMAGE
from rpc_client import Rpc, RpcError, b64

WS = "/workspace"


def tree_digest(root):
    """Every path, type, mode, size and content under root (not times: reading sets atime)."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            h.update(f"{os.path.relpath(p, root)} {st.st_mode:o} {st.st_size}\n".encode())
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    h.update(f.read())
            elif stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(p).encode())
    return h.hexdigest()


class HookServer:
    """The SDK's side of vfs hook callbacks: a unix socket answering one line per connection.
    vfs_hook_1 upper-cases written bytes; vfs_hook_2 never answers (a hung SDK); vfs_hook_3
    (after phase) is answered with allow, which the engine ignores."""

    def __init__(self, path):
        self.path = path
        self.requests = queue.Queue()
        self.held = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(64)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            line = b""
            while not line.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                line += chunk
            req = json.loads(line)
            self.requests.put(req)
            if req["callback_id"] == "vfs_hook_1":
                data = base64.b64decode(req.get("data_base64", "")).upper()
                conn.sendall((json.dumps({"action": "mutate_write",
                                          "data_base64": b64(data)}) + "\n").encode())
                conn.close()
            elif req["callback_id"] == "vfs_hook_3":
                conn.sendall(b'{"action":"allow"}\n')
                conn.close()
            else:
                self.held.append(conn)  # no answer: the engine's deadline must fail it closed

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


@pytest.fixture(scope="module")
def lab():
    root = tempfile.mkdtemp(prefix="matchlock-vfs-")
    d = {k: os.path.join(root, k) for k in ("host", "ro", "ov", "deep", "outside")}
    for p in d.values():
        os.makedirs(p)
    d["root"] = root
    d["single"] = os.path.join(root, "single.txt")
    with open(d["single"], "w") as f:
        f.write("single-file\n")
    with open(os.path.join(d["outside"], "marker.txt"), "w") as f:
        f.write("OUTSIDE-SECRET\n")
    with open(os.path.join(d["host"], "from-host.txt"), "w") as f:
        f.write("written on the host\n")
    # Planted from the host: symlinks whose targets leave the mount.
    os.symlink(d["outside"], os.path.join(d["host"], "abs-out"))
    os.symlink("../outside", os.path.join(d["host"], "rel-out"))
    with open(os.path.join(d["ro"], "r.txt"), "w") as f:
        f.write("read only\n")
    os.makedirs(os.path.join(d["ov"], "od"))
    for rel, text in (("o1.txt", "one\n"), ("od/o2.txt", "two\n")):
        with open(os.path.join(d["ov"], rel), "w") as f:
            f.write(text)
    with open(os.path.join(d["deep"], "deep.txt"), "w") as f:
        f.write("deep\n")
    d["ov_digest"] = tree_digest(d["ov"])
    d["outside_digest"] = tree_digest(d["outside"])
    yield d
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def box(ml, lab, toolchain_image):
    hook_dir = tempfile.mkdtemp(prefix="matchlock-vfs-hook-")
    hooks = HookServer(os.path.join(hook_dir, "hook.sock"))
    rpc = Rpc(ml.env)
    rpc.vm_id = rpc.call("create", {
        "image": toolchain_image,
        "resources": {"cpus": 1, "memory_mb": 512},
        "vfs": {
            "workspace": WS,
            "mounts": {
                f"{WS}/host": {"type": "host_fs", "host_path": lab["host"]},
                f"{WS}/ro": {"type": "host_fs", "host_path": lab["ro"], "readonly": True},
                f"{WS}/ov": {"type": "overlay", "host_path": lab["ov"]},
                f"{WS}/mem": {"type": "memory"},
                f"{WS}/nested/deep": {"type": "host_fs", "host_path": lab["deep"]},
                f"{WS}/single.txt": {"type": "host_fs", "host_path": lab["single"]},
            },
            "interception": {
                "emit_events": True,
                "callback_socket": hooks.path,
                "rules": [
                    {"name": "no-blocked", "ops": ["create", "open", "write"],
                     "path": f"{WS}/host/blocked/*", "action": "block", "errno": "EACCES"},
                    {"name": "shout", "ops": ["write"], "path": f"{WS}/host/mut/*",
                     "action": "mutate_write", "callback_id": "vfs_hook_1", "timeout_ms": 5000},
                    {"name": "hung", "ops": ["create"], "path": f"{WS}/host/hung/*",
                     "callback_id": "vfs_hook_2", "timeout_ms": 700},
                    {"name": "audit", "phase": "after", "ops": ["remove"],
                     "path": f"{WS}/mem/*", "callback_id": "vfs_hook_3"},
                ],
            },
        },
    })["id"]
    rpc.hooks = hooks
    yield rpc
    try:
        assert rpc.close() == ({}, 0)
    finally:
        rpc.kill()
        hooks.close()
        shutil.rmtree(hook_dir, ignore_errors=True)
    assert rpc.schema_errors == []
    ml.assert_nothing_left()
    # Overlay changes vanish with the sandbox; the host tree was never touched.
    assert tree_digest(lab["ov"]) == lab["ov_digest"]
    assert tree_digest(lab["outside"]) == lab["outside_digest"]


def sh(box, script, **kw):
    code, out, err = box.exec(script, **kw)
    return code, out.decode(), err.decode()


def ok(box, script):
    code, out, err = sh(box, "set -e\n" + script)
    assert code == 0, f"exit {code}\nstdout: {out}\nstderr: {err}"
    return out


def file_events(box):
    """The file events received so far (notifications not tied to a request)."""
    events = []
    while True:
        try:
            msg = box.orphans.get_nowait()
        except queue.Empty:
            return events
        if msg.get("method") == "event" and msg["params"].get("type") == "file":
            events.append(msg["params"]["file"])


# ---- mount modes ------------------------------------------------------------------------------

def test_workspace_is_one_fuse_mount_with_every_mount_point(box):
    out = ok(box, f"grep ' {WS} ' /proc/mounts; ls {WS}; ls {WS}/nested")
    assert out.startswith(f"matchlock {WS} virtiofs ")  # one mount: the virtio-fs tag
    listing = out.split("\n", 1)[1].split()
    for name in ("host", "ro", "ov", "mem", "nested", "single.txt", "deep"):
        assert name in listing
    # The mount reads ahead 1 MiB (its backing device info is named by its device number).
    device = ok(box, f"awk '$5 == \"{WS}\" {{print $3}}' /proc/self/mountinfo").strip()
    assert ok(box, f"cat /sys/class/bdi/{device}/read_ahead_kb") == "1024\n"


def test_host_fs_is_the_host_directory_both_ways(box, lab):
    out = ok(box, f"cat {WS}/host/from-host.txt; echo from-guest > {WS}/host/g.txt")
    assert out == "written on the host\n"
    with open(os.path.join(lab["host"], "g.txt")) as f:
        assert f.read() == "from-guest\n"


def test_read_only_mount_refuses_every_change(box, lab):
    before = tree_digest(lab["ro"])
    assert ok(box, f"cat {WS}/ro/r.txt") == "read only\n"
    for cmd in (f"echo x > {WS}/ro/new", f"echo x >> {WS}/ro/r.txt", f"rm {WS}/ro/r.txt",
                f"mkdir {WS}/ro/d", f"chmod 600 {WS}/ro/r.txt", f"mv {WS}/ro/r.txt {WS}/ro/s"):
        code, _, err = sh(box, cmd)
        assert code != 0 and "Read-only file system" in err, (cmd, err)
    assert tree_digest(lab["ro"]) == before


def test_overlay_takes_changes_the_host_never_sees(box, lab):
    out = ok(box, f"""
        cd {WS}/ov
        echo changed > o1.txt; echo new > n.txt; rm od/o2.txt; mkdir nd; chmod 600 o1.txt
        cat o1.txt n.txt; ls od | wc -l; ls -ld nd | cut -c1; stat -c %a o1.txt""")
    assert out == "changed\nnew\n0\nd\n600\n"
    assert tree_digest(lab["ov"]) == lab["ov_digest"]


def test_memory_nested_and_single_file_mounts(box, lab):
    out = ok(box, f"""
        echo m > {WS}/mem/m.txt; cat {WS}/mem/m.txt
        cat {WS}/nested/deep/deep.txt
        cat {WS}/single.txt; echo appended >> {WS}/single.txt""")
    assert out == "m\ndeep\nsingle-file\n"
    with open(lab["single"]) as f:
        assert f.read() == "single-file\nappended\n"
    # A single file is not a directory, and the synthesised directory takes no files.
    assert sh(box, f"ls {WS}/single.txt/x")[0] != 0
    assert sh(box, f"touch {WS}/nested/new")[0] != 0


# ---- POSIX that real tools need ---------------------------------------------------------------

def test_posix_operations_in_a_host_fs_mount(box, lab):
    d = f"{WS}/host/posix"
    out = ok(box, f"""
        mkdir -p {d}; cd {d}
        printf 0123456789 > f; printf AB | dd of=f bs=1 seek=4 conv=notrunc 2>/dev/null
        truncate -s 8 f; cat f; echo
        echo old > target; echo new > target.tmp; mv target.tmp target; cat target
        mkdir -p dir/sub; echo inner > dir/sub/i; mv dir moved; cat moved/sub/i
        ln -s moved/sub/i link; readlink link; cat link
        ln target hard; stat -c %h hard
        chmod 640 target; stat -c %a target
        touch -d '2001-02-03 04:05:06' target; date -r target +%Y
        sync target
        stat -f -c %T . >/dev/null
        rmdir moved 2>/dev/null || echo notempty
        rm -r moved; ls""")
    assert out.splitlines() == ["0123AB67", "new", "inner", "moved/sub/i", "inner", "2", "640",
                                "2001", "notempty", "f", "hard", "link", "target"]
    host = os.path.join(lab["host"], "posix")
    assert oct(os.stat(os.path.join(host, "target")).st_mode & 0o777) == "0o640"
    assert os.readlink(os.path.join(host, "link")) == "moved/sub/i"
    assert os.path.samefile(os.path.join(host, "target"), os.path.join(host, "hard"))


def test_a_file_written_without_the_page_cache_reads_back_at_every_step(box, lab):
    # `exec 3> log` opens write-only with O_TRUNC: the server gives that fd direct I/O (no page
    # cache in the guest). Each round appends a line through it, then readers that use the
    # page cache (tail, cat) must see exactly what was written, though they cached the file's
    # last page one round earlier.
    d = f"{WS}/host/coherent"
    out = ok(box, f"""
        mkdir -p {d}; cd {d}
        exec 3> log
        for i in $(seq 1 60); do
          echo "line $i" >&3
          last=$(tail -n 1 log)
          [ "$last" = "line $i" ] || {{ echo "round $i: tail read '$last'"; exit 1; }}
          [ "$(cat log | wc -l)" = "$i" ] || {{ echo "round $i: cat short"; exit 1; }}
        done
        exec 3>&-
        tr -d '\\000' < log | cmp -s - log && echo no-nul
        wc -l < log""")
    assert out.split() == ["no-nul", "60"]
    with open(os.path.join(lab["host"], "coherent", "log")) as f:
        assert f.read() == "".join(f"line {i}\n" for i in range(1, 61))


def test_a_large_read_that_finds_nothing_cached_bypasses_the_page_cache(box, lab):
    # The guest kernel's patch (images/kernel/patches/0001-*): a read of at least
    # fuse.direct_read_min_kib KiB whose range has no cached page goes to the server as it was
    # asked, into the reader's memory; through the page cache the server only ever sees whole
    # pages. Each read event's size is the size the server was asked for.
    data = os.urandom(3 << 20)
    os.makedirs(os.path.join(lab["host"], "direct"))
    with open(os.path.join(lab["host"], "direct", "data"), "wb") as f:
        f.write(data)
    threshold_kib = int(ok(box, "cat /sys/module/fuse/parameters/direct_read_min_kib"))
    assert threshold_kib in (128, 1024)  # TCG, KVM (vm/qemu_command.cpp)
    size = threshold_kib * 1024 + 12345  # no whole number of pages
    path = f"{WS}/host/direct/data"

    def read(offset):
        file_events(box)
        out = ok(box, f"dd if={path} of=/tmp/part bs={size} skip={offset} count=1 "
                      f"iflag=skip_bytes 2>/dev/null; md5sum < /tmp/part; rm /tmp/part")
        sizes = [e["size"] for e in file_events(box) if e["op"] == "read" and e["path"] == path]
        assert out.split()[0] == hashlib.md5(data[offset:offset + size]).hexdigest()
        return sizes

    # Nothing of the file is cached: the server is asked for exactly the read's bytes (in one
    # request under TCG; a KVM guest's 1 MiB threshold may take two), never whole pages only.
    sizes = read(4097)
    assert sum(sizes) == size and any(s % 4096 for s in sizes), sizes
    # On one open file (each open drops the file's cached pages: close-to-open consistency), a
    # small read goes through the page cache, which then holds its page; the large read that
    # goes on from there finds that page cached and goes through the cache too.
    start = 2 << 20
    out = ok(box, f"""
        exec 3< {path}
        dd bs=100 count=1 skip={start} iflag=skip_bytes of=/dev/null <&3 2>/dev/null
        dd bs={size} count=1 of=/tmp/part <&3 2>/dev/null
        md5sum < /tmp/part; rm /tmp/part""")
    assert out.split()[0] == hashlib.md5(data[start + 100:start + 100 + size]).hexdigest()
    sizes = [e["size"] for e in file_events(box) if e["op"] == "read" and e["path"] == path]
    assert sizes and all(s % 4096 == 0 for s in sizes), sizes


MAPPED_WRITE_THEN_READ = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
/* argv: file (size bytes, whole pages), size, span: dirties one page of a shared writable
   mapping (never written back), then pread()s `span` bytes around it on the same descriptor
   and writes them to stdout. */
int main(int argc, char **argv) {
  long size = atol(argv[2]), span = atol(argv[3]), page = size / 2;
  int fd = open(argv[1], O_RDWR);
  if (fd < 0) return 2;
  char *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return 3;
  memset(map + page, 'B', 4096);
  char *buf = malloc(span);
  if (pread(fd, buf, span, page - 8192) != span) return 4;
  return write(1, buf, span) == span ? 0 : 5;
}
"""


def test_a_large_read_sees_the_dirty_pages_of_a_shared_mapping(box, lab):
    # The patch's coherency claim: a large read whose range holds a page of the cache (here a
    # dirty page of a shared writable mapping, not yet written back) goes through the cache, so
    # it returns what the mapping wrote, never the server's older bytes.
    data = os.urandom(4 << 20)
    os.makedirs(os.path.join(lab["host"], "mapped"))
    with open(os.path.join(lab["host"], "mapped", "data"), "wb") as f:
        f.write(data)
    with open(os.path.join(lab["host"], "mapped", "m.c"), "w") as f:
        f.write(MAPPED_WRITE_THEN_READ)
    threshold = int(ok(box, "cat /sys/module/fuse/parameters/direct_read_min_kib")) * 1024
    span = threshold + 3 * 4096
    file_events(box)
    out = ok(box, f"""
        gcc -O1 -o /tmp/mapped {WS}/host/mapped/m.c
        /tmp/mapped {WS}/host/mapped/data {len(data)} {span} | md5sum; rm /tmp/mapped""")
    page = len(data) // 2
    want = bytearray(data[page - 8192:page - 8192 + span])
    want[8192:8192 + 4096] = b"B" * 4096
    assert out.split()[0] == hashlib.md5(want).hexdigest()
    # And it was the cache that answered: a read that bypassed it would have asked the server
    # for exactly its own bytes (the test above).
    path = f"{WS}/host/mapped/data"
    sizes = [e["size"] for e in file_events(box) if e["op"] == "read" and e["path"] == path]
    assert sizes and span not in sizes, sizes


def test_a_process_whose_cwd_was_removed_and_recreated(box, lab):
    out = ok(box, f"""
        mkdir -p {WS}/host/cwd; cd {WS}/host/cwd
        rmdir {WS}/host/cwd; mkdir {WS}/host/cwd
        touch here 2>/dev/null || echo gone
        cd {WS}/host/cwd && touch here && pwd""")
    assert out == f"gone\n{WS}/host/cwd\n"
    assert os.path.exists(os.path.join(lab["host"], "cwd", "here"))


def owner_memory_kib(pid):
    """The owner's own memory: anonymous + file pages, without the guest RAM it maps
    (RssShmem: virtio-fs shares the guest's memfd RAM, which QEMU holds anyway)."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(l.split(":", 1) for l in f if ":" in l)
    kib = lambda k: int(fields[k].split()[0])
    return kib("RssAnon") + kib("RssFile"), kib("VmHWM"), kib("RssShmem")


def test_a_large_file_streams_with_flat_owner_memory(box, lab):
    # Sampled while the copy runs, since the kernel keeps no peak for private memory alone.
    pid = box.proc.pid
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], owner_memory_kib(pid)[0])
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        out = ok(box, f"""
            dd if=/dev/urandom of=/tmp/big bs=1M count=192 2>/dev/null
            cp /tmp/big {WS}/host/big; md5sum < {WS}/host/big; rm /tmp/big""")
    finally:
        done.set()
        sampler.join()
    path = os.path.join(lab["host"], "big")
    with open(path, "rb") as f:
        assert hashlib.md5(f.read()).hexdigest() == out.split()[0]
    assert os.path.getsize(path) == 192 << 20
    # The owner streams: its peak resident memory stays far below the file's size. Guest RAM
    # pages the owner touched count in VmHWM as shared memory; only they may exceed the bound
    # (RssShmem never shrinks while the guest runs, so it covers them at the peak too).
    _, hwm, shmem = owner_memory_kib(pid)
    assert peak[0] < 96 * 1024, f"owner private RSS peaked at {peak[0]} KiB copying 192 MiB"
    assert hwm - shmem < 96 * 1024, f"owner peak RSS {hwm} KiB ({shmem} KiB guest RAM)"
    os.unlink(path)


def test_git_init_add_commit_status_in_a_host_fs_mount(box, lab):
    repo = f"{WS}/host/repo"
    out = ok(box, f"""
        export HOME=/tmp
        git init -q {repo}; cd {repo}
        mkdir src; echo 'int main(void) {{ return 0; }}' > src/main.c; echo notes > README
        git add .; git -c user.email=a@b -c user.name=agent commit -qm first
        echo more >> README; git status --short
        git add README; git -c user.email=a@b -c user.name=agent commit -qm second
        git status --short; git log --oneline | wc -l""")
    assert out == " M README\n2\n"
    # The host's own git reads what the guest wrote.
    host_repo = os.path.join(lab["host"], "repo")
    log = subprocess.run(["git", "-c", f"safe.directory={host_repo}", "-C", host_repo, "log",
                          "--format=%s"], capture_output=True, text=True, check=True)
    assert log.stdout == "second\nfirst\n"
    fsck = subprocess.run(["git", "-c", f"safe.directory={host_repo}", "-C", host_repo, "fsck",
                           "--strict"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr


def test_gnu_tar_extracts_into_a_host_fs_mount(box, lab):
    buf = io.BytesIO()
    expected = {}
    with tarfile.open(fileobj=buf, mode="w") as t:
        for i in range(60):
            data = f"file {i}\n".encode() * (i + 1)
            info = tarfile.TarInfo(f"pkg/d{i % 7}/f{i}.txt")
            info.size, info.mode = len(data), 0o640 if i % 2 else 0o755
            t.addfile(info, io.BytesIO(data))
            expected[info.name] = (data, info.mode)
        link = tarfile.TarInfo("pkg/latest")
        link.type, link.linkname = tarfile.SYMTYPE, "d0/f0.txt"
        t.addfile(link)
    with open(os.path.join(lab["host"], "pkg.tar"), "wb") as f:
        f.write(buf.getvalue())
    ok(box, f"mkdir -p {WS}/host/untar; /usr/bin/tar -xf {WS}/host/pkg.tar -C {WS}/host/untar")
    base = os.path.join(lab["host"], "untar")
    for name, (data, mode) in expected.items():
        p = os.path.join(base, name)
        with open(p, "rb") as f:
            assert f.read() == data
        assert os.stat(p).st_mode & 0o777 == mode
    assert os.readlink(os.path.join(base, "pkg/latest")) == "d0/f0.txt"


def test_gcc_builds_and_runs_a_program_in_a_host_fs_mount(box, lab):
    out = ok(box, f"""
        mkdir -p {WS}/host/cc; cd {WS}/host/cc
        printf '#include <stdio.h>\\nint main(void) {{ puts("built"); return 42; }}\\n' > m.c
        gcc -O1 -o m m.c; ./m || echo "exit $?" """)
    assert out == "built\nexit 42\n"
    assert os.access(os.path.join(lab["host"], "cc", "m"), os.X_OK)


# ---- escapes ----------------------------------------------------------------------------------

def test_symlinks_planted_on_the_host_do_not_leave_the_mount(box, lab):
    # The guest kernel resolves symlinks in the guest's own tree: the targets are guest paths.
    for link in ("abs-out", "rel-out"):
        code, out, _ = sh(box, f"cat {WS}/host/{link}/marker.txt; echo x > {WS}/host/{link}/new")
        assert "OUTSIDE-SECRET" not in out and code != 0
    # Symlinks planted by the guest, pointing up and out, change nothing on the host either.
    sh(box, f"ln -s ../../../../.. {WS}/host/up; echo x > {WS}/host/up/tmp/planted")
    assert tree_digest(lab["outside"]) == lab["outside_digest"]
    assert not os.path.exists(os.path.join(os.path.dirname(lab["root"]), "tmp", "planted"))


def test_a_directory_swapped_for_a_symlink_during_guest_writes(box, lab):
    race = os.path.join(lab["host"], "race")
    parked = os.path.join(lab["host"], "race.real")
    os.makedirs(race)
    stop = threading.Event()
    swaps = [0]

    def swapper():
        # Atomically alternate race/ between a real directory and a symlink to the outside.
        while not stop.is_set():
            tmp = race + ".lnk"
            os.symlink(lab["outside"], tmp)
            os.rename(race, parked)
            os.rename(tmp, race)
            os.unlink(race)
            os.rename(parked, race)
            swaps[0] += 1

    t = threading.Thread(target=swapper)
    t.start()
    try:
        sh(box, f"""for i in $(seq 1 300); do
                      echo x > {WS}/host/race/f$i; cat {WS}/host/race/marker.txt
                      rm -f {WS}/host/race/f$((i-1)); mkdir {WS}/host/race/d$i
                    done 2>/dev/null""")
    finally:
        stop.set()
        t.join()
    assert swaps[0] > 0
    assert tree_digest(lab["outside"]) == lab["outside_digest"]


def test_the_server_refuses_names_longer_than_255_bytes(box, lab):
    # The guest kernel passes FUSE names up to 1024 bytes; 255 is the server's own limit.
    ok(box, f"touch {WS}/host/{'n' * 255}")
    assert os.path.exists(os.path.join(lab["host"], "n" * 255))
    code, _, err = sh(box, f"touch {WS}/host/{'n' * 256}")
    assert code != 0 and "too long" in err.lower()


# ---- files through the agent ------------------------------------------------------------------

def test_rpc_write_read_list_files(box, lab):
    assert box.call("write_file", {"path": "/tmp/rpc/deep/a.txt", "content": b64(b"hello"),
                                   "mode": 0o600}) == {}
    assert base64.b64decode(box.call("read_file", {"path": "/tmp/rpc/deep/a.txt"})["content"]) \
        == b"hello"
    assert ok(box, "stat -c %a /tmp/rpc/deep/a.txt") == "600\n"
    box.call("write_file", {"path": f"{WS}/host/rpc.txt", "content": b64(b"via rpc"), "mode": 0})
    with open(os.path.join(lab["host"], "rpc.txt"), "rb") as f:
        assert f.read() == b"via rpc"
    files = {f["name"]: f for f in box.call("list_files", {"path": "/tmp/rpc"})["files"]}
    assert files["deep"]["is_dir"] and files["deep"]["mode"] & (1 << 31)
    listing = {f["name"]: f for f in box.call("list_files", {"path": "/tmp/rpc/deep"})["files"]}
    assert listing["a.txt"]["size"] == 5 and listing["a.txt"]["mode"] == 0o600
    ok(box, f"mkdir {WS}/mem/empty")
    assert box.call("list_files", {"path": f"{WS}/mem/empty"}) == {"files": []}


def test_rpc_file_errors(box):
    with pytest.raises(RpcError) as e:
        box.call("read_file", {"path": "/no/such/file"})
    assert e.value.code == -32002 and "/no/such/file" in e.value.message
    with pytest.raises(RpcError) as e:
        box.call("read_file", {"path": "/tmp"})
    assert e.value.code == -32002
    with pytest.raises(RpcError) as e:
        box.call("list_files", {"path": "/no/such/dir"})
    assert e.value.code == -32002
    _, resp = box.wait(box.send("write_file", {"path": "/tmp/x", "content": "not base64!!",
                                               "mode": 420}, validate=False))
    assert resp["error"]["code"] == -32602
    assert "invalid base64 content" in resp["error"]["message"]


def test_cp_between_host_and_a_running_sandbox(ml, box, tmp_path):
    src = tmp_path / "src.bin"
    data = os.urandom(9 << 20)  # three 4 MiB chunks
    src.write_bytes(data)
    src.chmod(0o750)
    r = ml.run("cp", str(src), f"{box.vm_id}:/tmp/cp/copied.bin")
    assert r.returncode == 0, r.stderr
    assert ok(box, "md5sum < /tmp/cp/copied.bin; stat -c %a /tmp/cp/copied.bin") == \
        f"{hashlib.md5(data).hexdigest()}  -\n750\n"
    back = tmp_path / "back"
    back.mkdir()
    r = ml.run("cp", f"{box.vm_id}:/tmp/cp/copied.bin", str(back) + "/")
    assert r.returncode == 0, r.stderr
    assert (back / "copied.bin").read_bytes() == data
    r = ml.run("cp", f"{box.vm_id}:/no/such", str(back / "x"))
    assert r.returncode != 0 and b"/no/such" in r.stderr
    assert not (back / "x").exists()


# ---- hooks ------------------------------------------------------------------------------------

def test_block_rule_refuses_with_its_errno(box, lab):
    os.makedirs(os.path.join(lab["host"], "blocked"), exist_ok=True)
    code, _, err = sh(box, f"echo x > {WS}/host/blocked/a")
    assert code != 0 and "Permission denied" in err
    assert os.listdir(os.path.join(lab["host"], "blocked")) == []


def test_mutate_callback_rewrites_written_bytes(box, lab):
    os.makedirs(os.path.join(lab["host"], "mut"), exist_ok=True)
    ok(box, f"echo hello > {WS}/host/mut/a")
    with open(os.path.join(lab["host"], "mut", "a")) as f:
        assert f.read() == "HELLO\n"
    req = box.hooks.requests.get(timeout=10)
    while req["callback_id"] != "vfs_hook_1":
        req = box.hooks.requests.get(timeout=10)
    assert (req["op"], req["path"], req["phase"]) == ("write", f"{WS}/host/mut/a", "before")


def test_callback_that_never_answers_fails_closed(box, lab):
    os.makedirs(os.path.join(lab["host"], "hung"), exist_ok=True)
    code, _, err = sh(box, f"touch {WS}/host/hung/a")
    assert code != 0 and "Operation not permitted" in err
    assert os.listdir(os.path.join(lab["host"], "hung")) == []


def test_events_report_every_hooked_operation(box):
    file_events(box)  # drop what earlier cases caused
    ok(box, f"echo evt > {WS}/mem/evt.txt; mv {WS}/mem/evt.txt {WS}/mem/evt2.txt; "
            f"rm {WS}/mem/evt2.txt")
    sh(box, f"echo x > {WS}/host/blocked/b")
    # The events precede the exec's result on the same stdout, so they are all in by now.
    events = file_events(box)
    ops = [(e["op"], e["path"]) for e in events]
    assert ("create", f"{WS}/mem/evt.txt") in ops
    assert any(e["op"] == "write" and e["path"] == f"{WS}/mem/evt.txt" and e["size"] == 4
               for e in events)
    assert any(e["op"] == "rename" and e.get("new_path") == f"{WS}/mem/evt2.txt" for e in events)
    assert ("remove", f"{WS}/mem/evt2.txt") in ops
    assert any(e["path"] == f"{WS}/host/blocked/b" and e.get("error") == "EACCES"
               for e in events)
    # The after-phase callback rule hears of the remove too (fire and forget: it may come later).
    req = box.hooks.requests.get(timeout=30)
    while req["callback_id"] != "vfs_hook_3":
        req = box.hooks.requests.get(timeout=30)
    assert (req["phase"], req["op"], req["path"]) == ("after", "remove", f"{WS}/mem/evt2.txt")
    assert req["errno"] == 0


# ---- CLI -v, remounts, users ------------------------------------------------------------------

def test_run_volume_flags_relative_paths_default_overlay_and_workspace(ml, box, tmp_path):
    dirs_before = ml.sandbox_dirs()
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "in.txt").write_text("input\n")
    before = tree_digest(str(proj))
    proc = subprocess.run(
        [BIN,
         "run", "--image", IMAGE, "--workspace", "/work", "-v", "proj:data", "--",
         "sh", "-c", "pwd; cat /work/data/in.txt; echo out > /work/data/in.txt; cat /work/data/in.txt;"
                     " grep -c '^matchlock /work virtiofs ' /proc/mounts"],
        cwd=tmp_path, env=ml.env, capture_output=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    # With mounts and no WORKDIR in the image, commands start in the workspace.
    assert proc.stdout == b"/work\ninput\nout\n1\n"
    assert tree_digest(str(proj)) == before
    assert ml.sandbox_dirs() == dirs_before


def test_a_guest_that_remounts_the_workspace_gets_a_fresh_session(ml, box, lab):
    # A privileged guest may unmount the workspace and mount the device again: the new FUSE_INIT
    # starts a new session on the same mounts, and the old one's state is gone.
    dirs_before = ml.sandbox_dirs()
    script = f"""
        set -e
        cd /; exec 3< {WS}/h/from-host.txt
        umount -l {WS}; mount -t virtiofs matchlock {WS}
        cat {WS}/h/from-host.txt; echo again > {WS}/h/remounted.txt
    """
    r = ml.run("run", "--privileged", "--image", IMAGE, "-v", f"{lab['host']}:h:host_fs", "--",
               "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"written on the host\n"
    with open(os.path.join(lab["host"], "remounted.txt")) as f:
        assert f.read() == "again\n"
    assert tree_digest(lab["outside"]) == lab["outside_digest"]
    assert ml.sandbox_dirs() == dirs_before


def test_any_guest_user_can_work_in_the_default_workspace(ml, box):
    dirs_before = ml.sandbox_dirs()
    r = ml.run("run", "--image", IMAGE, "-u", "1000", "--", "sh", "-c",
               "echo mine > /workspace/x && stat -c '%u %a' /workspace/x /workspace")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"1000 644\n0 1777\n"
    assert ml.sandbox_dirs() == dirs_before
