#!/usr/bin/env python3
"""Enforces the module rule of docs/architecture.md: which engine module may include which.

Each folder under engine/src/ is a module; a file may include headers of its own module and of
the modules listed for it below, nothing else. guest/ (the in-guest agent) may include only
core and guest_protocol. Exits 1 and names every offending line.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "engine", "src")

# module -> modules it may include (besides itself). Keep in step with docs/architecture.md.
ALLOWED = {
    "core": set(),
    "guest_protocol": {"core"},
    "guest_client": {"core", "guest_protocol"},
    "vm": {"core"},
    # The vhost-user back end and split virtqueues, under both devices the owner serves.
    "virtio": {"core"},
    "net": {"core", "virtio"},
    "image": {"core"},
    "state": {"core"},
    "vfs": {"core", "virtio"},
    # Named volumes, and which live sandboxes (state records) hold a disk image.
    "volume": {"core", "state"},
    "sandbox": {"core", "vm", "guest_client", "net", "image", "state", "vfs", "volume"},
    # rpc speaks the VFS's value types on the wire: hook settings in `create` and the file
    # operations of `event` notices (vfs/file_operation.h, vfs/hook_rules.h); `list_sandboxes`
    # reads the state records without a sandbox, as the cli's `list` does.
    "rpc": {"core", "sandbox", "vfs", "state"},
    # `matchlock build`: the Dockerfile frontend and executor; layers go to the image store,
    # RUN steps run in sandboxes.
    "dockerbuild": {"core", "image", "sandbox"},
    # The image commands (pull, image ls/rm/import) and the record-keeping commands (list, get,
    # inspect, rm, prune, gc) work on the image store and the state database without a sandbox;
    # `version` and `setup linux` report the host's QEMU and guest bundle (vm/qemu_install.h,
    # vm/bundle.h) without starting one; the volume commands manage volumes without one;
    # `build` drives the dockerbuild module.
    "cli": {"core", "rpc", "sandbox", "image", "state", "vm", "volume", "dockerbuild"},
}
GUEST_AGENT_ALLOWED = {"core", "guest_protocol"}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def module_of_include(path):
    first = path.split("/", 1)[0]
    return first if "/" in path else None


def check_tree(top, own_module_of, allowed_for):
    bad = []
    for dirpath, _, files in os.walk(top):
        for name in files:
            if not name.endswith((".h", ".cpp")):
                continue
            path = os.path.join(dirpath, name)
            own = own_module_of(path)
            allowed = allowed_for(own)
            if allowed is None:
                bad.append(f"{os.path.relpath(path, ROOT)}: module '{own}' is not in the rule")
                continue
            with open(path, encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = module_of_include(m.group(1))
                    if target is None or target == own or target in allowed:
                        continue
                    if target in ALLOWED or target == "guest":
                        rel = os.path.relpath(path, ROOT)
                        bad.append(f"{rel}:{lineno}: '{own}' must not include \"{m.group(1)}\"")
    return bad


def main():
    bad = check_tree(SRC, lambda p: os.path.relpath(p, SRC).split(os.sep)[0], ALLOWED.get)
    guest = os.path.join(ROOT, "guest", "src")
    if os.path.isdir(guest):
        bad += check_tree(guest, lambda p: "guest_agent", lambda _: GUEST_AGENT_ALLOWED)
    for b in bad:
        print(f"check-includes: {b}", file=sys.stderr)
    if bad:
        print(f"check-includes: {len(bad)} include(s) break the module rule", file=sys.stderr)
        return 1
    print("check-includes: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
