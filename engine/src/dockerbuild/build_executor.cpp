#include "dockerbuild/build_executor.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "core/log.h"
#include "core/paths.h"
#include "core/remove_tree.h"
#include "core/unique_fd.h"
#include "dockerbuild/build_cache.h"
#include "dockerbuild/build_leftovers.h"
#include "dockerbuild/build_steps.h"
#include "dockerbuild/build_vm.h"
#include "dockerbuild/copy_layer.h"
#include "dockerbuild/dockerfile.h"
#include "dockerbuild/dockerignore.h"
#include "dockerbuild/image_config_writer.h"
#include "dockerbuild/image_tree.h"
#include "image/built_image.h"
#include "image/content_store.h"
#include "image/digest.h"
#include "image/image_store.h"
#include "image/layer_blob.h"
#include "image/layer_canonicalizer.h"
#include "image/layer_flattener.h"
#include "image/oci_archive_writer.h"

namespace matchlock::dockerbuild {
namespace fs = std::filesystem;
namespace {

// The Dockerfile is read whole; a bigger one is a mistake, not a build.
constexpr uintmax_t kMaxDockerfileBytes = 4 * 1024 * 1024;

// A layer of the image being built: its compressed blob and where that blob is.
struct Layer {
  std::string digest;  // of the compressed blob
  std::string diff_id;
  int64_t size = 0;
  std::string media_type;
  fs::path blob;
};

// What a finished stage, or a FROM image, hands to the stages built on it.
struct StageImage {
  std::string root_image;  // store reference the build VM boots from; "" when FROM scratch
  size_t root_layers =
      0;  // layers[0, root_layers) are the root image's own (in the VM's base disk)
  std::vector<Layer> layers;
  ImageSettings settings;
  std::string base_config_json;  // the root image's config ("" for scratch)
  std::vector<HistoryEntry> history;
  std::string chain_key;  // cache key of the last step
  int64_t created_unix = 0;
  // The filesystem's shape as of `tree_layers` layers (for COPY); shared until a step changes it.
  std::shared_ptr<const ImageTree> tree;
  size_t tree_layers = 0;
};

// A stage's files flattened on the host (COPY --from), with what the layers say about each.
struct FlatRoot {
  fs::path dir;
  std::map<std::string, image::EntryMeta> metadata;
};

// A build VM and the layers its upper disk already holds, by diff_id -> guest layer id.
struct VmState {
  std::unique_ptr<BuildVm> vm;
  std::map<std::string, std::string> guest_layers;
  int next_id = 0;
};

std::string step_error(const Instruction& in, const std::string& message) {
  return "Dockerfile:" + std::to_string(in.line) + ": " + message;
}

// "line 7: x" from the parser and step evaluator becomes "Dockerfile:7: x".
Error dockerfile_error(const Error& e) {
  if (e.message.rfind("line ", 0) == 0) return Error(e.code, "Dockerfile:" + e.message.substr(5));
  return e;
}

class TempDir {
 public:
  static Result<TempDir> create(const fs::path& parent) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    std::string pattern = (parent / (scratch_prefix() + "XXXXXX")).string();
    if (!::mkdtemp(pattern.data())) {
      return Error(ErrorCode::kIo, "cannot create a directory in " + parent.string());
    }
    return TempDir(pattern);
  }
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) remove_tree(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  explicit TempDir(fs::path p) : path_(std::move(p)) {}
  fs::path path_;
};

// Puts a blob of the build cache into the image store: a hard link when both are on one
// filesystem, else a verified copy.
Status adopt_blob(const Layer& layer, image::ImageStore& store) {
  fs::path dest = store.blob_path(layer.digest);
  std::error_code ec;
  if (fs::exists(dest, ec)) return {};
  fs::create_directories(dest.parent_path(), ec);
  fs::path tmp = dest.string() + ".adopt-" + std::to_string(::getpid());
  fs::remove(tmp, ec);
  fs::create_hard_link(layer.blob, tmp, ec);
  if (ec) {
    ec.clear();
    fs::copy_file(layer.blob, tmp, ec);
    if (ec) return Error(ErrorCode::kIo, "copying layer " + layer.digest + ": " + ec.message());
  }
  fs::rename(tmp, dest, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Error(ErrorCode::kIo, "storing layer " + layer.digest + ": " + ec.message());
  }
  return {};
}

class Builder {
 public:
  Builder(const BuildOptions& options, BuildProgress& progress)
      : options_(options), progress_(progress) {}

