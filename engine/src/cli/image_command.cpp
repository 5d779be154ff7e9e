// `matchlock image import|ls|rm`: thin wrappers over image::ImageStore, and over the saved
// guests of warm starts (sandbox::SavedGuestStore), which belong to their image.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "cli/human_units.h"
#include "core/paths.h"
#include "core/unique_fd.h"
#include "image/content_store.h"
#include "image/image_store.h"
#include "sandbox/saved_guest_store.h"

namespace matchlock::cli {
namespace {

constexpr const char* kImageUsage =
    "Usage: matchlock image COMMAND\n\n"
    "Manage local images.\n\n"
    "Commands:\n"
    "  import NAME   Import a `docker save` or OCI archive from stdin, tagged NAME\n"
    "  ls            List local images (--saved: the saved guests warm starts restore)\n"
    "  rm NAME...    Remove images and their saved guests (--saved: only the saved guests)\n\n"
    "Run 'matchlock image COMMAND --help' for more information.\n";

std::string ago(int64_t unix_time) {
  int64_t d = static_cast<int64_t>(std::time(nullptr)) - unix_time;
  if (d < 0) d = 0;
  auto fmt = [](int64_t n, const char* unit) {
    return std::to_string(n) + " " + unit + (n == 1 ? "" : "s") + " ago";
  };
  if (d < 60) return fmt(d, "second");
  if (d < 3600) return fmt(d / 60, "minute");
  if (d < 86400) return fmt(d / 3600, "hour");
  return fmt(d / 86400, "day");
}

Result<std::unique_ptr<image::ImageStore>> open_store() {
  return image::ImageStore::open(images_dir());
}

// Copies stdin into a temp file under images_dir/tmp; removed when the guard goes.
struct Spool {
  std::filesystem::path path;
  ~Spool() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

Status spool_stdin(Spool& spool) {
  auto tmp = image::make_temp_file(images_dir() / "tmp", "stdin-");
  if (!tmp) return tmp.error();
  spool.path = tmp->second;
  std::vector<char> buf(1 << 16);
  while (true) {
    ssize_t n = ::read(0, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error(std::string("read stdin: ") + std::strerror(errno));
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(tmp->first.get(), buf.data() + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return io_error("write " + spool.path.string() + ": " + std::strerror(errno));
      off += w;
    }
  }
  return {};
}

int cmd_import(Args args) {
  ArgParser parser("matchlock image import NAME < ARCHIVE",
                   "Import a `docker save` (classic or Docker 25+) or OCI archive from stdin.");
  auto p = parser.parse(args);
  if (!p) return fail("image import: " + p.error().message);
  if (p->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  if (p->positionals.size() != 1) return fail("image import: expected exactly one NAME");
  if (::isatty(0) == 1)
    return fail("image import: reads the archive from stdin (pipe or redirect it)");
  const std::string& name = p->positionals[0];
  if (auto n = image::normalize_reference(name); !n)
    return fail("image import: " + n.error().message);

  auto store = open_store();
  if (!store) return fail("image import: " + store.error().message, 1);
  Spool spool;
  if (auto s = spool_stdin(spool); !s) return fail("image import: " + s.error().message, 1);
  auto rec = (*store)->import_archive(name, spool.path);
  if (!rec) return fail("image import: " + rec.error().message, 1);
  std::printf("Imported %s (%s)\n", rec->name.c_str(), rec->digest.c_str());
  return 0;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 3, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

// One line per saved guest: what it restores to, and its cost on disk.
void print_saved_guests(const std::vector<sandbox::SavedGuestInfo>& saved) {
  std::vector<std::vector<std::string>> rows = {
      {"SAVED GUEST", "IMAGE", "MEMORY", "CPUS", "NETWORK", "SIZE", "CREATED", "LAST USED"}};
  for (const auto& s : saved) {
    rows.push_back({s.key, s.image, std::to_string(s.memory_mib) + " MiB", std::to_string(s.cpus),
                    s.network ? "on" : "off", human_bytes(static_cast<int64_t>(s.disk_bytes)),
                    ago(s.created_unix), ago(s.last_used_unix)});
  }
  print_table(rows);
}

int cmd_ls(Args args) {
  ArgParser parser("matchlock image ls", "List local images.");
  parser.add_bool("saved", 0, "list the saved guests that warm starts restore, one per line");
  auto p = parser.parse(args);
  if (!p) return fail("image ls: " + p.error().message);
  if (p->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  if (!p->positionals.empty())
    return fail("image ls: unexpected argument \"" + p->positionals[0] + "\"");
  auto saved = sandbox::SavedGuestStore::open_default().list();
  if (p->flag("saved")) {
    print_saved_guests(saved);
    return 0;
  }
  auto store = open_store();
  if (!store) return fail("image ls: " + store.error().message, 1);
  auto images = (*store)->list();
  if (!images) return fail("image ls: " + images.error().message, 1);

  std::vector<std::vector<std::string>> rows = {
      {"NAME", "DIGEST", "SIZE", "CREATED", "SOURCE", "SAVED GUESTS"}};
  for (const auto& r : *images) {
    std::string short_digest = r.digest.substr(r.digest.find(':') + 1, 12);
    size_t count = 0;
    uint64_t bytes = 0;
    for (const auto& s : saved) {
      if (s.image_digest != r.digest) continue;
      ++count;
      bytes += s.disk_bytes;
    }
    rows.push_back({r.name, short_digest, human_bytes(r.size), ago(r.created_unix), r.source,
                    count == 0 ? "-"
                               : std::to_string(count) + " (" +
                                     human_bytes(static_cast<int64_t>(bytes)) + ")"});
  }
  print_table(rows);
  return 0;
}

int cmd_rm(Args args) {
  ArgParser parser("matchlock image rm NAME...",
                   "Remove local images, the data only they use and their saved guests.");
  parser.add_bool("saved", 0, "remove only the images' saved guests (the next boot is cold)");
  auto p = parser.parse(args, false);
  if (!p) return fail("image rm: " + p.error().message);
  if (p->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  if (p->positionals.empty()) return fail("image rm: expected at least one NAME");
  auto store = open_store();
  if (!store) return fail("image rm: " + store.error().message, 1);
  auto saved_guests = sandbox::SavedGuestStore::open_default();
  const bool only_saved = p->flag("saved");
  int code = 0;
  for (const auto& name : p->positionals) {
    auto record = (*store)->find(name);
    if (!only_saved) {
      if (auto s = (*store)->remove(name); !s) {
        code = fail("image rm: " + s.error().message, 1);
        continue;
      }
    } else if (!record) {
      code = fail("image rm: " + record.error().message, 1);
      continue;
    }
    if (!record) continue;
    // A save is of a digest: it goes once no image name keeps that digest.
    bool digest_still_named = false;
    if (!only_saved) {
      if (auto left = (*store)->list()) {
        for (const auto& r : *left) digest_still_named |= r.digest == record->digest;
      }
    }
    size_t dropped = digest_still_named ? 0 : saved_guests.remove_for_image(record->digest);
    if (only_saved) {
      std::printf("Removed %zu saved guest%s of %s\n", dropped, dropped == 1 ? "" : "s",
                  name.c_str());
    } else {
      std::printf("Removed %s\n", name.c_str());
    }
  }
  return code;
}

}  // namespace

int cmd_image(Args args) {
  if (args.empty()) {
    std::fputs(kImageUsage, stderr);
    return 2;
  }
  const std::string& sub = args[0];
  Args rest = args.subspan(1);
  if (sub == "-h" || sub == "--help" || sub == "help") {
    std::fputs(kImageUsage, stdout);
    return 0;
  }
  if (sub == "import") return cmd_import(rest);
  if (sub == "ls" || sub == "list") return cmd_ls(rest);
  if (sub == "rm" || sub == "remove") return cmd_rm(rest);
  return fail("image: unknown command \"" + sub + "\" (see 'matchlock image --help')");
}

}  // namespace matchlock::cli
