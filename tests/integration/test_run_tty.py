"""`run -t` / `-it` through a real pseudo-terminal on the host side."""
import fcntl
import os
import pty
import select
import struct
import termios
import time

from conftest import BIN, IMAGE


def set_winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def spawn_in_pty(ml, args, rows=30, cols=100):
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(ml.env)
        os.execv(BIN, [BIN] + args)
    set_winsize(fd, rows, cols)
    return pid, fd


def read_until(fd, needle, deadline_s=120):
    buf = b""
    end = time.monotonic() + deadline_s
    while needle not in buf:
        left = end - time.monotonic()
        assert left > 0, f"did not see {needle!r}; got {buf!r}"
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    return buf


def wait_exit(pid):
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_t_gives_the_command_a_terminal_of_the_host_size(ml):
    pid, fd = spawn_in_pty(ml, ["run", "-t", "--image", IMAGE, "sh", "-c",
                                "test -t 1 && echo IS-A-TTY; stty size"], rows=33, cols=101)
    out = read_until(fd, b"33 101")
    assert b"IS-A-TTY" in out
    assert wait_exit(pid) == 0
    os.close(fd)


def test_it_forwards_keystrokes_and_resizes(ml):
    # The guest waits for the new size itself, so no timing assumption sits in the test.
    pid, fd = spawn_in_pty(ml, ["run", "-it", "--image", IMAGE, "sh", "-c",
                                "echo READY; read line; echo got:$line; stty size; "
                                "while [ \"$(stty size)\" = '30 100' ]; do sleep 0.05; done; "
                                "stty size; exit 5"])
    read_until(fd, b"READY")
    os.write(fd, b"hello\r")
    out = read_until(fd, b"30 100")
    assert b"got:hello" in out
    set_winsize(fd, 50, 140)  # the kernel sends SIGWINCH to matchlock, which resizes the guest pty
    read_until(fd, b"50 140")
    assert wait_exit(pid) == 5
    os.close(fd)


def test_it_without_a_terminal_is_refused(ml):
    r = ml.run("run", "-it", "--image", IMAGE, "true", input=b"")
    assert r.returncode != 0
    assert b"-it" in r.stderr
    ml.assert_nothing_left()
