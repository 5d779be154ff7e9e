// `matchlock pull REF`: fetches an image from its registry into the local store.
#include <cstdio>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "cli/human_units.h"
#include "cli/pull_progress.h"
#include "core/paths.h"
#include "image/image_store.h"

namespace matchlock::cli {

int cmd_pull(Args args) {
  ArgParser parser("matchlock pull [flags] REF",
                   "Pull an image from a registry (docker.io by default). Plain HTTP is used only "
                   "for localhost/127.0.0.1 and the registries in MATCHLOCK_INSECURE_REGISTRIES; "
                   "credentials come from ~/.docker/config.json.");
  parser
      .add_value("platform", 0, "OS/ARCH[/VARIANT]", "platform to pull from a multi-arch image",
                 "linux/" + image::host_architecture())
      .add_bool("quiet", 'q', "no progress output; print only the digest");
  auto p = parser.parse(args, false);
  if (!p) return fail("pull: " + p.error().message);
  if (p->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  if (p->positionals.size() != 1) return fail("pull: expected exactly one image reference");
  const std::string& ref = p->positionals[0];
  if (auto n = image::normalize_reference(ref); !n) return fail("pull: " + n.error().message);
  image::PullOptions options;
  if (auto platform = p->value("platform")) {
    if (auto st = image::parse_platform(*platform, options); !st) {
      return fail("pull: --platform: " + st.error().message);
    }
  }
  const bool quiet = p->flag("quiet");
  auto store = image::ImageStore::open(images_dir());
  if (!store) return fail("pull: " + store.error().message, 1);
  auto report = pull_with_progress(**store, ref, options, quiet);
  if (!report) return fail(report.error().message, 1);
  const auto& img = report->image;
  if (quiet) {
    std::printf("%s\n", img.digest.c_str());
    return 0;
  }
  std::printf(
      "Pulled %s\nDigest: %s\nSize: %s\nDownloaded: %lld bytes (%d blobs fetched, %d already "
      "present)\n",
      img.name.c_str(), img.digest.c_str(), human_bytes(img.size).c_str(),
      static_cast<long long>(report->bytes_downloaded), report->blobs_downloaded,
      report->blobs_present);
  return 0;
}

}  // namespace matchlock::cli
