#pragma once
// The text of stages/export/modeling_circal.py, the PyTorch module `circal export --format
// circulant` writes into its folder, compiled into the binary (cmake/embed_text.cmake).

namespace circal {

extern const char* const kModelingCircalPy;

}  // namespace circal
