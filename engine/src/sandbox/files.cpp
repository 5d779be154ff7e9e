// Sandbox::read_file / write_file / list_files / stat_file / make_dir / remove_file /
// rename_file: guest files through the agent's file streams
// (guest_client/file_stream.h), on any guest path, as root in the guest. The guest's errors
// already carry the path and their kind (kNotFound, kInvalidArgument, kGuest).
#include <sys/stat.h>

#include "guest_client/guest_connection.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_resources.h"

namespace matchlock::sandbox {
namespace {

Error not_running() {
  return Error(ErrorCode::kVm, "sandbox is not running");
}

GuestFileInfo to_info(guest_client::FileEntry&& e) {
  GuestFileInfo info;
  info.name = std::move(e.name);
  info.size = e.size;
  info.mode = e.mode;
  info.is_dir = e.is_dir;
  info.mtime_unix = e.mtime_unix;
  return info;
}

// The name a stat reports: the last component, "/" for the root (as Go's os.Lstat does).
std::string base_name(const std::string& path) {
  auto end = path.find_last_not_of('/');
  if (end == std::string::npos) return "/";
  auto slash = path.find_last_of('/', end);
  return path.substr(slash + 1, end - slash);
}

}  // namespace

void Sandbox::read_file(const std::string& path, uint64_t offset, uint64_t limit,
                        std::function<void(Result<GuestFileChunk>)> done) {
  if (lifecycle_ != Lifecycle::kRunning || !res_->guest) return done(not_running());
  res_->guest->read_file(path, offset, limit,
                         [done = std::move(done)](Result<guest_client::FileReadResult> r) {
                           if (!r.ok()) return done(r.error());
                           GuestFileChunk chunk;
                           chunk.data = std::move(r->data);
                           chunk.file_size = r->file_size;
                           chunk.mode = r->mode;
                           done(std::move(chunk));
                         });
}

void Sandbox::write_file(GuestFileWrite request, std::function<void(Status)> done) {
  if (lifecycle_ != Lifecycle::kRunning || !res_->guest) return done(not_running());
  guest_client::FileWriteRequest r;
  r.path = std::move(request.path);
  r.mode = request.mode;
  r.offset = request.offset;
  r.truncate = request.truncate;
  r.mkdirs = request.create_parents;
  res_->guest->write_file(r, std::move(request.data), std::move(done));
}

void Sandbox::list_files(const std::string& path,
                         std::function<void(Result<std::vector<GuestFileInfo>>)> done) {
  if (lifecycle_ != Lifecycle::kRunning || !res_->guest) return done(not_running());
  res_->guest->list_files(path,
                          [done = std::move(done)](Result<std::vector<guest_client::FileEntry>> r) {
                            if (!r.ok()) return done(r.error());
                            std::vector<GuestFileInfo> files;
                            files.reserve(r->size());
                            for (auto& e : *r) files.push_back(to_info(std::move(e)));
                            done(std::move(files));
                          });
}

void Sandbox::stat_file(const std::string& path,
                        std::function<void(Result<std::optional<GuestFileInfo>>)> done) {
  if (lifecycle_ != Lifecycle::kRunning || !res_->guest) return done(not_running());
  res_->guest->stat_file(path, [done = std::move(done), name = base_name(path)](
                                   Result<std::optional<guest_client::FileStat>> r) {
    if (!r.ok()) return done(r.error());
    if (!r->has_value()) return done(std::optional<GuestFileInfo>());
    const guest_client::FileStat& st = **r;
    GuestFileInfo info;
    info.name = name;
    info.size = st.size;
    info.mode = st.mode;
    info.is_dir = S_ISDIR(st.mode);
    info.mtime_unix = st.mtime_unix;
    done(std::optional<GuestFileInfo>(std::move(info)));
  });
}

void Sandbox::make_dir(GuestMakeDir request, std::function<void(Status)> done) {
  if (lifecycle_ != Lifecycle::kRunning || !res_->guest) return done(not_running());
  guest_client::MakeDirRequest r;
  r.path = std::move(request.path);
  r.mode = request.mode;
  r.parents = request.parents;
  res_->guest->make_dir(r, std::move(done));
}

void Sandbox::remove_file(const std::string& path, bool recursive,
                          std::function<void(Status)> done) {
  if (lifecycle_ != Lifecycle::kRunning || !res_->guest) return done(not_running());
  res_->guest->remove_file(path, recursive, std::move(done));
}

void Sandbox::rename_file(const std::string& old_path, const std::string& new_path,
                          std::function<void(Status)> done) {
  if (lifecycle_ != Lifecycle::kRunning || !res_->guest) return done(not_running());
  res_->guest->rename_file(old_path, new_path, std::move(done));
}

}  // namespace matchlock::sandbox
