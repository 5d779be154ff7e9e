// `matchlock image import|ls|rm`: thin wrappers over image::ImageStore.
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

namespace matchlock::cli {
namespace {

constexpr const char* kImageUsage =
    "Usage: matchlock image COMMAND\n\n"
    "Manage local images.\n\n"
    "Commands:\n"
    "  import NAME   Import a `docker save` or OCI archive from stdin, tagged NAME\n"
    "  ls            List local images\n"
    "  rm NAME...    Remove images\n\n"
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

int cmd_ls(Args args) {
  ArgParser parser("matchlock image ls", "List local images.");
  auto p = parser.parse(args);
  if (!p) return fail("image ls: " + p.error().message);
  if (p->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  if (!p->positionals.empty())
    return fail("image ls: unexpected argument \"" + p->positionals[0] + "\"");
  auto store = open_store();
  if (!store) return fail("image ls: " + store.error().message, 1);
  auto images = (*store)->list();
  if (!images) return fail("image ls: " + images.error().message, 1);

  std::vector<std::vector<std::string>> rows = {{"NAME", "DIGEST", "SIZE", "CREATED", "SOURCE"}};
  for (const auto& r : *images) {
    std::string short_digest = r.digest.substr(r.digest.find(':') + 1, 12);
    rows.push_back({r.name, short_digest, human_bytes(r.size), ago(r.created_unix), r.source});
  }
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
  return 0;
}

int cmd_rm(Args args) {
  ArgParser parser("matchlock image rm NAME...", "Remove local images and the data only they use.");
  auto p = parser.parse(args, false);
  if (!p) return fail("image rm: " + p.error().message);
  if (p->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  if (p->positionals.empty()) return fail("image rm: expected at least one NAME");
  auto store = open_store();
  if (!store) return fail("image rm: " + store.error().message, 1);
  int code = 0;
  for (const auto& name : p->positionals) {
    if (auto s = (*store)->remove(name); !s) {
      code = fail("image rm: " + s.error().message, 1);
      continue;
    }
    std::printf("Removed %s\n", name.c_str());
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
