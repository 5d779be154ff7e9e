// The layer a COPY or ADD instruction adds: files from a host source root (the build context,
// filtered by .dockerignore, or a stage's flattened rootfs) placed at the destination by
// docker's rules, written as a canonical layer tar (image/layer_tar_writer.h).
//
// Destination rules (docker's COPY/ADD):
//   - a directory source copies its contents, not the directory itself, into dest;
//   - a file goes to dest/NAME when dest ends in '/', when several files matched a wildcard or
//     when dest is a directory of the image (CopyCallbacks::existing_dir); else it is named dest;
//   - several sources need a dest ending in '/' (error otherwise);
//   - missing parents of dest are created 0755 root:root (mtime 0), or with the image's own
//     metadata when existing_dir knows them, so the layer never changes a parent it only passes;
//   - a wildcard matching nothing copies nothing; a missing literal source is an error.
// Named sources are resolved inside the root (symlinks followed as if the root were "/", never
// above it); symlinks met while walking a directory are copied as symlinks. ADD extracts a
// local tar archive (plain, gzip, bzip2, xz, zstd) into dest with entries confined to it; names
// in it are taken literally. ADD from a URL is refused. Blocking: callers run it on the pool.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "image/layer_flattener.h"

namespace matchlock::dockerbuild {

struct CopyRequest {
  bool add = false;                   // ADD: local archives are extracted
  std::filesystem::path source_root;  // context dir or a stage's rootfs
  std::vector<std::string> sources;   // relative to source_root; may hold wildcards
  // COPY <<EOF: heredoc name -> body; a source naming one copies that text (mode 0644, mtime 0).
  std::vector<std::pair<std::string, std::string>> inline_files;
  std::string dest;                // absolute (WORKDIR applied); a trailing '/' is kept
  std::string chown;               // "user[:group]", names or numbers; "" = none
  std::optional<uint32_t> chmod;   // --chmod: permission bits for every copied file and dir
  bool keep_source_owner = false;  // COPY --from: the source's uid/gid unless --chown
};

struct UserIds {
  uint32_t uid = 0;
  uint32_t gid = 0;  // the user's primary group
};

struct CopyCallbacks {
  // .dockerignore: true = the path is not in the context. `rel` is clean and relative to the
  // root. Null: nothing is excluded.
  std::function<bool(std::string_view rel)> excluded;
  // Whether an excluded directory may still hold included paths ("!" exceptions); null: an
  // excluded directory is skipped whole.
  std::function<bool(std::string_view dir)> may_include_below;
  // --chown names, looked up in the target image (/etc/passwd, /etc/group). Needed only for
  // names; an unset lookup makes a name an error.
  std::function<Result<UserIds>(std::string_view user)> lookup_user;
  std::function<Result<uint32_t>(std::string_view group)> lookup_group;
  // A directory of the image below the new layer at `path` (relative, clean): its metadata, or
  // nullopt when the image has no directory there. Null: the image is taken to have none.
  std::function<std::optional<image::EntryMeta>(std::string_view path)> existing_dir;
  // The destination with the image's own symlinks resolved inside the image, so that a COPY to
  // /bin/x of a merged-/usr image lands in usr/bin/x instead of replacing the /bin link with a
  // directory. `path` is relative and clean; so is the result. Null: dest is taken as written.
  std::function<Result<std::string>(std::string_view path)> resolve_dest;
  // Recorded metadata of a source path (a flattened stage rootfs carries ownership and
  // permissions beside its files, image/layer_flattener.h). Null or nullopt: lstat's.
  std::function<std::optional<image::EntryMeta>(std::string_view rel)> source_metadata;
};

struct CopyLayer {
  std::string diff_id;  // sha256 of the layer tar
  int64_t size = 0;     // bytes of the layer tar
  uint64_t entries = 0;
  // sha256 over the sorted (path, type, mode, uid, gid, size, content sha256, link target) of
  // everything the layer holds: with the instruction text, the build cache key of this step.
  std::string input_digest;
};

// Writes the layer to `out_tar` (created or replaced; removed on error). Errors are the message
// part of "Dockerfile:N: ..." and name the source or entry at fault.
Result<CopyLayer> write_copy_layer(const CopyRequest& request, const CopyCallbacks& callbacks,
                                   const std::filesystem::path& out_tar);

// "user[:group]" -> ids: numbers as they are (a user number alone: gid = uid, as docker), names
// through the callbacks (a user name alone: that user's primary group).
Result<UserIds> resolve_chown(std::string_view spec, const CopyCallbacks& callbacks);

}  // namespace matchlock::dockerbuild
