// CheckpointWriter: parallel HDF5 (MPI-IO driver, collective transfers) into PATH.tmp, made
// visible by an fsync'd rename only after the `complete` flag is written.
#include "pipeline/io/checkpoint_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "pipeline/base/errors.hpp"
#include "pipeline/base/fnv1a.hpp"
#include "pipeline/base/version_stamp.hpp"
#include "pipeline/io/hdf5_handle.hpp"
#include "pipeline/io/io_failure.hpp"
#include "pipeline/runtime/mpi_context.hpp"

namespace circal {

namespace fs = std::filesystem;

namespace {

hid_t file_type(H5Type type) {
  switch (type) {
    case H5Type::Float32: return H5T_IEEE_F32LE;
    case H5Type::Float64: return H5T_IEEE_F64LE;
    case H5Type::Int32: return H5T_STD_I32LE;
    case H5Type::Int64: return H5T_STD_I64LE;
  }
  return H5T_IEEE_F32LE;
}

hid_t memory_type(const float*) { return H5T_NATIVE_FLOAT; }
hid_t memory_type(const double*) { return H5T_NATIVE_DOUBLE; }
hid_t memory_type(const int32_t*) { return H5T_NATIVE_INT32; }
hid_t memory_type(const int64_t*) { return H5T_NATIVE_INT64; }

H5Type h5_type_of(const float*) { return H5Type::Float32; }
H5Type h5_type_of(const double*) { return H5Type::Float64; }
H5Type h5_type_of(const int32_t*) { return H5Type::Int32; }
H5Type h5_type_of(const int64_t*) { return H5Type::Int64; }

std::string utc_now_iso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

void fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) throw std::runtime_error(path + ": cannot open for fsync: " + std::strerror(errno));
  const int status = ::fsync(fd);
  const int saved_errno = errno;
  ::close(fd);
  if (status != 0) throw std::runtime_error(path + ": fsync failed: " + std::strerror(saved_errno));
}

std::vector<std::string> path_components(const std::string& path) {
  std::vector<std::string> parts;
  for (const auto& part : fs::path(path)) {
    const std::string text = part.string();
    if (!text.empty() && text != "/") parts.push_back(text);
  }
  return parts;
}

}  // namespace

struct CheckpointWriter::Impl {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0;
  int size = 1;
  std::string path;
  std::string tmp_path;
  H5File file;
  bool committed = false;
  int uncaught_at_start = 0;

  [[noreturn]] void fail_on(const std::string& object, const std::string& what) const {
    const int error = errno;
    fail(kExitIo,
         tmp_path + ": " + what + (object.empty() ? "" : " '" + object + "'") + io_failure_reason(tmp_path, error));
  }

  // Opens a group or dataset, creating missing groups on the way (collective).
  H5Object open_or_create_object(const std::string& object) {
    std::string so_far;
    for (const auto& part : path_components(object)) {
      so_far += "/" + part;
      const htri_t exists = H5Lexists(file.get(), so_far.c_str(), H5P_DEFAULT);
      if (exists < 0) fail_on(so_far, "cannot look up");
      if (exists == 0) {
        H5Group group(H5Gcreate2(file.get(), so_far.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        if (!group.valid()) fail_on(so_far, "cannot create group");
      }
    }
    H5Object opened(H5Oopen(file.get(), so_far.empty() ? "/" : so_far.c_str(), H5P_DEFAULT));
    if (!opened.valid()) fail_on(object, "cannot open");
    return opened;
  }

  // Replaces attribute `name` of `object` by a new one of the given type and space.
  void write_attr(const std::string& object, const std::string& name, hid_t type, hid_t space, const void* data) {
    H5Object target = open_or_create_object(object);
    const htri_t exists = H5Aexists(target.get(), name.c_str());
    if (exists > 0 && H5Adelete(target.get(), name.c_str()) < 0)
      fail_on(object, "cannot replace attribute " + name + " of");
    H5Attribute attr(H5Acreate2(target.get(), name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT));
    if (!attr.valid() || H5Awrite(attr.get(), type, data) < 0)
      fail_on(object, "cannot write attribute " + name + " of");
  }

  template <typename T>
  void write_rows(const std::string& name, uint64_t row0, uint64_t nrows, const T* data) {
    H5Dataset dataset(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT));
    if (!dataset.valid()) fail_on(name, "no dataset");
    H5Dataspace file_space(H5Dget_space(dataset.get()));
    const int rank_count = H5Sget_simple_extent_ndims(file_space.get());
    std::vector<hsize_t> dims(rank_count > 0 ? rank_count : 1, 1);
    if (rank_count > 0) H5Sget_simple_extent_dims(file_space.get(), dims.data(), nullptr);
    if (row0 + nrows > dims[0])
      fail(kExitInternal, tmp_path + ": rows [" + std::to_string(row0) + ", " + std::to_string(row0 + nrows) +
                              ") outside dataset '" + name + "' of " + std::to_string(dims[0]) + " rows");
    std::vector<hsize_t> start(dims.size(), 0), count = dims;
    start[0] = row0;
    count[0] = nrows;
    H5Dataspace memory_space(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr));
    if (nrows == 0) {
      // Ranks without rows still take part in the collective transfer, selecting nothing.
      H5Sselect_none(file_space.get());
      H5Sselect_none(memory_space.get());
    } else if (rank_count > 0) {
      H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
    }
    H5PropertyList transfer(H5Pcreate(H5P_DATASET_XFER));
    // Collective transfer: parallel HDF5 1.10 refuses independent writes to gzip datasets.
    H5Pset_dxpl_mpio(transfer.get(), H5FD_MPIO_COLLECTIVE);
    static const T no_rows{};
    if (H5Dwrite(dataset.get(), memory_type(data), memory_space.get(), file_space.get(), transfer.get(),
                 data ? data : &no_rows) < 0)
      fail_on(name, "cannot write rows of");
  }

