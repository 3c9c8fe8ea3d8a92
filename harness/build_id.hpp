// What was built: version, git commit (with a dirty flag), compiler, build type, backends. Filled in
// at build time by cmake/build_id.cmake so scorecards name the exact code they measured.
#pragma once

namespace dsbench {

struct BuildId {
  const char* version;
  const char* git_commit;
  bool git_dirty;
  const char* compiler;
  const char* build_type;
  const char* backends;  // ';'-separated, e.g. "cpu;cuda"
};

const BuildId& build_id();

}  // namespace dsbench
