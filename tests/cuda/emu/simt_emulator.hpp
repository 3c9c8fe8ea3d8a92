// A small SIMT emulator that runs dsbench's CUDA kernel bodies on the CPU, so that the split-KV MLA
// kernel's indexing, masking, softmax, splitting and combining are tested where there is no GPU.
// Every thread of a block is a fiber (ucontext) on one OS thread, scheduled round-robin; barriers
// (__syncthreads, the warp-level steps of shuffles and mma.sync) switch fibers. Warp instructions
// are modelled from their definitions: a shuffle reads the partner lane's value, mma.sync gathers
// A and B through kernels/cuda/mma_fragment.hpp (checked against the PTX tables by
// mla_decode_cuda_test.cpp) and accumulates in FP32. What it cannot show: timing, races that a
// real scheduler would expose, the memory model, and the PTX encodings themselves.
//
// Hopper (sm_90a) models, for the FP8 GEMM of kernels/cuda/gemm_fp8_sm90_kernel.cuh, written from the
// PTX ISA's definitions (section names in each model) and pinned to the ISA's tables by
// tests/cuda/gemm_fp8_sm90_emulated_test.cpp:
//   - mbarrier: init, arrive, arrive.expect_tx, complete_tx, try_wait.parity (phase parity);
//   - cp.async.bulk.tensor 2D (a TensorMap2D in place of the opaque CUtensorMap): box copy with zero
//     fill out of bounds, the 32/64/128-byte swizzle applied to shared-memory address bits, then
//     complete_tx of the full box on the mbarrier;
//   - wgmma.mma_async .e4m3 x .e4m3 -> FP32 with K-major shared-memory descriptors (start address,
//     LBO, SBO, swizzle mode), the D fragment of kernels/cuda/wgmma_layout.hpp, executed when the
//     issuing thread waits for its group (wait_group), as the instruction is asynchronous.
// A spinning try_wait yields its fiber; when every live fiber spins and nothing changes, that is a
// deadlock and run() throws.
#pragma once

#include <ucontext.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"
#include "kernels/cuda/mma_fragment.hpp"
#include "kernels/cuda/wgmma_layout.hpp"

namespace emu {

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

struct uint4 {
  uint32_t x, y, z, w;
};
inline uint4 make_uint4(uint32_t x, uint32_t y, uint32_t z, uint32_t w) { return {x, y, z, w}; }

[[noreturn]] inline void fail(const std::string& what) {  // inside a fiber an exception has nowhere to go
  std::fprintf(stderr, "SIMT emulator: %s\n", what.c_str());
  std::abort();
}

// What a CUtensorMap encodes for a 2D tiled map (cuTensorMapEncodeTiled's arguments), in the clear.
struct TensorMap2D {
  const void* base = nullptr;
  uint64_t dims[2] = {0, 0};   // elements: inner (contiguous), outer
  uint64_t row_stride = 0;     // bytes between outer indices
  uint32_t box[2] = {0, 0};    // elements per copy
  uint32_t elem_bytes = 1;
  uint32_t swizzle_bytes = 0;  // 0 (none), 32, 64 or 128
};

// The shared-memory swizzle of TMA and wgmma (CUDA C++ Programming Guide, "Tensor Memory Access:
// swizzle"; PTX ISA "Shared Memory Matrix Layout", swizzling modes): within every span of
// 8 x `swizzle_bytes`, the 16-byte chunk index (address bits 4..) is XORed with the row of 128
// bytes (address bits 7..), over log2(swizzle_bytes / 16) bits.
inline uint32_t swizzle_address(uint32_t addr, uint32_t swizzle_bytes) {
  switch (swizzle_bytes) {
    case 128: return addr ^ (((addr >> 7) & 7u) << 4);
    case 64: return addr ^ (((addr >> 7) & 3u) << 4);
    case 32: return addr ^ (((addr >> 7) & 1u) << 4);
    default: return addr;
  }
}

// Shared-memory address of byte `kbyte` (along K) of row `row` (along M or N) of a K-major wgmma
// operand, from its matrix descriptor (PTX ISA, "Matrix Descriptor Format" and "Shared Memory Matrix
// Layout"): start address, LBO (between core matrices / swizzle atoms adjacent in K), SBO (between
// groups of 8 rows), swizzle mode in bits 62-63. Without swizzle a core matrix is 8 rows x 16
// bytes; with a swizzle of W bytes, 8 rows of W bytes, swizzled by address.
inline uint32_t wgmma_kmajor_address(uint64_t desc, int row, int kbyte) {
  const uint32_t start = static_cast<uint32_t>(desc & 0x3fffu) << 4;
  const uint32_t lbo = static_cast<uint32_t>((desc >> 16) & 0x3fffu) << 4;
  const uint32_t sbo = static_cast<uint32_t>((desc >> 32) & 0x3fffu) << 4;
  const uint32_t base_offset = static_cast<uint32_t>((desc >> 49) & 7u);
  if (base_offset != 0) fail("wgmma descriptor: base offset " + std::to_string(base_offset) + " is not modelled");
  static const uint32_t kWidth[4] = {16, 128, 64, 32};
  const uint32_t w = kWidth[(desc >> 62) & 3u];
  const uint32_t r = static_cast<uint32_t>(row), k = static_cast<uint32_t>(kbyte);
  const uint32_t addr = start + (r / 8) * sbo + (k / w) * lbo + (r % 8) * w + k % w;
  return w == 16 ? addr : swizzle_address(addr, w);
}

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
        if (f.done) {
          --live;
          progress();
        }
        if (spins_ > 4 * n + 64)
          throw std::runtime_error("SIMT emulator: deadlock (every live thread spins on an mbarrier, nothing changes)");
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
  // bar.sync id, count (a named barrier over `count` threads; PTX ISA "bar.sync"): ids 1..15.
  void bar_sync(int id, int count) {
    if (id < 1 || id > 15 || count % 32 != 0) fail("bar.sync: id 1..15 and a count that is a multiple of 32");
    wait(named_bar_[id], count, -2 - id);
  }
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

