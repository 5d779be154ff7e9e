// Minimal PID 1 for the bare-QEMU baseline benchmark: print a marker on the console and
// power the VM off at once. Boots the same vmlinux as matchlock, with nothing else in the
// initramfs, so "matchlock run true" can be compared to the cost of the kernel alone.
#include <fcntl.h>
#include <sys/reboot.h>
#include <unistd.h>

int main(void) {
  static const char marker[] = "BASELINE_MARKER\n";
  int fd = open("/dev/console", O_WRONLY | O_NOCTTY);
  if (fd < 0) fd = 1;
  (void)!write(fd, marker, sizeof marker - 1);
  sync();
  reboot(RB_POWER_OFF);
  for (;;) pause();  // PID 1 must never exit
}
