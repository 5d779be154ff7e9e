// The host <-> guest channel protocol, carried over the virtio-serial port "matchlock.ctl".
//
// Both sides of the wire include this header: the engine (host) and matchlock-guest (the agent).
// THREAT MODEL: the host treats every guest frame as hostile input. Lengths are bounded by
// kMaxFramePayload before anything is allocated; a violation closes the channel.
//
// Frame: [type u8][stream u32 big-endian][len u32 big-endian][payload: len bytes]
//
// Stream 0 is the control stream. Exec streams use ids chosen by the host (odd numbers from 1).
//
// Session:
//   guest -> host  HELLO   {"version":1,"agent":"matchlock-guest <ver>","boot_ms":N}
//   host  -> guest HELLO   {"version":1}
//   host  -> guest CONFIG  {"hostname":..,"hosts":"<file text>","resolv_conf":"<file text>"|absent,
//                           "time_unix_ms":N,"network":{"address":"192.168.127.15","prefix":24,
//                           "gateway":"192.168.127.2","mtu":1500}|absent}   (absent: no NIC)
//   guest -> host  READY   {}                          (or ERROR {"message":..} on stream 0)
// The guest sends HELLO again whenever it (re)opens the port, so a reconnecting host resyncs by
// waiting for the next HELLO. Versions must match exactly; on mismatch the host fails the boot.
//
// Exec stream N (host picks N, never reused in a session):
//   host  -> guest EXEC_OPEN {"argv":[..],"env":["K=V",..],"cwd":"/..","user":"name|uid[:gid]"|"",
//                             "tty":bool,"rows":N,"cols":N,"stdin":bool,"privileged":bool}
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
// Control stream extras:
//   PING/PONG  [opaque bytes, echoed]                 liveness and round-trip measurement
//   SHUTDOWN   [grace_ms u32] (host->guest)            graceful stop: SIGTERM all, sync, unmount,
//                                                      power off; the host then sees QEMU exit
#pragma once

#include <cstddef>
#include <cstdint>

namespace matchlock::channel {

inline constexpr uint32_t kProtocolVersion = 1;
inline constexpr size_t kFrameHeaderSize = 9;
// Largest payload either side accepts. DATA frames are produced in chunks of kMaxDataChunk.
inline constexpr uint32_t kMaxFramePayload = 256 * 1024;
inline constexpr uint32_t kMaxDataChunk = 64 * 1024;
// Bytes each sender may have in flight per fd before it must wait for CREDIT.
inline constexpr uint32_t kInitialCredit = 256 * 1024;
inline constexpr uint32_t kControlStream = 0;

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
};

// True for every value of FrameType; anything else from the peer is a protocol error.
bool is_known_frame_type(uint8_t type);
const char* frame_type_name(FrameType type);

enum StreamFd : uint8_t { kStdin = 0, kStdout = 1, kStderr = 2 };

}  // namespace matchlock::channel
