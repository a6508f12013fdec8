#include "pipeline/plots/gnuplot.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>

namespace circal {

namespace fs = std::filesystem;

bool gnuplot_available() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

std::string gnuplot_quoted(std::string text) {
  text.erase(std::remove(text.begin(), text.end(), '"'), text.end());
  return "\"" + text + "\"";
}

bool run_gnuplot(const std::string& script, const fs::path& work, const std::string& name, const fs::path& tmp_png,
                 const fs::path& png, std::ostream& warnings) {
  const fs::path script_path = work / (name + ".gp");
  std::ofstream(script_path) << script;
  const std::string command =
      "gnuplot " + gnuplot_quoted(script_path.string()) + " 2>" + gnuplot_quoted((work / (name + ".err")).string());
  std::error_code error;
  if (std::system(command.c_str()) != 0 || !fs::exists(tmp_png)) {
    std::ifstream err(work / (name + ".err"));
    std::string first_line;
    std::getline(err, first_line);
    warnings << "circal: warning: gnuplot failed on " << name << ".png, plot skipped: " << first_line << "\n";
    return false;
  }
  fs::rename(tmp_png, png, error);
  return !error;
}

}  // namespace circal
