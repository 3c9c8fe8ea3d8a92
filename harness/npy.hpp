// NumPy .npy reader and writer for `dsbench run --dump` / `dsbench replay`: one tensor per file,
// so a failing case can travel between vendors and be opened with numpy.load. FP8/BF16 tensors are
// stored as their raw bits (|u1, <u2); the logical dtype is recorded elsewhere by the caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dsbench::npy {

struct Array {
  std::string descr;           // NumPy dtype string: "|u1", "|i1", "<u2", "<i2", "<f2", "<i4", "<u4",
                               // "<f4", "<i8", "<u8", "<f8", "|b1"
  std::vector<int64_t> shape;  // C order; {} = scalar (1 element)
  std::vector<uint8_t> data;   // raw little-endian bytes, numel * itemsize

  int64_t numel() const;   // product of shape (1 for scalar)
  size_t itemsize() const;  // from descr
};

// Bytes per element of a supported descr; throws dsbench::Error for anything else (big-endian,
// structured, complex, object, ...). '=' counts as little-endian (this host).
size_t descr_itemsize(const std::string& descr);

// Writes format version 1.0 (2.0 if the header does not fit in 64 KiB), data 64-byte aligned.
// Atomic: a temp file beside `path` is renamed over it, so a reader never sees half a tensor.
// Throws dsbench::Error naming `path` (and strerror for OS failures).
void write(const std::string& path, const Array& a);

// Reads versions 1.0, 2.0 and 3.0. The returned descr is canonical ('|' for one-byte types, '<'
// otherwise). Throws dsbench::Error naming `path` and the defect, e.g.
// "a.npy: truncated: header says 4096 bytes of data, file has 1000".
Array read(const std::string& path);

}  // namespace dsbench::npy
