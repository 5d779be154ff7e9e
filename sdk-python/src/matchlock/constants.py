"""Named values of the wire protocol: hook phases, actions and operations."""

VFS_HOOK_PHASE_BEFORE = "before"
VFS_HOOK_PHASE_AFTER = "after"

VFS_HOOK_ACTION_ALLOW = "allow"
VFS_HOOK_ACTION_BLOCK = "block"

VFS_HOOK_OP_STAT = "stat"
VFS_HOOK_OP_READDIR = "readdir"
VFS_HOOK_OP_OPEN = "open"
VFS_HOOK_OP_CREATE = "create"
VFS_HOOK_OP_MKDIR = "mkdir"
VFS_HOOK_OP_CHMOD = "chmod"
VFS_HOOK_OP_REMOVE = "remove"
VFS_HOOK_OP_REMOVE_ALL = "remove_all"
VFS_HOOK_OP_RENAME = "rename"
VFS_HOOK_OP_SYMLINK = "symlink"
VFS_HOOK_OP_READLINK = "readlink"
VFS_HOOK_OP_READ = "read"
VFS_HOOK_OP_WRITE = "write"
VFS_HOOK_OP_CLOSE = "close"
VFS_HOOK_OP_SYNC = "sync"
VFS_HOOK_OP_TRUNCATE = "truncate"

NETWORK_HOOK_PHASE_BEFORE = "before"
NETWORK_HOOK_PHASE_AFTER = "after"

NETWORK_HOOK_ACTION_ALLOW = "allow"
NETWORK_HOOK_ACTION_BLOCK = "block"
NETWORK_HOOK_ACTION_MUTATE = "mutate"

# Go os.FileMode type bits carried in list_files / stat_file modes.
FILE_MODE_DIR = 1 << 31
FILE_MODE_SYMLINK = 1 << 27
FILE_MODE_PERM = 0o777
