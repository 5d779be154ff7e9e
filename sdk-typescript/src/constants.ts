export const VFS_HOOK_PHASE_BEFORE = "before";
export const VFS_HOOK_PHASE_AFTER = "after";
export const NETWORK_HOOK_PHASE_BEFORE = "before";
export const NETWORK_HOOK_PHASE_AFTER = "after";

export const VFS_HOOK_ACTION_ALLOW = "allow";
export const VFS_HOOK_ACTION_BLOCK = "block";
export const NETWORK_HOOK_ACTION_ALLOW = "allow";
export const NETWORK_HOOK_ACTION_BLOCK = "block";
export const NETWORK_HOOK_ACTION_MUTATE = "mutate";

export const VFS_HOOK_OP_STAT = "stat";
export const VFS_HOOK_OP_READDIR = "readdir";
export const VFS_HOOK_OP_OPEN = "open";
export const VFS_HOOK_OP_CREATE = "create";
export const VFS_HOOK_OP_MKDIR = "mkdir";
export const VFS_HOOK_OP_CHMOD = "chmod";
export const VFS_HOOK_OP_REMOVE = "remove";
export const VFS_HOOK_OP_REMOVE_ALL = "remove_all";
export const VFS_HOOK_OP_RENAME = "rename";
export const VFS_HOOK_OP_SYMLINK = "symlink";
export const VFS_HOOK_OP_READLINK = "readlink";
export const VFS_HOOK_OP_READ = "read";
export const VFS_HOOK_OP_WRITE = "write";
export const VFS_HOOK_OP_CLOSE = "close";
export const VFS_HOOK_OP_SYNC = "sync";
export const VFS_HOOK_OP_TRUNCATE = "truncate";

/** Go `os.FileMode` type bits as the engine reports them in file modes. */
export const FILE_MODE_DIR = 0x80000000;
export const FILE_MODE_SYMLINK = 0x08000000;
/** The permission bits of a mode. */
export const FILE_MODE_PERM = 0o777;

/** Resource defaults sent with every `create` (the engine's own defaults). */
export const DEFAULT_CPUS = 1;
export const DEFAULT_MEMORY_MB = 512;
export const DEFAULT_DISK_SIZE_MB = 5120;
export const DEFAULT_TIMEOUT_SECONDS = 300;
export const DEFAULT_VOLUME_SIZE_MB = 10240;