  // ---- Hopper models (see the file comment) ----
  uint32_t smem_addr(const void* p) const {
    const auto* c = static_cast<const unsigned char*>(p);
    if (c < smem_.data() || c >= smem_.data() + smem_.size()) fail("a shared-memory address outside the block's shared memory");
    return static_cast<uint32_t>(c - smem_.data());
  }
  void mbar_init(uint64_t* bar, uint32_t count) {
    Mbar& m = mbars_[checked_addr(bar, 8)];
    m = Mbar{};
    m.count = m.pending = static_cast<int>(count);
    m.init = true;
    progress();
  }
  // mbarrier.arrive(.expect_tx): the transaction count rises by tx bytes, then one arrival.
  void mbar_arrive(uint64_t* bar, uint32_t tx) {
    Mbar& m = mbar(bar);
    m.tx += tx;
    if (--m.pending < 0) fail("mbarrier: more arrivals than its count in one phase");
    maybe_complete(m);
    // A plain arrive (a consumer releasing a buffer) lets the others run at once, so that a producer
    // waiting for the buffer refills it before the releasing thread goes on: a thread that releases
    // a buffer before it is done with it (an asynchronous wgmma still to read it) meets the
    // overwrite it could meet on the hardware. (arrive.expect_tx, a producer's, does not yield: the
    // producer runs ahead and fills the ring, the adversarial order for its consumers.)
    if (tx == 0) swapcontext(&fibers_[me_].ctx, &sched_);
  }
  // mbarrier.try_wait.parity: true once the phase with this parity has completed, i.e. while the
  // current phase has the other parity. A false answer yields the fiber.
  bool mbar_try_wait(uint64_t* bar, uint32_t parity) {
    const Mbar& m = mbar(bar);
    if ((m.phase & 1u) != (parity & 1u)) return true;
    spin();
    return false;
  }
  uint32_t mbar_phase(uint64_t* bar) { return mbar(bar).phase; }
  int64_t mbar_tx(uint64_t* bar) { return mbar(bar).tx; }
  int mbar_pending(uint64_t* bar) { return mbar(bar).pending; }

  // cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes: the box at
  // (c_inner, c_outer) into shared memory, rows of box[0] elements packed, swizzled by address;
  // elements out of the tensor's bounds are zero. Then complete_tx(box bytes) on the barrier.
  void tma_load_2d(void* dst, const TensorMap2D& map, uint64_t* bar, int32_t c_inner, int32_t c_outer) {
    const uint32_t d = smem_addr(dst);
    if (d % 128 != 0) fail("cp.async.bulk.tensor: shared-memory destination not 128-byte aligned");
    const uint32_t row_bytes = map.box[0] * map.elem_bytes;
    if (map.swizzle_bytes != 0 && row_bytes != map.swizzle_bytes)
      fail("cp.async.bulk.tensor: modelled only for a box row of exactly the swizzle span");
    const uint32_t total = row_bytes * map.box[1];
    if (d + total > smem_.size()) fail("cp.async.bulk.tensor: box beyond shared memory");
    const auto* g = static_cast<const unsigned char*>(map.base);
    for (uint32_t r = 0; r < map.box[1]; ++r) {
      const int64_t y = int64_t{c_outer} + r;
      for (uint32_t b = 0; b < row_bytes; ++b) {
        const int64_t x = int64_t{c_inner} + b / map.elem_bytes;
        const bool in = y >= 0 && x >= 0 && static_cast<uint64_t>(y) < map.dims[1] && static_cast<uint64_t>(x) < map.dims[0];
        const unsigned char v = in ? g[static_cast<uint64_t>(y) * map.row_stride + static_cast<uint64_t>(x) * map.elem_bytes +
                                       b % map.elem_bytes]
                                   : 0;
        smem_[swizzle_address(d + r * row_bytes + b, map.swizzle_bytes)] = v;
      }
    }
    Mbar& m = mbar(bar);
    m.tx -= total;
    maybe_complete(m);
  }

  // wgmma: fence (a no-op here), the asynchronous MMA queued per thread, commit_group, wait_group.
  void wgmma_fence() {}
  void wgmma_e4m3(float* d, int n, uint64_t desc_a, uint64_t desc_b, bool accumulate) {
    wg_[me_].open.push_back(WgmmaOp{d, n, desc_a, desc_b, accumulate});
  }
  void wgmma_commit() {
    WgState& w = wg_[me_];
    w.groups.push_back(std::move(w.open));
    w.open.clear();
  }
  void wgmma_wait(int pending_allowed) {
    WgState& w = wg_[me_];
    while (static_cast<int>(w.groups.size()) > pending_allowed) {
      for (const WgmmaOp& op : w.groups.front()) execute(op);
      w.groups.pop_front();
    }
  }
  // Mantissa bits the model keeps of each wgmma result (23: FP32). Hopper's FP8 tensor cores are
  // reported to keep fewer (DeepSeek-V3 technical report, section 3.3.2: about 14): a test can
  // narrow it to see that the kernel's promotion still holds.
  static inline int wgmma_fp8_mantissa_bits = 23;

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
  struct Mbar {
    int count = 0, pending = 0;
    int64_t tx = 0;
    uint32_t phase = 0;  // completed phases
    bool init = false;
  };
  struct WgmmaOp {
    float* d;
    int n;
    uint64_t desc_a, desc_b;
    bool accumulate;
  };
  struct WgState {
    std::vector<WgmmaOp> open;
    std::deque<std::vector<WgmmaOp>> groups;
  };

