// A small SIMT emulator that runs dsbench's CUDA kernel bodies on the CPU, so that the split-KV MLA
// kernel's indexing, masking, softmax, splitting and combining are tested where there is no GPU.
// Every thread of a block is a fiber (ucontext) on one OS thread, scheduled round-robin; barriers
// (__syncthreads, the warp-level steps of shuffles and mma.sync) switch fibers. Warp instructions
// are modelled from their definitions: a shuffle reads the partner lane's value, mma.sync gathers
// A and B through kernels/cuda/mma_fragment.hpp (checked against the PTX tables by
// mla_decode_cuda_test.cpp) and accumulates in FP32. What it cannot show: timing, races that a
// real scheduler would expose, the memory model, and the PTX encodings themselves.
#pragma once

#include <ucontext.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "dsbench/numerics/bf16.hpp"
#include "kernels/cuda/mma_fragment.hpp"

namespace emu {

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

struct uint4 {
  uint32_t x, y, z, w;
};
inline uint4 make_uint4(uint32_t x, uint32_t y, uint32_t z, uint32_t w) { return {x, y, z, w}; }

class Block {
 public:
  Block(Dim3 block_idx, Dim3 grid, int threads, size_t smem_bytes)
      : block_idx_(block_idx), grid_(grid), fibers_(threads), smem_(smem_bytes + 16), shfl_(static_cast<size_t>(threads) + 32) {}

  void run(const std::function<void()>& body) {
    body_ = &body;
    const int n = static_cast<int>(fibers_.size());
    for (int t = 0; t < n; ++t) init_fiber(t);
    int live = n;
    while (live > 0) {
      bool progressed = false;
      for (int t = 0; t < n; ++t) {
        Fiber& f = fibers_[t];
        if (f.done || !runnable(f)) continue;
        current_ = this;
        me_ = t;
        swapcontext(&sched_, &f.ctx);
        progressed = true;
        if (f.done) --live;
      }
      if (!progressed) throw std::runtime_error("SIMT emulator: deadlock (threads wait at different barriers)");
    }
  }

  // --- what device code sees ---
  static Block& current() { return *current_; }
  int thread() const { return me_; }
  Dim3 block_idx() const { return block_idx_; }
  Dim3 grid_dim() const { return grid_; }
  Dim3 block_dim() const { return Dim3{static_cast<unsigned>(fibers_.size()), 1, 1}; }
  unsigned char* smem() { return smem_.data(); }

  void syncthreads() { wait(block_bar_, static_cast<int>(fibers_.size()), -1); }
  void syncwarp() { wait(warp_bar_[me_ / 32], 32, me_ / 32); }

  float shfl_xor(float v, int mask) {
    float* slot = warp_f32(me_ / 32);
    const int lane = me_ % 32;
    slot[lane] = v;
    syncwarp();
    const float r = slot[lane ^ mask];
    syncwarp();
    return r;
  }

  void mma_bf16(float c[4], const uint32_t a[4], const uint32_t b[2]) {
    const int w = me_ / 32, lane = me_ % 32;
    MmaSlots& s = mma_[w];
    for (int r = 0; r < 4; ++r) s.a[lane][r] = a[r];
    for (int r = 0; r < 2; ++r) s.b[lane][r] = b[r];
    syncwarp();
    float A[16][16], B[16][8];
    for (int l = 0; l < 32; ++l) {
      for (int r = 0; r < 4; ++r)
        for (int h = 0; h < 2; ++h)
          A[dsbench::cuda::mma_a_row(l, r)][dsbench::cuda::mma_a_col(l, r, h)] = half(s.a[l][r], h);
      for (int r = 0; r < 2; ++r)
        for (int h = 0; h < 2; ++h) B[dsbench::cuda::mma_b_row(l, r, h)][dsbench::cuda::mma_b_col(l)] = half(s.b[l][r], h);
    }
    syncwarp();
    for (int e = 0; e < 4; ++e) {
      const int row = dsbench::cuda::mma_c_row(lane, e), col = dsbench::cuda::mma_c_col(lane, e);
      float acc = c[e];
      for (int k = 0; k < 16; ++k) acc = std::fma(A[row][k], B[k][col], acc);
      c[e] = acc;
    }
  }

