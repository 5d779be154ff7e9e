"""A private network lab for tests and benches: a network namespace joined to the host by a
veth pair (HOST_IP on the host side, LAB_IP inside), servers started in it or on the host, and a
teardown that kills them and removes the namespace and the link. Needs root and iproute2.
"""
import subprocess


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


class NetLab:
    def __init__(self, netns, veth, host_ip, lab_ip, cwd=None):
        self.netns, self.veth, self.host_ip, self.lab_ip = netns, veth, host_ip, lab_ip
        self.cwd = cwd
        self.procs = []

    def create(self):
        """The namespace and the /24 link; on failure, whatever was made is removed again."""
        sh("ip", "netns", "add", self.netns)
        try:
            peer = self.veth + "p"
            sh("ip", "link", "add", self.veth, "type", "veth", "peer", "name", peer)
            sh("ip", "link", "set", peer, "netns", self.netns)
            sh("ip", "addr", "add", f"{self.host_ip}/24", "dev", self.veth)
            sh("ip", "link", "set", self.veth, "up")
            self.inside("ip", "addr", "add", f"{self.lab_ip}/24", "dev", peer)
            self.inside("ip", "link", "set", peer, "up")
            self.inside("ip", "link", "set", "lo", "up")
        except BaseException:
            self.destroy()
            raise
        return self

    def inside(self, *argv, check=True):
        return sh("ip", "netns", "exec", self.netns, *argv, check=check)

    def start(self, *argv, ns=True, quiet=True):
        """A server process, in the namespace unless ns=False; killed by destroy()."""
        cmd = (["ip", "netns", "exec", self.netns] if ns else []) + list(argv)
        out = subprocess.DEVNULL if quiet else None
        p = subprocess.Popen(cmd, stdout=out, stderr=out, cwd=self.cwd)
        self.procs.append(p)
        return p

    def dnsmasq(self, *names, log=None, pid_file):
        """dnsmasq on LAB_IP answering each of `names` (and their subdomains) with LAB_IP."""
        args = ["dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces",
                f"--listen-address={self.lab_ip}", "--pid-file=" + pid_file]
        if log:
            args += ["--log-queries", f"--log-facility={log}"]
        args += [f"--address=/{n}/{self.lab_ip}" for n in names]
        return self.start(*args)

    def listening(self, ip, port, udp=False, ns=True):
        cmd = (["ip", "netns", "exec", self.netns] if ns else []) + \
              ["ss", "-lnH", "-u" if udp else "-t"]
        return f"{ip}:{port}" in subprocess.run(cmd, capture_output=True, text=True).stdout

    def destroy(self):
        for p in self.procs:
            p.kill()
            p.wait()
        self.procs = []
        sh("ip", "link", "del", self.veth, check=False)
        sh("ip", "netns", "del", self.netns, check=False)
