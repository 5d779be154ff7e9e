// The host <-> guest channel protocol, carried over the virtio-serial port "matchlock.ctl".
//
// Both sides of the wire include this header: the engine (host) and matchlock-guest (the agent).
// THREAT MODEL: the host treats every guest frame as hostile input. Lengths are bounded by
// kMaxFramePayload before anything is allocated; a violation closes the channel.
//
// Frame: [type u8][stream u32 big-endian][len u32 big-endian][payload: len bytes]
//
// Stream 0 is the control stream. Exec, port and file streams use ids chosen by the host (odd
// numbers from 1, one sequence for all kinds, never reused in a session).
//
// Session:
//   guest -> host  HELLO   {"version":8,"agent":"matchlock-guest <ver>","boot_ms":N}
//   host  -> guest HELLO   {"version":8}
//   host  -> guest CONFIG  {"channel_token":"<64 hex>","entropy":"<base64 of 64 random bytes>",
//                           "restored":true|absent,
//                           "hostname":..,"hosts":"<file text>","resolv_conf":"<file text>"|absent,
//                           "time_unix_ms":N,"network":{"address":"192.168.127.15","prefix":24,
//                           "gateway":"192.168.127.2","mtu":1500}|absent,   (absent: no NIC)
//                           "ca_certificate":"<PEM>"|absent,
//                           "workspace":"/workspace"|absent,
//                           "disks":[{"serial":"disk0","path":"/data","readonly":bool}]|absent}
//   guest -> host  READY   {"channel_token":"<the CONFIG's>"}   (or ERROR {"message":..})
// Boot order: the guest sends HELLO from its initramfs, with the "base" and "upper" disks present
// but not mounted, and nothing per-sandbox done (no randomness drawn that must differ between
// sandboxes, boot_id unread), so the host may save the VM right after HELLO and restore that
// state for many sandboxes. On CONFIG the guest first credits "entropy" (required, 64 bytes) to
// its RNG and reseeds it, then sets the clock; with "restored" (the VM was restored from a save)
// it drops the upper disk's cached blocks (BLKFLSBUF: the save's key fixes the upper disk's
// size) and re-probes every other disk but "base" (driver unbind + bind), so the data disks
// are read fresh with their sizes and modes; then it mounts the overlay root (base + upper),
// switches to it, and only then applies the rest (hostname, files, CA, network, disks, workspace).
// A failure in any of these steps is an ERROR for CONFIG. A CONFIG after a reconnect re-seeds and
// sets the clock but never switches root again. With "disks", the guest mounts each virtio-blk disk
// of that serial (ext4, read-only if asked) at its path, mkdir -p first, before the workspace; a
// disk that is missing or fails to mount is an ERROR for CONFIG (deliberately fatal: a silently
// missing data disk is worse). The guest unmounts them when it shuts down, so their journals are
// clean. With "workspace", the guest mounts the VFS there before READY: the virtio-fs device tagged
// "matchlock", whose FUSE requests the host serves as the device's vhost-user backend (not over
// this channel). A mount failure is an ERROR for CONFIG, so every exec after READY sees the
// workspace. The guest sends HELLO again whenever it (re)opens the port, so a host still
// handshaking resyncs by waiting for the next HELLO. After READY a HELLO is fatal: the host treats
// the channel as lost (something in the guest reopened or took over the port). Versions must match
// exactly; on mismatch the host fails the boot. "channel_token" is fresh for every connection
// (a restored guest gets its own); a READY that does not echo it exactly fails the boot, so a
// READY is the answer of the agent that read this connection's CONFIG. After READY the host also
// treats any open or close of the port itself (QEMU's VSERPORT_CHANGE) as a lost channel.
//
// Exec stream N (host picks N, never reused in a session):
//   host  -> guest EXEC_OPEN {"argv":[..],"env":["K=V",..],"cwd":"/..","user":"name|uid[:gid]"|"",
//                             "tty":bool,"rows":N,"cols":N,"stdin":bool,"privileged":bool,
//                             "build_root":{"lower":["l3","l2","l1"],"upper":"l4"}|absent,
//                             "builtin":"layer-export"|"layer-apply"|"layer-drop"|absent}
//     Build layers (for image builds) are directories layers/<id> on the upper disk, which the
//     agent mounts a second time at /run/matchlock-build/disk/build (the base disk read-only at
//     /run/matchlock-build/base). Ids match [a-z0-9_-]{1,64}; at most kMaxBuildLowerLayers lowers.
//     "build_root": argv runs in a new mount + pid namespace whose root is an overlay of the
//     `lower` layers (top first) over the base disk, with a new layer `upper` (which must not
//     exist) as its upperdir; /proc, /sys (ro), /dev (the guest's), /dev/shm, and the guest's
//     /etc/resolv.conf, /etc/hosts and /etc/hostname are mounted in it (mount points the agent
//     had to create are removed from the layer afterwards). The user is looked up in that root
//     and a missing cwd is created (root-owned). When the process exits, every process of the
//     namespace is killed. Signals reach the process (its group without a tty) as usual.
//     "builtin" (needs "build_root" with "upper"; argv is ignored and may be empty) runs a
//     built-in command as root instead of argv, with the usual stdio, flow control and EXIT:
//       layer-export  stdout = a tar of layer `upper` (overlay whiteouts as .wh. entries)
//       layer-apply   stdin = an uncompressed layer tar, extracted into new layer `upper`
//       layer-drop    removes layer `upper` and its overlay work dir
//     Errors go to stderr, with a non-zero exit code.
//   guest -> host  EXEC_STARTED {"pid":N}    or   ERROR {"message":..,"exit_code":N} (stream over)
//   data:  DATA [fd u8][bytes]   fd 0 = stdin (host->guest), 1 = stdout, 2 = stderr (guest->host);
//          with a tty, all output is fd 1.
//   EOF [fd u8]               no more bytes on that fd in that direction.
//   CREDIT [fd u8][bytes u32]  the receiver of fd's bytes allows the sender kInitialCredit-style
//                             more bytes. Each side starts with kInitialCredit per fd it sends.
//   RESIZE [rows u16][cols u16] (host->guest, tty only)
//   SIGNAL [signo u8]          (host->guest) delivered to the process group (tty: the process)
//   CANCEL [grace_ms u32]      (host->guest) SIGTERM to the group, SIGKILL after grace_ms
//   EXIT [code i32]            (guest->host) last frame of the stream, sent after EOF on 1 and 2.
//                              code = exit status, or 128+signal for a signal death.
//
// Port stream N: one TCP connection from the host to a port inside the guest, carried by the
// agent (not the NIC), so it works without a network too.
//   host  -> guest PORT_OPEN {"port":N,"address":"127.0.0.1"}   address optional (default
//                             127.0.0.1); only loopback (127.0.0.0/8, ::1) is accepted.
//                             The host may send DATA/EOF right after it, within its credit.
//   guest -> host  PORT_OPENED {}   connected   or   ERROR {"message":..} (stream over, e.g.
//                                                    "connection refused")
//   data:  DATA/EOF/CREDIT exactly as on exec streams, with fd 0 = host->guest bytes (the
//          host's client to the guest's server) and fd 1 = guest->host bytes; fd 2 is unused.
//          EOF 0: the client shut down its write side (the agent shuts down the socket's write
//          side after the bytes before it). EOF 1: the server's side did the same.
//          The guest sends no DATA or EOF before PORT_OPENED.
//   PORT_CLOSED {} | {"error":".."}  (guest->host) last frame of the stream: after EOF both
//                             ways ({}), or when the connection failed (reset, write error).
//   PORT_CLOSE []              (host->guest) abort: the agent closes the socket, sends nothing
//                              more on the stream, and the host forgets it at once.
//
// File streams: one file operation on any guest path, as root, by the agent itself (not through
// the VFS). Errors are ERROR {"message":"open /x: No such file or directory","errno":N} (stream
// over); errno is the guest's (Linux) value, e.g. ENOENT, EISDIR.
//   host  -> guest FILE_READ  {"path":"/abs","offset":N,"limit":N}
//   guest -> host  FILE_INFO  {"size":N,"mode":N}   the file's size and st_mode at open
//                  DATA 1 chunks within the host's credit (CREDIT 1 as on exec streams), at most
//                  `limit` bytes in all, from `offset`; then EOF 1; then FILE_DONE {}.
//                  A directory or any non-regular file is ERROR with EISDIR / EINVAL.
//   host  -> guest FILE_WRITE {"path":"/abs","mode":N,"offset":N,"truncate":bool,"mkdirs":bool}
//                  then DATA 0 within its credit and EOF 0. The agent opens the file in place
//                  (no temporary file: O_CREAT, `mode` only when it creates it, mkdir -p 0755 of
//                  the parent with "mkdirs"), pwrite()s the bytes from `offset` on, returns
//                  CREDIT 0 for written bytes, and at EOF 0 ftruncate()s to offset + bytes
//                  written when "truncate" is set.
//   guest -> host  FILE_DONE  {}   after EOF 0 (the bytes are written), or ERROR: the first
//                  failure ends the stream and later DATA is ignored.
//   host  -> guest FILE_LIST  {"path":"/abs"}   a directory's entries (not "." or "..")
//   guest -> host  FILE_LISTING {"files":[{"name":..,"size":N,"mode":N,"is_dir":bool,
//                  "mtime":unix_seconds},..]}  one or more frames (each below kMaxFramePayload),
//                  then FILE_DONE {}. At most kMaxListEntries entries; lstat() (symlinks are not
//                  followed). A path that is not a directory is ERROR ENOTDIR.
//   host  -> guest FILE_STAT {"path":"/abs"}   lstat() (a symlink is not followed)
//   guest -> host  FILE_INFO {"size":N,"mode":N,"mtime":unix_seconds}  st_mode with its type
//                  bits; then FILE_DONE {}. A missing path (or parent) is ERROR ENOENT/ENOTDIR.
//   host  -> guest FILE_MKDIR {"path":"/abs","mode":N,"parents":bool}   the directory gets
//                  exactly `mode` (& 07777, not narrowed by the umask) when it is created; with
//                  "parents" missing parents are created 0755 and an existing directory (or a
//                  symlink to one) is success. Then FILE_DONE {} or ERROR (EEXIST, ...).
//   host  -> guest FILE_REMOVE {"path":"/abs","recursive":bool}   a file, symlink or empty
//                  directory; with "recursive" a directory and everything below it, walked with
//                  openat()/unlinkat() and never through a symlink (a symlink is removed, its
//                  target kept). At most kMaxRemoveDepth directories deep. FILE_DONE or ERROR.
//   host  -> guest FILE_RENAME {"path":"/abs","new_path":"/abs"}   rename(2): replaces an
//                  existing file at new_path. FILE_DONE {} or ERROR.
//   The host may drop a file stream at any time; frames for it are then ignored by both sides.
//
// Control stream extras:
//   PING/PONG  [opaque bytes, echoed]                 liveness and round-trip measurement
//   SHUTDOWN   [grace_ms u32] (host->guest)            graceful stop: SIGTERM all, sync, unmount,
//                                                      power off; the host then sees QEMU exit
#pragma once