  uint32_t checked_addr(const void* p, uint32_t align) const {
    const uint32_t a = smem_addr(p);
    if (a % align != 0) fail("misaligned shared-memory object");
    return a;
  }
  Mbar& mbar(uint64_t* bar) {
    const auto it = mbars_.find(checked_addr(bar, 8));
    if (it == mbars_.end() || !it->second.init) fail("mbarrier used before mbarrier.init");
    return it->second;
  }
  void maybe_complete(Mbar& m) {
    progress();
    if (m.pending == 0 && m.tx == 0) {
      ++m.phase;
      m.pending = m.count;
    }
  }
  void progress() { spins_ = 0; }
  void spin() {
    ++spins_;
    swapcontext(&fibers_[me_].ctx, &sched_);
  }
  static float e4m3(uint8_t code) {
    static const std::vector<float> lut = [] {
      std::vector<float> v(256);
      for (int c = 0; c < 256; ++c) v[c] = dsbench::fp8_decode(static_cast<uint8_t>(c), DSB_DTYPE_E4M3FN);
      return v;
    }();
    return lut[code];
  }
  static float keep_mantissa(float x, int bits) {
    if (bits >= 23 || !std::isfinite(x)) return x;
    uint32_t u;
    std::memcpy(&u, &x, 4);
    u &= ~((1u << (23 - bits)) - 1u);  // toward zero
    std::memcpy(&x, &u, 4);
    return x;
  }
  // This thread's part of D = A (64 x 32) . B (n x 32)^T (+ D), both K-major E4M3 in shared memory.
  void execute(const WgmmaOp& op) {
    const int t = me_ % 128;
    float a[2][32];
    for (int h = 0; h < 2; ++h)
      for (int k = 0; k < 32; ++k) a[h][k] = e4m3(smem_at(wgmma_kmajor_address(op.desc_a, dsbench::cuda::wgmma_d_row(t, 2 * h), k)));
    for (int i = 0; i < op.n / 2; ++i) {
      const int col = dsbench::cuda::wgmma_d_col(t, i);
      const float* ar = a[(i >> 1) & 1];
      float sum = 0.0f;
      for (int k = 0; k < 32; ++k) sum = std::fma(ar[k], e4m3(smem_at(wgmma_kmajor_address(op.desc_b, col, k))), sum);
      op.d[i] = keep_mantissa(op.accumulate ? op.d[i] + sum : sum, wgmma_fp8_mantissa_bits);
    }
  }
  unsigned char smem_at(uint32_t addr) const {
    if (addr >= smem_.size()) fail("wgmma operand beyond shared memory");
    return smem_[addr];
  }

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
    const Barrier& bar = f.waiting >= kNamedBase    ? named_bar_[f.waiting - kNamedBase]
                         : f.waiting == 0           ? block_bar_
                                                    : warp_bar_.at(static_cast<size_t>(f.waiting - 1));
    return bar.gen != f.wait_gen;
  }
  void wait(Barrier& bar, int count, int warp) {
    Fiber& f = fibers_[me_];
    const uint64_t gen = bar.gen;
    if (++bar.arrived == count) {  // the last to arrive releases the others
      progress();
      bar.arrived = 0;
      ++bar.gen;
      return;
    }
    f.waiting = warp <= -2 ? kNamedBase + (-2 - warp) : warp < 0 ? 0 : 1 + warp;
    f.wait_gen = gen;
    swapcontext(&f.ctx, &sched_);
    f.waiting = -1;
  }
  float* warp_f32(int w) { return shfl_.data() + w * 32; }
  // Fiber stacks, kept across blocks (uninitialised: a new block does not pay for zeroing them).
  static constexpr size_t kStackBytes = 128 * 1024;
  static char* stack(int t) {
    static thread_local std::vector<std::unique_ptr<char[]>> pool;
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
  std::map<uint32_t, Mbar> mbars_;
  static constexpr int kNamedBase = 1000;  // Fiber::waiting of named barrier id: kNamedBase + id
  Barrier named_bar_[16];
  std::vector<WgState> wg_ = std::vector<WgState>(fibers_.size());
  int spins_ = 0;
  int me_ = 0;
  static inline thread_local Block* current_ = nullptr;  // per OS thread: ranks may emulate side by side
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
// One block runs at a time per OS thread, all its fibers on that thread; thread_local so that ranks
// emulated on threads of their own (expert-parallel tests) do not share a block's shared memory.
#define __shared__ static thread_local
#define threadIdx (::emu::thread_idx())
#define blockIdx (::emu::Block::current().block_idx())
#define gridDim (::emu::Block::current().grid_dim())
#define blockDim (::emu::Block::current().block_dim())
#define __syncthreads() (::emu::Block::current().syncthreads())
#define __shfl_xor_sync(mask, v, lane) (::emu::Block::current().shfl_xor((v), (lane)))
#define DSB_EMU_SM90 1  // gemm_fp8_sm90_kernel.cuh: the Hopper wrappers call the models above
#define __grid_constant__
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
