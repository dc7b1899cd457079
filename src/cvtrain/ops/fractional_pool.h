// Fractional max pooling (Graham 2014, "Fractional Max-Pooling", arXiv:1412.6071): pooling by a ratio
// alpha in (1, 2), the regions given by a sequence 0 = a_0 < a_1 < ... < a_out with increments 1 or 2,
// drawn at random. Here the region sequences (random or pseudo-random, disjoint or overlapping) and
// the op; not PyTorch's F.fractional_max_pool2d, whose sampling (one u per plane) differs.
#pragma once
#include "cvtrain/autograd/variable.h"

namespace cvtrain::ops {

enum class FmpSequence { random, pseudo_random };
const std::vector<std::string>& fmp_sequence_names();  // in the enum's order
FmpSequence fmp_sequence_from_name(const std::string& name);  // InputError naming model.fmp_sequence
const char* fmp_sequence_name(FmpSequence s);

// The output size for `in` rows: floor(in / ratio), raised where needed to the least size a sequence
// with increments of at most 2 reaches (ceil(total/2), total = in for disjoint regions, in - 1 for
// overlapping ones). CHECKs ratio in (1, 2) and in >= 2.
int64_t fmp_output_size(int64_t in, double ratio, bool overlapping);

// Writes the region starts a[0..out] for `in` rows (Graham 2014, section 2): a_0 = 0, a_out = total,
// every increment 1 or 2 (total - out of them 2). Regions are [a_i, a_{i+1}) (disjoint: they tile the
// rows) or [a_i, a_{i+1}] (overlapping: sizes 2 or 3, neighbours share a row).
//   random: the positions of the 2s are a uniformly random subset (a partial Fisher-Yates shuffle);
//   pseudo_random: a_i = ceil(alpha (i + u)) - ceil(alpha u), alpha = total/out, one u in [0, 1).
// The uniforms are philox_uniform(key, stream, counter + j), j < in: a pure function of its arguments.
void fmp_sequence(int32_t* a, int64_t in, int64_t out, bool overlapping, FmpSequence kind, uint64_t key,
                  uint64_t stream, uint64_t counter);

// x: (N,C,H,W) -> (N,C,OH,OW); rows: (N,OH+1), cols: (N,OW+1) i32 region starts from fmp_sequence.
Variable fractional_max_pool2d(Context& ctx, const Variable& x, const Tensor& rows, const Tensor& cols,
                               bool overlapping);

}  // namespace cvtrain::ops