 private:
  struct Fiber {
    ucontext_t ctx{};
    bool done = false;
    int waiting = -1;     // barrier id (0 block, 1 + w warp w) or -1
    uint64_t wait_gen = 0;
  };
  struct Barrier {
    int arrived = 0;
    uint64_t gen = 0;
  };
  struct MmaSlots {
    uint32_t a[32][4];
    uint32_t b[32][2];
  };

  void init_fiber(int t) {
    Fiber& f = fibers_[t];
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = stack(t);
    f.ctx.uc_stack.ss_size = kStackBytes;
    f.ctx.uc_link = &sched_;
    makecontext(&f.ctx, &Block::entry, 0);
  }
  static float half(uint32_t word, int h) { return dsbench::bf16_to_f32(static_cast<uint16_t>(word >> (16 * h))); }
  static void entry() {
    Block& b = *current_;
    (*b.body_)();
    b.fibers_[b.me_].done = true;
  }
  bool runnable(const Fiber& f) const {
    if (f.waiting < 0) return true;
    const Barrier& bar = f.waiting == 0 ? block_bar_ : warp_bar_.at(static_cast<size_t>(f.waiting - 1));
    return bar.gen != f.wait_gen;
  }
  void wait(Barrier& bar, int count, int warp) {
    Fiber& f = fibers_[me_];
    const uint64_t gen = bar.gen;
    if (++bar.arrived == count) {  // the last to arrive releases the others
      bar.arrived = 0;
      ++bar.gen;
      return;
    }
    f.waiting = warp < 0 ? 0 : 1 + warp;
    f.wait_gen = gen;
    swapcontext(&f.ctx, &sched_);
    f.waiting = -1;
  }
  float* warp_f32(int w) { return shfl_.data() + w * 32; }
  // Fiber stacks, kept across blocks (uninitialised: a new block does not pay for zeroing them).
  static constexpr size_t kStackBytes = 128 * 1024;
  static char* stack(int t) {
    static std::vector<std::unique_ptr<char[]>> pool;
    while (pool.size() <= static_cast<size_t>(t)) pool.emplace_back(new char[kStackBytes]);
    return pool[static_cast<size_t>(t)].get();
  }

  Dim3 block_idx_, grid_;
  std::vector<Fiber> fibers_;
  std::vector<unsigned char> smem_;
  const std::function<void()>* body_ = nullptr;
  ucontext_t sched_{};
  Barrier block_bar_;
  std::vector<Barrier> warp_bar_ = std::vector<Barrier>(64);
  std::vector<MmaSlots> mma_ = std::vector<MmaSlots>(64);
  std::vector<float> shfl_;
  int me_ = 0;
  static inline Block* current_ = nullptr;
};

// Runs body for every thread of every block of the grid, one block at a time.
inline void launch(Dim3 grid, int threads, size_t smem_bytes, const std::function<void()>& body) {
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        Block b(Dim3{x, y, z}, grid, threads, smem_bytes);
        b.run(body);
      }
}

struct ThreadIdx {
  unsigned x;
};
inline ThreadIdx thread_idx() { return {static_cast<unsigned>(Block::current().thread())}; }

}  // namespace emu

// The CUDA vocabulary the kernel headers use, for a host compile.
// static: the host stubs nvcc makes for the same kernels live in libdsbench_cuda; these copies stay
// private to the test's translation unit.
#define __global__ static
#define __device__ static
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __shared__ static  // one block runs at a time, all its fibers on one OS thread
#define threadIdx (::emu::thread_idx())
#define blockIdx (::emu::Block::current().block_idx())
#define gridDim (::emu::Block::current().grid_dim())
#define blockDim (::emu::Block::current().block_dim())
#define __syncthreads() (::emu::Block::current().syncthreads())
#define __shfl_xor_sync(mask, v, lane) (::emu::Block::current().shfl_xor((v), (lane)))
#define DSB_EMU_MMA_BF16(c, a, b) (::emu::Block::current().mma_bf16((c), (a), (b)))
// Fibers of a block never run at the same time: an atomic read-modify-write is a plain one here.
template <class T, class V>
T emu_fetch_add(T* p, V v) {
  const T old = *p;
  *p = static_cast<T>(old + v);
  return old;
}
#define DSB_GPU_ATOMIC_ADD(ptr, v) emu_fetch_add((ptr), (v))
#define DSB_EXTERN_SHARED(type, name) type* name = reinterpret_cast<type*>(::emu::Block::current().smem())
using emu::make_uint4;
using emu::uint4;
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}