#include <cstddef>
#include <cstdint>

namespace matchlock::guest_protocol {

// 2: port streams (PORT_OPEN, PORT_OPENED, PORT_CLOSE, PORT_CLOSED).
// 3: CONFIG "workspace" (the VFS mount) and file streams (FILE_READ, FILE_WRITE, FILE_LIST,
//    FILE_INFO, FILE_LISTING, FILE_DONE).
// 4: FILE_STAT, FILE_MKDIR, FILE_REMOVE, FILE_RENAME (and FILE_INFO's "mtime" for a stat).
// 5: CONFIG "disks" (an older agent would ignore them and run without its data disks).
// 6: HELLO before the root is mounted (warm start), CONFIG "entropy" (required) and "restored".
// 7: EXEC_OPEN "build_root" and "builtin" (image builds).
// 8: CONFIG "channel_token" (required), echoed by READY.
inline constexpr uint32_t kProtocolVersion = 8;
// Length of CONFIG's "channel_token": 32 random bytes in lowercase hex.
inline constexpr size_t kChannelTokenLength = 64;
inline constexpr size_t kFrameHeaderSize = 9;
// Largest payload either side accepts. DATA frames are produced in chunks of kMaxDataChunk.
inline constexpr uint32_t kMaxFramePayload = 256 * 1024;
inline constexpr uint32_t kMaxDataChunk = 64 * 1024;
// Bytes each sender may have in flight per fd before it must wait for CREDIT.
inline constexpr uint32_t kInitialCredit = 256 * 1024;
inline constexpr uint32_t kControlStream = 0;
// Most entries one FILE_LIST answers with (both sides enforce it).
inline constexpr size_t kMaxListEntries = 100'000;
// Deepest directory nesting one recursive FILE_REMOVE walks (it holds one open directory per
// level, so the agent keeps file descriptors for its other streams).
inline constexpr size_t kMaxRemoveDepth = 256;
// Most lower layers one EXEC_OPEN "build_root" stacks (overlayfs allows about 500).
inline constexpr size_t kMaxBuildLowerLayers = 200;

enum class FrameType : uint8_t {
  kHello = 0x01,
  kConfig = 0x02,
  kReady = 0x03,
  kError = 0x04,
  kPing = 0x05,
  kPong = 0x06,
  kShutdown = 0x07,

  kExecOpen = 0x10,
  kExecStarted = 0x11,
  kData = 0x12,
  kEof = 0x13,
  kCredit = 0x14,
  kResize = 0x15,
  kSignal = 0x16,
  kCancel = 0x17,
  kExit = 0x18,

  kPortOpen = 0x20,
  kPortOpened = 0x21,
  kPortClose = 0x22,
  kPortClosed = 0x23,

  kFileRead = 0x30,
  kFileWrite = 0x31,
  kFileList = 0x32,
  kFileInfo = 0x33,
  kFileListing = 0x34,
  kFileDone = 0x35,
  kFileStat = 0x36,
  kFileMkdir = 0x37,
  kFileRemove = 0x38,
  kFileRename = 0x39,
};

// True for every value of FrameType; anything else from the peer is a protocol error.
bool is_known_frame_type(uint8_t type);
const char* frame_type_name(FrameType type);

// The byte directions of a stream. Port streams use kStdin for host->guest bytes and kStdout
// for guest->host bytes (named for exec streams, where they are the process's stdio).
enum StreamFd : uint8_t { kStdin = 0, kStdout = 1, kStderr = 2 };

}  // namespace matchlock::guest_protocol
