#pragma once
// The student: the teacher with chosen MLP matrices swapped for block-circulant operators.
// All circulant vectors of a student live in ONE contiguous buffer (one allreduce, one
// checkpoint write); each patched matrix owns a slice of it.
#include <memory>
#include <string>
#include <vector>

#include "pipeline/io/checkpoint_store.hpp"
#include "pipeline/circulant/circulant_linear.hpp"
#include "pipeline/config/config.hpp"
#include "pipeline/model/transformer.hpp"

namespace circal {

struct PatchedMatrix {
  int layer;
  std::string projection;  // gate_proj | up_proj | down_proj
  int out_features;        // m
  int in_features;         // n
  size_t offset;           // start of its c [p, q, b] in the parameter buffer
  size_t size;             // p * q * b
  std::string dataset() const;  // "/layers/{layer}/{projection}"
};

// The layout of a student: which matrices, in which order (layer ascending, then gate, up,
// down), at which block size.
struct StudentLayout {
  int block_size = 0;
  std::vector<PatchedMatrix> matrices;
  size_t total_size = 0;

  static StudentLayout from_config(const Config& config, const LlamaConfig& model);
  int first_layer() const;  // the lowest patched layer
  // Parameter counts of the patched matrices: dense m*n vs circulant p*q*b.
  size_t dense_parameters() const;
};

// Reads `/layers/{l}/{proj}/{name}` of every matrix of the layout into one buffer.
std::vector<float> read_student_parameters(const CheckpointReader& file, const StudentLayout& layout,
                                           const std::string& name = "c");
// Writes them back in the same layout (collective; every rank passes the same values).
void write_student_parameters(CheckpointWriter& file, const StudentLayout& layout,
                              const float* params, const std::string& name = "c");

// Installs CirculantLinear operators over `params` (and `grads`, may be null) into a
// Transformer; restores the dense teacher matrices when destroyed.
class StudentModel {
 public:
  StudentModel(Transformer& model, const StudentLayout& layout, float* params, float* grads);
  ~StudentModel();
  StudentModel(const StudentModel&) = delete;
  StudentModel& operator=(const StudentModel&) = delete;
  // Call after params changed so operators refresh their cached spectra.
  void parameters_changed();

 private:
  Transformer& model_;
  const StudentLayout& layout_;
  std::vector<std::unique_ptr<CirculantLinear>> ops_;
};

}  // namespace circal
