#pragma once
// RAII ownership of HDF5 identifiers: one move-only handle type per kind of id, each closed
// by its own H5?close, so no error path can leak a file, dataspace or property list.
#include <hdf5.h>

#include <utility>

namespace circal {

template <herr_t (*Close)(hid_t)>
class H5Handle {
 public:
  H5Handle() = default;
  explicit H5Handle(hid_t id) : id_(id) {}
  ~H5Handle() { reset(); }
  H5Handle(H5Handle&& other) noexcept : id_(other.release()) {}
  H5Handle& operator=(H5Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = other.release();
    }
    return *this;
  }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Gives up ownership without closing (e.g. a parallel file a failing rank must not close
  // collectively while the other ranks are elsewhere).
  hid_t release() { return std::exchange(id_, H5I_INVALID_HID); }
  // Closes now; returns the close status (negative when HDF5 failed to close).
  herr_t reset() {
    herr_t status = 0;
    if (id_ >= 0) status = Close(id_);
    id_ = H5I_INVALID_HID;
    return status;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using H5File = H5Handle<H5Fclose>;
using H5Group = H5Handle<H5Gclose>;
using H5Dataset = H5Handle<H5Dclose>;
using H5Dataspace = H5Handle<H5Sclose>;
using H5Datatype = H5Handle<H5Tclose>;
using H5Attribute = H5Handle<H5Aclose>;
using H5PropertyList = H5Handle<H5Pclose>;
using H5Object = H5Handle<H5Oclose>;

// HDF5 prints its error stack to stderr by default; circal reports failures itself as one-line
// CircalErrors, so the stack is switched off once per process.
inline void silence_hdf5_errors() {
  static const bool silenced = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)silenced;
}

}  // namespace circal
