// The "layer-apply" builtin: a docker layer tar (uncompressed, read from a file descriptor,
// the exec's stdin) extracted into a new build layer directory, ready to be an overlayfs layer.
//
// THREAT MODEL: the tar is hostile. Names are cleaned ("./" and empty parts dropped); "..",
// absolute names and NUL bytes are refused; every parent is opened from the layer root with
// O_NOFOLLOW | O_DIRECTORY, so nothing is ever written through a symlink, even one the tar
// itself created; hard link targets must be entries already in the layer; pax and GNU long
// name records are bounded; a truncated tar is an error.
#pragma once

#include <string>

#include "core/result.h"

namespace matchlock::guest_agent {

// Creates `layers_dir`/`id` (which must not exist) and extracts the tar into it: ownership,
// modes (setuid included), mtimes, xattrs (not trusted.overlay.*), hard links, symlinks,
// devices, fifos. ".wh.NAME" becomes an overlay whiteout (char device 0/0) NAME and
// ".wh..wh..opq" marks its directory opaque (trusted.overlay.opaque=y). On error the partial
// layer is removed. Blocking.
Status apply_layer_tar(int in_fd, const std::string& layers_dir, const std::string& id);

}  // namespace matchlock::guest_agent