  BuildOutcome run();

 private:
  Status prepare();
  Result<StageImage> from_image(const Stage& stage);
  Result<StageImage> build_stage(const Stage& stage);
  Status run_copy(const Step& step, StageImage& image);
  Status run_run(const Step& step, StageImage& image);
  Result<VmState*> vm_for(StageImage& image, const Instruction& in);
  Result<Layer> export_layer(VmState& vm, const std::string& guest_id);
  Result<Layer> store_layer(const fs::path& tar, bool from_guest);
  Result<const FlatRoot*> stage_files(const std::string& from, std::optional<size_t> stage_index,
                                      const Instruction& in);
  Result<std::shared_ptr<const ImageTree>> tree_of(StageImage& image);
  Result<std::string> commit(const StageImage& image);
  void close_vms();
  void store_cache(const std::string& key, const Layer& layer, int64_t created_unix);

  const BuildOptions& options_;
  BuildProgress& progress_;
  BuildLoop loop_;
  std::unique_ptr<image::ImageStore> store_;
  std::unique_ptr<image::ContentStore> cache_blobs_;
  std::unique_ptr<BuildCache> cache_;
  std::optional<TempDir> tmp_;
  Dockerfile dockerfile_;
  std::optional<DockerIgnore> ignore_;
  BuildPlan plan_;
  std::map<size_t, StageImage> finished_;      // by stage index
  std::map<std::string, FlatRoot> flattened_;  // stage or image -> its files on the host
  std::map<std::string, VmState> vms_;         // by root image
  std::optional<int> failed_exit_code_;        // a RUN that failed
  std::string stage_title_;
  size_t step_number_ = 0, step_count_ = 0;
};

std::string title(const std::string& stage, size_t n, size_t count, const Instruction& in) {
  return "[" + stage + " " + std::to_string(n) + "/" + std::to_string(count) + "] " + in.original;
}

Status Builder::prepare() {
  std::error_code ec;
  if (!fs::is_directory(options_.context, ec)) {
    return Error(ErrorCode::kInvalidArgument,
                 "build context " + options_.context.string() + " is not a directory");
  }
  fs::path file =
      options_.dockerfile.empty() ? options_.context / "Dockerfile" : options_.dockerfile;
  auto size = fs::file_size(file, ec);
  if (ec)
    return Error(ErrorCode::kInvalidArgument, "cannot read " + file.string() + ": " + ec.message());
  if (size > kMaxDockerfileBytes) {
    return Error(ErrorCode::kInvalidArgument, file.string() + " is larger than 4 MiB");
  }
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = parse_dockerfile(text.str());
  if (!parsed) return dockerfile_error(parsed.error());
  dockerfile_ = std::move(*parsed);

  // .dockerignore: <Dockerfile>.dockerignore next to the Dockerfile wins, as in BuildKit.
  for (const fs::path& candidate :
       {fs::path(file.string() + ".dockerignore"), options_.context / ".dockerignore"}) {
    std::ifstream ig(candidate, std::ios::binary);
    if (!ig) continue;
    std::stringstream body;
    body << ig.rdbuf();
    auto parsed_ignore = DockerIgnore::parse(body.str());
    if (!parsed_ignore) return parsed_ignore.error().with_context(candidate.string());
    ignore_ = std::move(*parsed_ignore);
    break;
  }

  auto plan = plan_build(dockerfile_, options_.build_args, options_.target);
  if (!plan) return dockerfile_error(plan.error());
  plan_ = std::move(*plan);
  for (const auto& unused : plan_.unused_build_args) {
    progress_.note("[warning] build argument " + unused + " was not consumed");
  }

  auto store = image::ImageStore::open(images_dir());
  if (!store) return store.error();
  store_ = std::move(*store);
  const fs::path cache_root = matchlock_home() / "cache" / "build";
  cache_blobs_ = std::make_unique<image::ContentStore>(cache_root / "blobs", cache_root / "tmp");
  if (auto s = cache_blobs_->init(); !s) return s.error();
  auto cache = BuildCache::open(cache_root / "steps");
  if (!cache) return cache.error();
  cache_ = std::make_unique<BuildCache>(std::move(*cache));
  auto tmp = TempDir::create(scratch_root());
  if (!tmp) return tmp.error();
  tmp_.emplace(std::move(*tmp));
  return {};
}

// FROM an image: the store's copy, pulled first if it is not there.
Result<StageImage> Builder::from_image(const Stage& stage) {
  StageImage image;
  if (stage.base == "scratch") {
    image.chain_key = cache_->key("", "FROM scratch", "");
    return image;
  }
  auto record = store_->find(stage.base);
  if (!record && record.error().code == ErrorCode::kNotFound) {
    progress_.output("pulling " + stage.base + "\n");
    image::PullOptions pull_options;
    std::optional<Result<image::PullReport>> pulled;
    loop_.run_blocking([&] { pulled.emplace(store_->pull(stage.base, pull_options)); });
    if (!pulled->ok()) return pulled->error();
    record = store_->find(stage.base);
  }
  if (!record) return record.error();
  auto parts = store_->parts(*record);
  if (!parts) return parts.error();
  image.root_image = record->name;
  image.base_config_json = parts->config_json;
  auto settings = settings_from_config(parts->config_json);
  if (!settings) return settings.error().with_context(stage.base + ": config");
  image.settings = std::move(*settings);
  auto history = history_from_config(parts->config_json);
  if (!history) return history.error().with_context(stage.base + ": config");
  image.history = std::move(*history);
  for (size_t i = 0; i < parts->layers.size(); ++i) {
    const auto& d = parts->layers[i];
    image.layers.push_back(
        {d.digest, parts->diff_ids[i], d.size, d.media_type, store_->blob_path(d.digest)});
  }
  image.root_layers = image.layers.size();
  image.chain_key = cache_->key("", "FROM " + record->digest, "");
  return image;
}

Result<StageImage> Builder::build_stage(const Stage& stage) {
  // The step count is known once the steps are evaluated, which needs the base's settings.
  stage_title_ = stage.display_name();
  progress_.begin("[" + stage_title_ + "] FROM " + stage.base);
  StageImage image;
  if (stage.base_stage) {
    image = finished_.at(*stage.base_stage);
  } else {
    auto base = from_image(stage);
    if (!base) {
      Error e(base.error().code, "Dockerfile:" + std::to_string(stage.line) + ": FROM " +
                                     stage.base + ": " + base.error().message);
      progress_.error(e.message);
      return e;
    }
    image = std::move(*base);
  }
  StageEvaluator evaluator(plan_, stage.index, image.settings, options_.build_args);
  auto steps = evaluator.evaluate();
  if (!steps) {
    progress_.error(dockerfile_error(steps.error()).message);
    return dockerfile_error(steps.error());
  }
  progress_.done();
  step_count_ = steps->size() + 1;
  step_number_ = 1;

  for (const Step& step : *steps) {
    ++step_number_;
    progress_.begin(title(stage_title_, step_number_, step_count_, *step.instruction));
    Status st;
    if (step.kind == Step::Kind::kMetadata) {
      image.chain_key = cache_->key(image.chain_key, step.cache_text, "");
      image.history.push_back(
          {step.created_by, std::string(kHistoryComment), true, image.created_unix});
      progress_.done();
    } else if (step.kind == Step::Kind::kCopy) {
      st = run_copy(step, image);
    } else {
      st = run_run(step, image);
    }
    if (!st) {
      progress_.error(st.error().message);
      return st.error();
    }
    image.settings = step.after;
  }
  return image;
}

// Files of another stage (COPY --from=name|index) or image (COPY --from=ref), flattened into a
// directory on the host once per build.
Result<const FlatRoot*> Builder::stage_files(const std::string& from,
                                             std::optional<size_t> stage_index,
                                             const Instruction& in) {
  if (auto it = flattened_.find(from); it != flattened_.end()) return &it->second;
  std::vector<Layer> layers;
  if (stage_index) {
    layers = finished_.at(*stage_index).layers;
  } else {
    Stage pseudo;
    pseudo.base = from;
    auto image = from_image(pseudo);
    if (!image)
      return Error(image.error().code,
                   step_error(in, "COPY --from=" + from + ": " + image.error().message));
    layers = image->layers;
  }
  FlatRoot root;
  root.dir = tmp_->path() / ("from-" + std::to_string(flattened_.size()));
  std::error_code ec;
  fs::create_directories(root.dir, ec);
  auto flat = image::LayerFlattener::create(root.dir);
  if (!flat) return flat.error();
  Status applied;
  loop_.run_blocking([&] {
    for (const auto& l : layers) {
      applied = flat->apply_layer(l.blob);
      if (!applied) return;
    }
    applied = flat->finish();
  });
  if (!applied) return applied.error().with_context("COPY --from=" + from);
  root.metadata = flat->metadata();
  auto [it, inserted] = flattened_.emplace(from, std::move(root));
  return &it->second;
}

// The image's tree brought up to its last layer; the stage's copy is replaced, never changed,
// so a stage built on this one keeps the tree it started from.
Result<std::shared_ptr<const ImageTree>> Builder::tree_of(StageImage& image) {
  if (image.tree && image.tree_layers == image.layers.size()) return image.tree;
  auto tree = image.tree ? std::make_shared<ImageTree>(*image.tree) : std::make_shared<ImageTree>();
  Status added;
  loop_.run_blocking([&] {
    for (size_t i = image.tree ? image.tree_layers : 0; i < image.layers.size(); ++i) {
      added = tree->add_layer(image.layers[i].blob);
      if (!added) return;
    }
  });
  if (!added) return added.error().with_context("reading the image's layers");
  image.tree = tree;
  image.tree_layers = image.layers.size();
  return image.tree;
}

Status Builder::run_copy(const Step& step, StageImage& image) {
  const Instruction& in = *step.instruction;
  CopyRequest request;
  request.add = step.copy.add;
  request.sources = step.copy.sources;
  for (const auto& doc : step.copy.inline_files)
    request.inline_files.emplace_back(doc.name, doc.body);
  request.dest = step.copy.dest;
  request.chmod = step.copy.chmod;
  request.chown = step.copy.chown;
  CopyCallbacks callbacks;
  if (step.copy.from) {
    auto root = stage_files(*step.copy.from, step.copy.from_stage, in);
    if (!root) {
      const auto& e = root.error();
      return e.message.rfind("Dockerfile:", 0) == 0 ? e : Error(e.code, step_error(in, e.message));
    }
    request.source_root = (*root)->dir;
    request.keep_source_owner = true;
    const auto* metadata = &(*root)->metadata;
    callbacks.source_metadata =
        [metadata](std::string_view rel) -> std::optional<image::EntryMeta> {
      auto it = metadata->find(std::string(rel));
      if (it == metadata->end()) return std::nullopt;
      return it->second;
    };
  } else {
    request.source_root = options_.context;
    if (ignore_) {
      callbacks.excluded = [this](std::string_view rel) { return ignore_->excluded(rel); };
      callbacks.may_include_below = [this](std::string_view dir) {
        return ignore_->may_include_below(dir);
      };
    }
  }
  // Where files land and whose names --chown means: the image being built, as of this step.
  auto tree = tree_of(image);
  if (!tree) return Error(tree.error().code, step_error(in, tree.error().message));
  std::shared_ptr<const ImageTree> shape = *tree;
  callbacks.existing_dir = [shape](std::string_view path) { return shape->directory(path); };
  callbacks.resolve_dest = [shape](std::string_view path) { return shape->resolve(path); };
  callbacks.lookup_user = [shape](std::string_view user) -> Result<UserIds> {
    auto found = find_user(shape->passwd(), user);
    if (!found)
      return Error(ErrorCode::kInvalidArgument,
                   "unknown user " + std::string(user) + " (not in the image's /etc/passwd)");
    return UserIds{found->first, found->second};
  };
  callbacks.lookup_group = [shape](std::string_view group) -> Result<uint32_t> {
    auto found = find_group(shape->group(), group);
    if (!found)
      return Error(ErrorCode::kInvalidArgument,
                   "unknown group " + std::string(group) + " (not in the image's /etc/group)");
    return *found;
  };
  fs::path tar = tmp_->path() / "copy.tar";
  std::optional<Result<CopyLayer>> written;
  loop_.run_blocking([&] { written.emplace(write_copy_layer(request, callbacks, tar)); });
  if (!written->ok()) return Error(written->error().code, step_error(in, written->error().message));
  const std::string key = cache_->key(image.chain_key, step.cache_text, (**written).input_digest);
  std::optional<CacheEntry> hit;
  if (!options_.no_cache) hit = cache_->lookup(key, *cache_blobs_);
  Layer layer;
  if (hit) {
    layer = {hit->digest, hit->diff_id, hit->size, std::string(image::media_type::kOciLayerGzip),
             cache_blobs_->path(hit->digest)};
    image.created_unix = hit->created_unix;
    progress_.cached();
  } else {
    auto stored = store_layer(tar, false);
    if (!stored) return Error(stored.error().code, step_error(in, stored.error().message));
    layer = *stored;
    image.created_unix = std::time(nullptr);
    store_cache(key, layer, image.created_unix);
    progress_.done();
  }
  std::error_code ec;
  fs::remove(tar, ec);
  image.layers.push_back(layer);
  image.history.push_back(
      {step.created_by, std::string(kHistoryComment), false, image.created_unix});
  image.chain_key = key;
  return {};
}

Status Builder::run_run(const Step& step, StageImage& image) {
  const Instruction& in = *step.instruction;
  const std::string key = cache_->key(image.chain_key, step.cache_text, "");
  if (!options_.no_cache) {
    if (auto hit = cache_->lookup(key, *cache_blobs_)) {
      image.layers.push_back({hit->digest, hit->diff_id, hit->size,
                              std::string(image::media_type::kOciLayerGzip),
                              cache_blobs_->path(hit->digest)});
      image.created_unix = hit->created_unix;
      image.history.push_back(
          {step.created_by, std::string(kHistoryComment), false, image.created_unix});
      image.chain_key = key;
      progress_.cached();
      return {};
    }
  }
  if (image.root_image.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 step_error(in, "RUN needs a base image to boot; this stage is FROM scratch"));
  }
  if (step.run.network == "none" && !options_.no_network) {
    // One VM serves every RUN of the build; its network is the build's.
    progress_.output("note: RUN --network=none runs with the build's network policy\n");
  }
  auto state = vm_for(image, in);
  if (!state) return state.error();
  VmState& vm = **state;
  const std::string upper = "l" + std::to_string(vm.next_id++);
  sandbox::ExecSpec spec;
  spec.argv = step.run.argv;
  spec.extra_env = step.run.env;
  spec.user = step.run.user.empty() ? "0:0" : step.run.user;
  spec.workdir = step.run.workdir.empty() ? "/" : step.run.workdir;
  sandbox::BuildRoot root;
  for (size_t i = image.layers.size(); i > image.root_layers; --i) {
    root.lower.push_back(vm.guest_layers.at(image.layers[i - 1].diff_id));
  }
  root.upper = upper;
  spec.build_root = root;
  BuildVm::Process process;
  process.on_output = [this](sandbox::OutputStream, std::string_view bytes) {
    progress_.output(bytes);
  };
  auto code = vm.vm->run(spec, process);
  if (!code) return Error(code.error().code, step_error(in, code.error().message));
  if (*code != 0) {
    failed_exit_code_ = *code;
    return Error(
        ErrorCode::kGuest,
        step_error(in, "RUN " + (step.run.argv.empty() ? std::string() : step.run.argv.back()) +
                           ": exit code " + std::to_string(*code)));
  }
  auto layer = export_layer(vm, upper);
  if (!layer) return Error(layer.error().code, step_error(in, layer.error().message));
  vm.guest_layers[layer->diff_id] = upper;
  image.created_unix = std::time(nullptr);
  store_cache(key, *layer, image.created_unix);
  image.layers.push_back(*layer);
  image.history.push_back(
      {step.created_by, std::string(kHistoryComment), false, image.created_unix});
  image.chain_key = key;
  progress_.done();
  return {};
}

