#include "layer_builtins.h"

#include <unistd.h>

#include "layer_tar_apply.h"
#include "layer_tar_export.h"

namespace matchlock::guest_agent {
namespace {

const char* builtin_name(Builtin builtin) {
  switch (builtin) {
    case Builtin::kLayerExport:
      return "layer-export";
    case Builtin::kLayerApply:
      return "layer-apply";
    case Builtin::kLayerDrop:
      return "layer-drop";
    case Builtin::kNone:
      break;
  }
  return "builtin";
}

}  // namespace

int run_layer_builtin(Builtin builtin, const std::string& layer_id, const BuildStorage& storage) {
  Status done;
  switch (builtin) {
    case Builtin::kLayerExport:
      done = export_layer_tar(storage.layers_dir + "/" + layer_id, STDOUT_FILENO);
      break;
    case Builtin::kLayerApply:
      done = apply_layer_tar(STDIN_FILENO, storage.layers_dir, layer_id);
      break;
    case Builtin::kLayerDrop:
      done = drop_layer(storage, layer_id);
      break;
    case Builtin::kNone:
      done = invalid_argument("no builtin");
      break;
  }
  if (done.ok()) return 0;
  std::string line = std::string(builtin_name(builtin)) + ": " + done.error().message + "\n";
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
  return 1;
}

}  // namespace matchlock::guest_agent
