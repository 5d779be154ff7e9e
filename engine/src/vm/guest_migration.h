// Saving a guest's whole state (RAM, devices, the virtio-fs back-end's record) to a file with
// QEMU's migration, and loading such a file into a QEMU started with "-incoming defer"
// (VmSpec::incoming_deferred). Both run on the QMP client's loop and end with one call of
// `done`; the MIGRATION events (the "events" capability) say when QEMU has finished.
//
// The file is QEMU's migration stream: only a QEMU of the same version, with the same devices
// (argv), can load it. A file that is damaged or from another setup fails the load with QEMU's
// reason (query-migrate's error-desc), never a hang: `timeout` bounds each operation.
// `done` may run before the call returns (a refused path, a QMP connection already closed).
// Needs QEMU >= 9.1 (migrate-incoming's exit-on-error; vhost-user-fs migrates from 9.0).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>

#include "core/result.h"
#include "vm/qmp_client.h"

namespace matchlock::vm {

// Stops the guest (it stays stopped), lifts QEMU's default 128 MiB/s migration bandwidth cap,
// and migrates to `path` (created or truncated). Status ok once the file is complete.
// `path` may be any non-empty path, commas included (it goes to QEMU as a structured file
// channel, not as a URI QEMU would parse).
void save_guest_state(QmpClient& qmp, const std::filesystem::path& path,
                      std::chrono::milliseconds timeout, std::function<void(Status)> done);

// Loads `path` into a QEMU waiting with "-incoming defer". On success the guest is paused
// (as it was saved); the caller resumes it with "cont". On failure QEMU stays up (it is told
// not to exit) and the caller discards it.
void load_guest_state(QmpClient& qmp, const std::filesystem::path& path,
                      std::chrono::milliseconds timeout, std::function<void(Status)> done);

// The same for a file QEMU was handed as fd set `fdset` (qemu_command.h: VmSpec::migration_file,
// opened by the engine: QEMU may have no right to open it). The set is removed once the
// migration ends, however it ends, so QEMU holds no fd on the file afterwards; a removal that
// fails fails the operation.
void save_guest_state_to_fd_set(QmpClient& qmp, int fdset, std::chrono::milliseconds timeout,
                                std::function<void(Status)> done);
void load_guest_state_from_fd_set(QmpClient& qmp, int fdset, std::chrono::milliseconds timeout,
                                  std::function<void(Status)> done);

// Resumes a guest after save_guest_state (QMP `cont`), waiting out the moment after the
// "completed" event in which QEMU still refuses to resume ("Migration is not finalized yet").
void resume_after_save(QmpClient& qmp, std::chrono::milliseconds timeout,
                       std::function<void(Status)> done);

}  // namespace matchlock::vm
