#pragma once
// A student named on the command line (`circal logits --student`, `circal generate
// --student`): the circulant parameters of a project.h5 or calibrate.h5, checked against the
// model they are applied to. The layout is read from the file itself (which matrices, which
// block size), so the checkpoint works without the config that produced it.
#include <string>
#include <utility>
#include <vector>

#include "pipeline/io/checkpoint_writer.hpp"
#include "pipeline/model/model_loader.hpp"
#include "stages/common/student.hpp"

namespace circal {

struct StudentCheckpoint {
  std::string stage;  // project | calibrate
  StudentLayout layout;
  std::vector<float> params;  // `c` of every matrix, in the layout's order
};

// Refuses, with one line naming the file (CircalError kExitCheckpoint), anything that is not a
// complete project/calibrate checkpoint, or whose matrices do not fit `model` (a layer it
// does not have, another shape), or that was made from other weights.
StudentCheckpoint read_student_checkpoint(const std::string& path, const ModelWeights& model);

// A second Transformer over the same weights with the checkpoint's matrices swapped in, for
// commands that run teacher and student side by side.
struct StudentNet {
  StudentNet(const ModelWeights& weights, StudentCheckpoint loaded)
      : checkpoint(std::move(loaded)),
        net(weights),
        installed(net, checkpoint.layout, checkpoint.params.data(), nullptr) {}
  StudentCheckpoint checkpoint;
  Transformer net;
  StudentModel installed;  // declared last: restores the dense matrices before net goes
};

// Records which weights a student was fitted to (checked by read_student_checkpoint).
void stamp_student_model(CheckpointWriter& file, const ModelWeights& model);

}  // namespace circal
