"""The toolchain test image works on the guest's own disk: the VFS tests run the same programs
on mounted directories, so a failure here is the image's, not the file server's."""

# git's whole cycle, then a C program built by gcc (cc1, as, collect2/ld, crt files, libc) whose
# exit status proves it linked and ran. `git status --short` of a clean tree prints nothing.
SCRIPT = ("cd /tmp && git init -q r && cd r && git config user.email a@b && "
          "git config user.name a && echo hi > f && git add f && git commit -qm m && "
          "git status --short && printf 'int main(){return 42;}' > m.c && gcc m.c -o m && ./m; "
          "echo $?")


def test_git_and_gcc_work_in_the_toolchain_image(ml, toolchain_image):
    r = ml.run("run", "--image", toolchain_image, "--", "sh", "-c", SCRIPT)
    assert r.stdout == b"42\n", r.stderr
    assert r.returncode == 0


def test_the_image_has_gnu_tar_and_make(ml, toolchain_image):
    # BusyBox's sh runs its own tar applet for a bare `tar`: the GNU one is /usr/bin/tar.
    r = ml.run("run", "--image", toolchain_image, "--", "sh", "-c",
               "/usr/bin/tar --version | head -n1; make --version | head -n1")
    lines = r.stdout.splitlines()
    assert len(lines) == 2, r.stderr
    assert lines[0].startswith(b"tar (GNU tar) ") and lines[1].startswith(b"GNU Make "), lines