// The VM for this image's root, booted on first use, with every build layer of `image` in its
// upper disk (applied from the host when the VM has not made them itself).
Result<VmState*> Builder::vm_for(StageImage& image, const Instruction& in) {
  VmState& state = vms_[image.root_image];
  if (!state.vm) {
    sandbox::SandboxOptions options;
    options.image = image.root_image;
    options.cpus = options_.cpus;
    options.memory_mib = options_.memory_mib;
    options.disk_size_mib = options_.disk_size_mib;
    options.no_network = options_.no_network;
    options.allowed_hosts = options_.allowed_hosts;
    options.hostname = "matchlock-build";
    progress_.output("booting the build VM (" + image.root_image + ")\n");
    auto vm = BuildVm::boot(loop_, options);
    if (!vm) {
      vms_.erase(image.root_image);
      return Error(vm.error().code, step_error(in, "starting the build VM: " + vm.error().message));
    }
    state.vm = std::move(*vm);
  }
  for (size_t i = image.root_layers; i < image.layers.size(); ++i) {
    const Layer& layer = image.layers[i];
    if (state.guest_layers.count(layer.diff_id)) continue;
    const std::string id = "l" + std::to_string(state.next_id++);
    fs::path tar = tmp_->path() / "apply.tar";
    Status unpacked;
    loop_.run_blocking([&] {
      UniqueFd out(::open(tar.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
      if (!out) {
        unpacked = Error(ErrorCode::kIo, "cannot create " + tar.string());
        return;
      }
      unpacked = image::decompress_layer(layer.blob, out.get());
    });
    if (!unpacked) return unpacked.error();
    UniqueFd in_fd(::open(tar.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in_fd) return Error(ErrorCode::kIo, "cannot read " + tar.string());
    sandbox::ExecSpec spec;
    spec.builtin = "layer-apply";
    spec.build_root = sandbox::BuildRoot{{}, id};
    spec.stdin_open = true;
    std::string errors;
    BuildVm::Process process;
    process.on_output = [&errors](sandbox::OutputStream, std::string_view bytes) {
      if (errors.size() < 4096) errors.append(bytes.substr(0, 4096 - errors.size()));
    };
    process.next_stdin = [&in_fd]() -> Result<std::string> {
      std::string chunk(64 * 1024, '\0');
      ssize_t n = ::read(in_fd.get(), chunk.data(), chunk.size());
      if (n < 0) return Error(ErrorCode::kIo, "reading a layer to apply");
      chunk.resize(static_cast<size_t>(n));
      return chunk;
    };
    auto code = state.vm->run(spec, process);
    std::error_code ec;
    fs::remove(tar, ec);
    if (!code) return code.error();
    if (*code != 0) {
      return Error(ErrorCode::kGuest,
                   "applying layer " + layer.digest + " in the build VM: " +
                       (errors.empty() ? "exit code " + std::to_string(*code) : errors));
    }
    state.guest_layers[layer.diff_id] = id;
  }
  return &state;
}

// The guest's tar of a finished step's upper, spooled to the host, checked and rewritten
// canonically (the guest is not trusted to write either), compressed into the build cache.
Result<Layer> Builder::export_layer(VmState& vm, const std::string& guest_id) {
  fs::path spool = tmp_->path() / "export.tar";
  UniqueFd out(::open(spool.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out) return Error(ErrorCode::kIo, "cannot create " + spool.string());
  // The guest cannot hold more than its disk; a stream longer than that is not a layer.
  const uint64_t limit = (options_.disk_size_mib + 64) * 1024 * 1024;
  uint64_t written = 0;
  std::optional<Error> failure;
  std::string errors;
  sandbox::ExecSpec spec;
  spec.builtin = "layer-export";
  spec.build_root = sandbox::BuildRoot{{}, guest_id};
  BuildVm::Process process;
  process.on_output = [&](sandbox::OutputStream stream, std::string_view bytes) {
    if (stream == sandbox::OutputStream::kStderr) {
      if (errors.size() < 4096) errors.append(bytes.substr(0, 4096 - errors.size()));
      return;
    }
    if (failure) return;
    written += bytes.size();
    if (written > limit) {
      failure = Error(ErrorCode::kProtocol, "the guest's layer is larger than its disk");
      return;
    }
    while (!bytes.empty()) {
      ssize_t n = ::write(out.get(), bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        failure = Error(ErrorCode::kIo, "writing the layer: " + std::string(std::strerror(errno)));
        return;
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  };
  auto code = vm.vm->run(spec, process);
  out.reset();
  if (!code) return code.error().with_context("exporting the layer");
  if (failure) return *failure;
  if (*code != 0) {
    return Error(
        ErrorCode::kGuest,
        "exporting the layer: " + (errors.empty() ? "exit code " + std::to_string(*code) : errors));
  }
  auto layer = store_layer(spool, true);
  std::error_code ec;
  fs::remove(spool, ec);
  return layer;
}

// Compresses a layer tar into the build cache's blobs (on the thread pool). A guest's tar is
// first validated and rewritten canonically.
Result<Layer> Builder::store_layer(const fs::path& tar, bool from_guest) {
  std::optional<Result<image::LayerBlob>> blob;
  loop_.run_blocking([&] {
    fs::path source = tar;
    fs::path canonical = tar.string() + ".canonical";
    if (from_guest) {
      UniqueFd in(::open(tar.c_str(), O_RDONLY | O_CLOEXEC));
      if (!in) {
        blob.emplace(Error(ErrorCode::kIo, "cannot read " + tar.string()));
        return;
      }
      auto checked = image::canonicalize_layer(in.get(), canonical, image::LayerLimits{});
      if (!checked) {
        blob.emplace(checked.error().with_context("the layer from the build VM"));
        return;
      }
      source = canonical;
    }
    blob.emplace(image::compress_layer(source, *cache_blobs_));
    std::error_code ec;
    fs::remove(canonical, ec);
  });
  if (!blob->ok()) return blob->error();
  const auto& b = **blob;
  return Layer{b.digest, b.diff_id, b.size, std::string(image::media_type::kOciLayerGzip),
               cache_blobs_->path(b.digest)};
}

Result<std::string> Builder::commit(const StageImage& image) {
  std::vector<std::string> diff_ids;
  std::vector<image::Descriptor> layers;
  for (const auto& l : image.layers) {
    diff_ids.push_back(l.diff_id);
    image::Descriptor d;
    d.digest = l.digest;
    d.size = l.size;
    d.media_type = l.media_type;
    layers.push_back(d);
  }
  int64_t created = image.created_unix;
  if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH")) created = std::atoll(epoch);
  const std::string config =
      write_config_json(image.base_config_json, image.settings, diff_ids, image.history, created);
  const std::string manifest = image::built_image_manifest(config, layers);
  const std::string digest = image::sha256_digest(manifest);

  // Every layer goes into the image store's blobs first (hard links from the build cache): the
  // store and the OCI archive both read them from there.
  for (const auto& l : image.layers) {
    if (auto s = adopt_blob(l, *store_); !s) return s.error();
  }
  if (!options_.tags.empty()) {
    auto added = store_->add_image(options_.tags, manifest, config);
    if (!added) return added.error();
    for (const auto& tag : options_.tags) progress_.note("naming to " + tag + " done");
  }
  if (options_.oci_output) {
    Status written;
    image::OciArchiveImage archive{options_.tags, manifest, config};
    loop_.run_blocking([&] {
      written = image::write_oci_archive(*options_.oci_output, archive, store_->blobs());
    });
    if (!written) return written.error().with_context(options_.oci_output->string());
    progress_.note("exporting to " + options_.oci_output->string() + " done");
  }
  progress_.note("writing image " + digest + " done");
  return digest;
}

// A cache that cannot be written costs the next build time, not this one its result.
void Builder::store_cache(const std::string& key, const Layer& layer, int64_t created_unix) {
  CacheEntry entry;
  entry.digest = layer.digest;
  entry.diff_id = layer.diff_id;
  entry.size = layer.size;
  entry.created_unix = created_unix;
  if (auto s = cache_->store(key, entry); !s) log::warn("build cache: " + s.error().message);
}

void Builder::close_vms() {
  for (auto& [root, state] : vms_) {
    if (state.vm) state.vm->close();
  }
  vms_.clear();
}

BuildOutcome Builder::run() {
  BuildOutcome outcome;
  auto fail = [&](const Error& e) {
    close_vms();
    outcome.error = e;
    outcome.exit_code = failed_exit_code_.value_or(1);
    if (loop_.interrupted()) outcome.exit_code = 128 + loop_.interrupted();
    return outcome;
  };
  if (auto s = prepare(); !s) return fail(s.error());
  for (size_t index : plan_.order) {
    auto built = build_stage(plan_.stages[index]);
    if (!built) return fail(built.error());
    finished_[index] = std::move(*built);
  }
  close_vms();
  const StageImage& target = finished_.at(plan_.target);
  auto digest = commit(target);
  if (!digest) return fail(digest.error());
  outcome.manifest_digest = *digest;
  return outcome;
}

}  // namespace

BuildOutcome run_build(const BuildOptions& options) {
  BuildProgress progress(options.progress, stderr);
  Builder builder(options, progress);
  return builder.run();
}

}  // namespace matchlock::dockerbuild