  template <typename T>
  void write_whole(CheckpointWriter& writer, const std::string& name, const std::vector<uint64_t>& dims, const T* data,
                   int gzip_level) {
    writer.create(name, h5_type_of(data), dims, dims.empty() ? 0 : gzip_level);
    const uint64_t rows = dims.empty() ? 1 : dims[0];
    write_rows(name, 0, rank == 0 ? rows : 0, data);
  }

  void stamp(const CheckpointMeta& meta, CheckpointWriter& writer) {
    writer.set_attr("/", "circal_version", std::string(circal_version()));
    writer.set_attr("/", "git_commit", std::string(circal_git_commit()));
    writer.set_attr("/", "stage", meta.stage);
    writer.set_attr("/", "fingerprint", meta.fingerprint);
    writer.set_attr("/", "config", meta.config_yaml);
    writer.set_attr("/", "created", broadcast_string(comm, utc_now_iso8601()));
    writer.set_attr("/", "ranks", static_cast<int64_t>(size));
    writer.set_attr("/", "complete", static_cast<int64_t>(0));
  }

  // rename() is atomic; the fsyncs make the content and then the new name durable.
  void publish() const {
    fsync_path(tmp_path, O_RDONLY);
    if (std::rename(tmp_path.c_str(), path.c_str()) != 0)
      throw std::runtime_error(tmp_path + ": cannot rename to " + path + ": " + std::strerror(errno));
    const fs::path parent = fs::path(path).parent_path();
    fsync_path(parent.empty() ? "." : parent.string(), O_RDONLY | O_DIRECTORY);
  }
};

CheckpointWriter::CheckpointWriter(MPI_Comm comm, const std::string& path, const CheckpointMeta& meta)
    : impl_(new Impl) {
  silence_hdf5_errors();
  impl_->comm = comm;
  MPI_Comm_rank(comm, &impl_->rank);
  MPI_Comm_size(comm, &impl_->size);
  impl_->path = path;
  impl_->tmp_path = path + ".tmp";
  impl_->uncaught_at_start = std::uncaught_exceptions();
  try {
    run_on_root_and_agree(comm, kExitIo, [&] {
      const fs::path parent = fs::path(path).parent_path();
      std::error_code ec;
      if (!parent.empty()) fs::create_directories(parent, ec);
      if (ec) throw std::runtime_error(parent.string() + ": cannot create directory: " + ec.message());
    });
    H5PropertyList access(H5Pcreate(H5P_FILE_ACCESS));
    H5Pset_fapl_mpio(access.get(), comm, MPI_INFO_NULL);
    impl_->file = H5File(H5Fcreate(impl_->tmp_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get()));
    if (!impl_->file.valid()) {
      const int error = errno;
      fail(kExitIo, impl_->tmp_path + ": cannot create" + io_failure_reason(impl_->tmp_path, error));
    }
    impl_->stamp(meta, *this);
  } catch (...) {
    delete impl_;
    throw;
  }
}

CheckpointWriter::~CheckpointWriter() {
  if (!impl_->committed) {
    const bool unwinding = std::uncaught_exceptions() > impl_->uncaught_at_start;
    if (unwinding && impl_->size > 1) {
      // Closing is collective; the other ranks may be elsewhere, so this rank leaves the handle
      // open (the job is about to abort) and only makes sure no partial file stays behind.
      impl_->file.release();
      std::remove(impl_->tmp_path.c_str());
    } else {
      impl_->file.reset();
      if (impl_->rank == 0) std::remove(impl_->tmp_path.c_str());
    }
  }
  delete impl_;
}

