#include "image/layer_blob.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "core/unique_fd.h"
#include "image/archive_util.h"
#include "image/digest.h"

namespace matchlock::image {
namespace {

constexpr size_t kBuffer = 1 << 16;

std::string errno_text() {
  return std::strerror(errno);
}

// libarchive's write callback into a content store Writer; keeps the first error for the message.
struct BlobSink {
  ContentStore::Writer* writer = nullptr;
  std::optional<Error> error;

  static la_ssize_t on_write(archive*, void* self, const void* buf, size_t len) {
    auto* s = static_cast<BlobSink*>(self);
    Status st = s->writer->write(buf, len);
    if (!st) {
      s->error = st.error();
      return -1;
    }
    return static_cast<la_ssize_t>(len);
  }
};

Status write_fd(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("write layer stream: " + errno_text());
    p += n;
    len -= static_cast<size_t>(n);
  }
  return {};
}

// A gzip stream over libarchive's "raw" format (one unnamed entry, no tar framing).
Result<ArchiveWriter> open_gzip(BlobSink& sink) {
  ArchiveWriter a(archive_write_new());
  if (!a) return io_error("libarchive: out of memory");
  // ARCHIVE_WARN would mean an external gzip program: its header is not ours to control.
  if (archive_write_set_format_raw(a.get()) != ARCHIVE_OK ||
      archive_write_add_filter_gzip(a.get()) != ARCHIVE_OK ||
      archive_write_set_filter_option(a.get(), "gzip", "timestamp", nullptr) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a.get(), 1) != ARCHIVE_OK) {
    return io_error("gzip: " + archive_error_text(a.get()));
  }
  if (archive_write_open(a.get(), &sink, nullptr, &BlobSink::on_write, nullptr) != ARCHIVE_OK) {
    return io_error("gzip: " + archive_error_text(a.get()));
  }
  std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(),
                                                             archive_entry_free);
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_pathname(e.get(), "layer");  // raw format writes no name; libarchive wants one
  if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK) {
    return io_error("gzip: " + archive_error_text(a.get()));
  }
  return a;
}

}  // namespace

Result<LayerBlob> compress_layer(const std::filesystem::path& tar, const ContentStore& store) {
  UniqueFd in(::open(tar.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return io_error("open " + tar.string() + ": " + errno_text());
  auto writer = store.begin_write();
  if (!writer) return writer.error();
  BlobSink sink;
  sink.writer = &*writer;
  auto gz = open_gzip(sink);
  if (!gz) return gz.error();
  auto failed = [&](const std::string& what) -> Error {
    if (sink.error) return sink.error->with_context(what);
    return io_error(what + ": " + archive_error_text(gz->get()));
  };

  Sha256 diff_id;  // hashed here, from the bytes actually compressed
  std::vector<char> buf(kBuffer);
  while (true) {
    ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("read " + tar.string() + ": " + errno_text());
    if (n == 0) break;
    diff_id.update(buf.data(), static_cast<size_t>(n));
    if (archive_write_data(gz->get(), buf.data(), static_cast<size_t>(n)) != n) {
      return failed("compress layer");
    }
  }
  if (archive_write_close(gz->get()) != ARCHIVE_OK) return failed("compress layer");
  auto info = writer->commit();
  if (!info) return info.error();
  return LayerBlob{info->digest, info->size, diff_id.finish()};
}

Status decompress_layer(const std::filesystem::path& blob, int out_fd) {
  struct stat st {};
  if (::stat(blob.c_str(), &st) != 0)
    return io_error("stat " + blob.string() + ": " + errno_text());
  if (st.st_size == 0) return {};  // an empty blob is an empty stream (the raw reader refuses it)
  ArchiveReader a(archive_read_new());
  if (!a) return io_error("libarchive: out of memory");
  archive_read_support_filter_all(a.get());
  archive_read_support_format_raw(a.get());  // the (decompressed) bytes as they are
  if (archive_read_open_filename(a.get(), blob.c_str(), kBuffer) != ARCHIVE_OK) {
    return io_error("open layer " + blob.string() + ": " + archive_error_text(a.get()));
  }
  archive_entry* e = nullptr;
  if (archive_read_next_header(a.get(), &e) != ARCHIVE_OK) {
    return io_error("read layer " + blob.string() + ": " + archive_error_text(a.get()));
  }
  std::vector<char> buf(kBuffer);
  while (true) {
    la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
    if (n < 0) {
      return io_error("decompress layer " + blob.string() + ": " + archive_error_text(a.get()));
    }
    if (n == 0) return {};
    MATCHLOCK_TRY(write_fd(out_fd, buf.data(), static_cast<size_t>(n)));
  }
}

}  // namespace matchlock::image
