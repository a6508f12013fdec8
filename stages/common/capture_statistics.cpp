#include "stages/common/capture_statistics.hpp"

#include <algorithm>

#include "pipeline/base/errors.hpp"
#include "stages/common/capture_layout.hpp"

namespace circal {

std::vector<StatisticsStream> statistics_streams(const StudentLayout& layout) {
  std::vector<StatisticsStream> streams;
  for (size_t i = 0; i < layout.matrices.size(); ++i) {
    const PatchedMatrix& matrix = layout.matrices[i];
    const Projection source = capture_input_source(matrix.projection);
    auto found = std::find_if(streams.begin(), streams.end(),
                              [&](const StatisticsStream& s) { return s.layer == matrix.layer && s.source == source; });
    if (found == streams.end()) {
      streams.push_back({matrix.layer, source, matrix.in_features, {}});
      found = streams.end() - 1;
    }
    found->matrices.push_back(i);
  }
  return streams;
}

void add_round_in_order(MPI_Comm comm, int contributors, const double* partial, double* total, size_t count) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  constexpr size_t kMessage = size_t(1) << 26;  // doubles per message (512 MiB), below INT_MAX
  if (rank == 0) {
    std::vector<double> received;
    for (int source = 0; source < contributors; ++source) {
      const double* term = partial;
      if (source != 0) {
        received.resize(count);
        for (size_t at = 0; at < count; at += kMessage)
          MPI_Recv(received.data() + at, int(std::min(kMessage, count - at)), MPI_DOUBLE, source, 0, comm,
                   MPI_STATUS_IGNORE);
        term = received.data();
      }
      for (size_t i = 0; i < count; ++i) total[i] += term[i];
    }
  } else if (rank < contributors) {
    for (size_t at = 0; at < count; at += kMessage)
      MPI_Send(partial + at, int(std::min(kMessage, count - at)), MPI_DOUBLE, 0, 0, comm);
  }
}

std::string statistics_group(int b, int layer, Projection name) {
  return "/statistics/b" + std::to_string(b) + "/layers/" + std::to_string(layer) + "/" + name_of(name);
}

std::string full_gram_dataset(int layer, Projection source) {
  return "/statistics/full_gram/layers/" + std::to_string(layer) + "/" + name_of(source);
}

namespace {

size_t packed_size(int q) { return size_t(q) * (q + 1) / 2; }

}  // namespace

void write_input_statistics(CheckpointWriter& file, int layer, Projection source, const InputStatistics& s,
                            int gzip_level) {
  const std::string group = statistics_group(s.b, layer, source);
  const int q = s.q, bins = s.bins();
  // Lower triangle packed column by column: (i, j), i >= j, as (re, im).
  std::vector<double> packed(size_t(bins) * packed_size(q) * 2);
  size_t at = 0;
  for (int k = 0; k < bins; ++k)
    for (int j = 0; j < q; ++j)
      for (int i = j; i < q; ++i) {
        const cdouble v = s.gram()[size_t(k) * q * q + size_t(j) * q + i];
        packed[at++] = v.real(), packed[at++] = v.imag();
      }
  file.write(group + "/gram", {uint64_t(bins), packed_size(q), 2}, packed.data(), gzip_level);
  const double sums[2] = {s.sum_squares(), s.tokens()};
  file.write(group + "/gram_sums", {2}, sums);
  file.set_attr(group + "/gram", "n", int64_t(s.n));
  file.set_attr(group + "/gram", "q", int64_t(q));
}

void write_output_statistics(CheckpointWriter& file, int layer, Projection projection, const OutputStatistics& s,
                             int gzip_level) {
  const std::string group = statistics_group(s.b, layer, projection);
  const int p = s.p, q = s.q, bins = s.bins();
  std::vector<double> cross(size_t(bins) * p * q * 2);  // [bins][p][q] (re, im)
  size_t at = 0;
  for (int k = 0; k < bins; ++k)
    for (int i = 0; i < p; ++i)
      for (int j = 0; j < q; ++j) {
        const cdouble v = s.cross()[size_t(k) * p * q + size_t(j) * p + i];
        cross[at++] = v.real(), cross[at++] = v.imag();
      }
  file.write(group + "/cross", {uint64_t(bins), uint64_t(p), uint64_t(q), 2}, cross.data(), gzip_level);
  const double sum = s.sum_squares();
  file.write(group + "/output_sum_squares", {1}, &sum);
  file.set_attr(group + "/cross", "m", int64_t(s.m));
}

void write_full_gram(CheckpointWriter& file, int layer, Projection source, const FullGram& gram, int gzip_level) {
  const std::string name = full_gram_dataset(layer, source);
  file.write(name, {uint64_t(gram.n), uint64_t(gram.n)}, gram.values.data(), gzip_level);
  file.set_attr(name, "tokens", int64_t(gram.tokens()));
}

namespace {

std::vector<double> read_shaped(const CheckpointReader& file, const std::string& name,
                                const std::vector<uint64_t>& dims) {
  if (!file.exists(name))
    fail(kExitCheckpoint,
         file.path() + ": no " + name + " (capture made for another block size or layout; rerun capture)");
  if (file.shape(name) != dims) fail(kExitCheckpoint, file.path() + ": " + name + " has an unexpected shape");
  return file.read_double(name);
}

}  // namespace

bool has_statistics(const CheckpointReader& file, int b) { return file.exists("/statistics/b" + std::to_string(b)); }

InputStatistics read_input_statistics(const CheckpointReader& file, int b, int layer, Projection source, int n) {
  InputStatistics s(n, b);
  const std::string group = statistics_group(b, layer, source);
  const int q = s.q, bins = s.bins();
  const std::vector<double> packed = read_shaped(file, group + "/gram", {uint64_t(bins), packed_size(q), 2});
  size_t at = 0;
  for (int k = 0; k < bins; ++k)
    for (int j = 0; j < q; ++j)
      for (int i = j; i < q; ++i, at += 2)
        s.gram()[size_t(k) * q * q + size_t(j) * q + i] = {packed[at], packed[at + 1]};
  const std::vector<double> sums = read_shaped(file, group + "/gram_sums", {2});
  s.sum_squares() = sums[0];
  s.tokens() = sums[1];
  return s;
}

OutputStatistics read_output_statistics(const CheckpointReader& file, int b, int layer, Projection projection, int m,
                                        int n) {
  OutputStatistics s(m, n, b);
  const std::string group = statistics_group(b, layer, projection);
  const int p = s.p, q = s.q, bins = s.bins();
  const std::vector<double> cross = read_shaped(file, group + "/cross", {uint64_t(bins), uint64_t(p), uint64_t(q), 2});
  size_t at = 0;
  for (int k = 0; k < bins; ++k)
    for (int i = 0; i < p; ++i)
      for (int j = 0; j < q; ++j, at += 2)
        s.cross()[size_t(k) * p * q + size_t(j) * p + i] = {cross[at], cross[at + 1]};
  s.sum_squares() = read_shaped(file, group + "/output_sum_squares", {1})[0];
  return s;
}

}  // namespace circal