void CheckpointWriter::create(const std::string& name, H5Type type, const std::vector<uint64_t>& dims, int gzip_level,
                              uint64_t chunk_rows) {
  std::vector<hsize_t> extent(dims.begin(), dims.end());
  H5Dataspace space(extent.empty() ? H5Screate(H5S_SCALAR)
                                   : H5Screate_simple(static_cast<int>(extent.size()), extent.data(), nullptr));
  H5PropertyList link(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(link.get(), 1);
  H5PropertyList layout(H5Pcreate(H5P_DATASET_CREATE));
  if (!extent.empty() && (gzip_level > 0 || chunk_rows > 0)) {
    const hsize_t row_elements =
        std::accumulate(extent.begin() + 1, extent.end(), hsize_t{1}, std::multiplies<hsize_t>());
    // Without a requested size, about 1 MiB per chunk.
    const hsize_t default_rows = std::max<hsize_t>(1, (hsize_t{1} << 20) / (row_elements * 4));
    std::vector<hsize_t> chunk = extent;
    chunk[0] = std::max<hsize_t>(1, std::min<hsize_t>(chunk_rows > 0 ? chunk_rows : default_rows, extent[0]));
    for (auto& d : chunk) d = std::max<hsize_t>(d, 1);
    H5Pset_chunk(layout.get(), static_cast<int>(chunk.size()), chunk.data());
    if (gzip_level > 0) H5Pset_deflate(layout.get(), static_cast<unsigned>(gzip_level));
  }
  H5Dataset dataset(
      H5Dcreate2(impl_->file.get(), name.c_str(), file_type(type), space.get(), link.get(), layout.get(), H5P_DEFAULT));
  if (!dataset.valid()) impl_->fail_on(name, "cannot create dataset");
}

void CheckpointWriter::write_rows(const std::string& name, uint64_t row0, uint64_t nrows, const float* data) {
  impl_->write_rows(name, row0, nrows, data);
}
void CheckpointWriter::write_rows(const std::string& name, uint64_t row0, uint64_t nrows, const double* data) {
  impl_->write_rows(name, row0, nrows, data);
}
void CheckpointWriter::write_rows(const std::string& name, uint64_t row0, uint64_t nrows, const int32_t* data) {
  impl_->write_rows(name, row0, nrows, data);
}
void CheckpointWriter::write_rows(const std::string& name, uint64_t row0, uint64_t nrows, const int64_t* data) {
  impl_->write_rows(name, row0, nrows, data);
}

void CheckpointWriter::write(const std::string& name, const std::vector<uint64_t>& dims, const float* data,
                             int gzip_level) {
  impl_->write_whole(*this, name, dims, data, gzip_level);
}
void CheckpointWriter::write(const std::string& name, const std::vector<uint64_t>& dims, const double* data,
                             int gzip_level) {
  impl_->write_whole(*this, name, dims, data, gzip_level);
}
void CheckpointWriter::write(const std::string& name, const std::vector<uint64_t>& dims, const int32_t* data,
                             int gzip_level) {
  impl_->write_whole(*this, name, dims, data, gzip_level);
}
void CheckpointWriter::write(const std::string& name, const std::vector<uint64_t>& dims, const int64_t* data,
                             int gzip_level) {
  impl_->write_whole(*this, name, dims, data, gzip_level);
}

void CheckpointWriter::set_attr(const std::string& object, const std::string& name, const std::string& value) {
  // Fixed-length UTF-8: parallel HDF5 writes it like any other attribute (readers accept
  // variable-length strings too, as h5py writes them).
  H5Datatype type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), value.size() + 1);
  H5Tset_strpad(type.get(), H5T_STR_NULLTERM);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  H5Dataspace scalar(H5Screate(H5S_SCALAR));
  impl_->write_attr(object, name, type.get(), scalar.get(), value.c_str());
}

void CheckpointWriter::set_attr(const std::string& object, const std::string& name, double value) {
  H5Dataspace scalar(H5Screate(H5S_SCALAR));
  impl_->write_attr(object, name, H5T_NATIVE_DOUBLE, scalar.get(), &value);
}

void CheckpointWriter::set_attr(const std::string& object, const std::string& name, int64_t value) {
  H5Dataspace scalar(H5Screate(H5S_SCALAR));
  impl_->write_attr(object, name, H5T_NATIVE_INT64, scalar.get(), &value);
}

void CheckpointWriter::set_attr(const std::string& object, const std::string& name, const std::vector<double>& value) {
  const hsize_t count = value.size();
  H5Dataspace space(count == 0 ? H5Screate(H5S_NULL) : H5Screate_simple(1, &count, nullptr));
  static const double nothing = 0;
  impl_->write_attr(object, name, H5T_NATIVE_DOUBLE, space.get(), count == 0 ? &nothing : value.data());
}

void CheckpointWriter::commit() {
  set_attr("/", "complete", static_cast<int64_t>(1));
  if (H5Fflush(impl_->file.get(), H5F_SCOPE_GLOBAL) < 0) impl_->fail_on("", "cannot flush");
  if (impl_->file.reset() < 0) {
    const int error = errno;
    fail(kExitIo, impl_->tmp_path + ": cannot close" + io_failure_reason(impl_->tmp_path, error));
  }
  run_on_root_and_agree(impl_->comm, kExitIo, [&] { impl_->publish(); });
  impl_->committed = true;
  MPI_Barrier(impl_->comm);
}

}  // namespace circal
