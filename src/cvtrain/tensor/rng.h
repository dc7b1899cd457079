// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011). A value is a pure function of
// (seed, counter), so a parallel kernel that draws element i from counter base+i gives the same
// numbers whatever the thread count. Rng hands out fresh counter ranges; it lives in the Context.
#pragma once
#include <cstdint>

#include "cvtrain/base/philox.h"

namespace cvtrain {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : seed_(seed) {}

  uint64_t seed() const { return seed_; }
  // A fresh stream id for a kernel that draws many values by index (dropout masks, shuffles).
  uint64_t next_stream() { return ++stream_; }
  // Sequential draws, for the few host-side decisions (a crop offset, an init value).
  uint32_t next_u32();
  uint64_t next_u64() { return (static_cast<uint64_t>(next_u32()) << 32) | next_u32(); }
  float uniform() { return philox_to_unit(next_u32()); }  // [0,1)
  float normal();                                                                        // N(0,1)
  uint64_t below(uint64_t n);  // uniform integer in [0, n), unbiased

  // The whole state, so a checkpoint can resume the same sequence.
  struct State {
    uint64_t seed, stream, seq;
  };
  State state() const { return {seed_, stream_, seq_}; }
  void set_state(const State& s) { seed_ = s.seed, stream_ = s.stream, seq_ = s.seq; }

 private:
  uint64_t seed_;
  uint64_t stream_ = 0;  // last stream handed out; stream 0 is the sequential one
  uint64_t seq_ = 0;     // index into stream 0
};

}  // namespace cvtrain
