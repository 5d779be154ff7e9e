// Which live sandboxes have a disk image attached, read back from their state records (the
// "disks" of options_record.h). `volume rm` refuses a volume in use; a boot refuses a disk that
// another sandbox holds read-write, or that it wants read-write while another holds it.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"
#include "state/state_store.h"

namespace matchlock::volume {

struct DiskUser {
  std::string sandbox_id;
  bool readonly = false;
};

// Active (creating or running, owner alive) sandboxes with `host_path` attached.
Result<std::vector<DiskUser>> active_disk_users(state::StateStore& store,
                                                const std::string& host_path);

// The users of `host_path` as text for an error: "vm-1 (read-write), vm-2 (read-only)".
std::string describe_users(const std::vector<DiskUser>& users);

}  // namespace matchlock::volume
