# Run at every build (cmake -P): writes the source tree's commit into OUTPUT as
# MATCHLOCK_GIT_COMMIT, rewriting the file only when it changes, so `matchlock version`, rpc
# `version` and the warm-start key name the commit the binary was built from, not the one CMake
# was configured at, and only core/build_info.cpp recompiles after a new commit. A tree with
# uncommitted changes to tracked files gets "-dirty".
execute_process(COMMAND git rev-parse --short HEAD
  WORKING_DIRECTORY "${SOURCE_DIR}"
  OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE result ERROR_QUIET)
if(NOT result EQUAL 0 OR commit STREQUAL "")
  set(commit "unknown")
else()
  execute_process(COMMAND git status --porcelain --untracked-files=no
    WORKING_DIRECTORY "${SOURCE_DIR}"
    OUTPUT_VARIABLE changes RESULT_VARIABLE result ERROR_QUIET)
  if(NOT result EQUAL 0 OR NOT changes STREQUAL "")
    string(APPEND commit "-dirty")
  endif()
endif()
file(WRITE "${OUTPUT}.tmp" "#define MATCHLOCK_GIT_COMMIT \"${commit}\"\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
