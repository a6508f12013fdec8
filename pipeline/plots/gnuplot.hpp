#pragma once
// gnuplot, the external program every circal plot is drawn with: a script in a work folder,
// its PNG written under a temporary name and renamed into place, so no reader sees half a
// picture. Without gnuplot a plot is skipped with a warning; nothing fails.
#include <filesystem>
#include <ostream>
#include <string>

namespace circal {

bool gnuplot_available();

// Double-quoted for gnuplot data and scripts (quotes inside are dropped).
std::string gnuplot_quoted(std::string text);

// Runs `script` (its `set output` names tmp_png) in `work`; on success renames tmp_png to png.
// On failure prints one warning naming `name` and gnuplot's first error line, returns false.
bool run_gnuplot(const std::string& script, const std::filesystem::path& work, const std::string& name,
                 const std::filesystem::path& tmp_png, const std::filesystem::path& png, std::ostream& warnings);

}  // namespace circal
