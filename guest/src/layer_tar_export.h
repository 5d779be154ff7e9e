// The "layer-export" builtin: a build layer directory (an overlayfs upper dir) as a tar in the
// docker layer format, written to a file descriptor (the exec's stdout).
#pragma once

#include <string>

#include "core/result.h"

namespace matchlock::guest_agent {

// Writes the tree under `layer_dir` (not the directory itself) depth first, each directory's
// entries sorted by name, parents before children. Overlay whiteouts (char device 0/0) become
// empty ".wh.NAME" files, opaque directories (trusted.overlay.opaque=y) get a
// "DIR/.wh..wh..opq" entry right after their own; a second path of an inode already written is
// a hard link; trusted.overlay.* xattrs are left out, others go into SCHILY.xattr pax records.
// Sockets cannot be in a tar and are skipped. Blocking; symlinks are never followed.
Status export_layer_tar(const std::string& layer_dir, int out_fd);

}  // namespace matchlock::guest_agent
