#pragma once

namespace circal {
// The release version and the git commit of the build (suffix "-dirty" for uncommitted
// changes), stamped into every checkpoint.
const char* circal_version();
const char* circal_git_commit();
}  // namespace circal
