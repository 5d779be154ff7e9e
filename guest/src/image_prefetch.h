// Before a saved boot's HELLO: the files nearly every sandbox's first exec needs, read into the
// page cache so the save carries them.
#pragma once

namespace matchlock::guest_agent {

// Reads the image's shell and its C library (whichever of the usual paths exist, symlinks
// followed, inside the sandbox's root) into the page cache. A restored guest's first exec then
// maps them from memory instead of reading the image's disk, whose I/O path TCG would
// translate anew after every restore. Best effort: a missing or odd file is skipped.
void prefetch_first_exec_files();

}  // namespace matchlock::guest_agent
