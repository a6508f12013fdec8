#pragma once
// The CircalError an action throws, to check its exit class and message. When the action
// throws none: exit code -1 and an empty message (a check that expects success tests for -1).
#include "pipeline/base/errors.hpp"

namespace circal::testing {

template <typename Action>
CircalError error_of(Action&& action) {
  try {
    action();
  } catch (const CircalError& e) {
    return e;
  }
  return CircalError(static_cast<ExitCode>(-1), "");
}

}  // namespace circal::testing
