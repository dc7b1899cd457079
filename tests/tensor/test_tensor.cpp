// Tensor views and copies: view/reshape/permute/slice/expand share storage, contiguous/clone copy,
// copy_ between strided views, dtype conversion (bf16 rounds to nearest even), and the errors.
#include <cmath>
#include <cstring>
#include <limits>

#include "common/testing.h"
#include "cvtrain/tensor/tensor.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {
Tensor iota(const Shape& s) {
  std::vector<float> v(shape_numel(s));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return Tensor::from_vector(v, s);
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace

TEST(Tensor, EmptyZerosFullFromVector) {
  Tensor e = Tensor::empty({2, 3});
  EXPECT_EQ(e.shape(), (Shape{2, 3}));
  EXPECT_EQ(e.strides(), (Shape{3, 1}));
  EXPECT_EQ(e.numel(), 6);
  EXPECT_TRUE(e.is_contiguous());
  EXPECT_EQ(Tensor::zeros({2, 2}).to_vector(), std::vector<float>(4, 0.0f));
  EXPECT_EQ(Tensor::full({3}, 2.5f).to_vector(), std::vector<float>(3, 2.5f));
  EXPECT_EQ(Tensor::empty({}).numel(), 1);  // 0-d holds one element
  EXPECT_EQ(Tensor::empty({0, 5}).numel(), 0);
  EXPECT_EQ(iota({2, 3}).describe(), "f32(2,3)");
  EXPECT_EQ(Tensor().describe(), "undefined");
  EXPECT_EQ(iota({2, 3}).size(-1), 3);
  EXPECT_EQ(Tensor::full({1}, 4.0f).item(), 4.0f);
}

TEST(Tensor, ConstructionErrors) {
  EXPECT_THROW(Tensor::empty({2, -1}), Error);
  EXPECT_THROW(Tensor::from_vector({1, 2, 3}, {2, 2}), Error);
  EXPECT_THROW(iota({2, 3}).size(2), Error);
  EXPECT_THROW(iota({2}).item(), Error);
  EXPECT_THROW(iota({2}).data<int32_t>(), Error);
  EXPECT_THROW(Tensor().data<float>(), Error);
  EXPECT_THROW(Tensor::zeros({2}, DType::bf16).fill_(1.0f), Error);
  auto storage = Storage::allocate(16);
  EXPECT_EQ(Tensor::view_of(storage, {2}, 2).offset(), 2);
  EXPECT_THROW(Tensor::view_of(storage, {2}, 3), Error);  // 5 floats in 16 bytes
}

TEST(Tensor, ViewSharesStorageAndInfersOneDim) {
  Tensor t = iota({2, 3, 4});
  Tensor v = t.view({6, -1});
  EXPECT_EQ(v.shape(), (Shape{6, 4}));
  EXPECT_EQ(v.storage(), t.storage());
  v.data<float>()[5] = -1.0f;
  EXPECT_EQ(t.data<float>()[5], -1.0f);
  EXPECT_EQ(t.view({-1}).shape(), (Shape{24}));
  EXPECT_THROW(t.view({5, -1}), Error);   // 24 is not a multiple of 5
  EXPECT_THROW(t.view({-1, -1}), Error);  // two unknowns
  EXPECT_THROW(t.view({2, 3}), Error);    // wrong size
  EXPECT_THROW(t.permute({1, 0, 2}).view({24}), Error);  // not packed: view refuses, reshape copies
}

TEST(Tensor, ReshapeIsAViewWhenPackedElseACopy) {
  Tensor t = iota({2, 3});
  EXPECT_EQ(t.reshape({3, 2}).storage(), t.storage());
  Tensor p = t.permute({1, 0});
  Tensor r = p.reshape({6});
  EXPECT_NE(r.storage(), t.storage());
  EXPECT_EQ(r.to_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_THROW(t.reshape({4}), Error);
}

TEST(Tensor, PermuteSwapsStrides) {
  Tensor t = iota({2, 3, 4});
  Tensor p = t.permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.strides(), (Shape{1, 12, 4}));
  EXPECT_EQ(p.storage(), t.storage());
  EXPECT_FALSE(p.is_contiguous());
  const std::vector<float> v = p.to_vector();
  EXPECT_EQ(v[0 * 6 + 1 * 3 + 2], 1 * 12 + 2 * 4 + 0);  // p[0,1,2] = t[1,2,0]
  EXPECT_EQ(t.permute({-1, 0, 1}).shape(), (Shape{4, 2, 3}));
  EXPECT_THROW(t.permute({0, 1}), Error);
  EXPECT_THROW(t.permute({0, 1, 1}), Error);
  EXPECT_THROW(t.permute({0, 1, 3}), Error);
}

TEST(Tensor, SliceWithStepsNegativeBoundsAndClamping) {
  Tensor t = iota({3, 5});
  Tensor s = t.slice(1, 1, 5, 2);
  EXPECT_EQ(s.shape(), (Shape{3, 2}));
  EXPECT_EQ(s.strides(), (Shape{5, 2}));
  EXPECT_EQ(s.offset(), 1);
  EXPECT_EQ(s.storage(), t.storage());
  EXPECT_EQ(s.to_vector(), (std::vector<float>{1, 3, 6, 8, 11, 13}));
  EXPECT_EQ(t.slice(0, -1, 3).to_vector(), (std::vector<float>{10, 11, 12, 13, 14}));
  EXPECT_EQ(t.slice(1, 3, 100).shape(), (Shape{3, 2}));
  EXPECT_EQ(t.slice(1, 4, 2).numel(), 0);  // end before start: empty
  EXPECT_EQ(t.slice(-1, 0, 5, 3).to_vector(), (std::vector<float>{0, 3, 5, 8, 10, 13}));
  EXPECT_THROW(t.slice(2, 0, 1), Error);
  EXPECT_THROW(t.slice(0, 0, 1, 0), Error);
  // a slice of a slice
  EXPECT_EQ(s.slice(0, 1, 3).slice(1, 1, 2).to_vector(), (std::vector<float>{8, 13}));
}

TEST(Tensor, ExpandBroadcastsWithStrideZero) {
  Tensor t = iota({3, 1});
  Tensor e = t.expand({2, 3, 4});
  EXPECT_EQ(e.strides(), (Shape{0, 1, 0}));
  EXPECT_EQ(e.storage(), t.storage());
  EXPECT_FALSE(e.is_contiguous());
  const std::vector<float> v = e.to_vector();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(v[(i * 3 + j) * 4 + k], j);
  EXPECT_THROW(t.expand({3, 2, 2}), Error);  // 3 cannot become 2
  EXPECT_THROW(t.expand({3}), Error);        // fewer dims
}

TEST(Tensor, ContiguousAndClone) {
  Tensor t = iota({2, 3});
  EXPECT_EQ(t.contiguous().storage(), t.storage());  // already packed: the same tensor
  Tensor c = t.clone();
  EXPECT_NE(c.storage(), t.storage());
  EXPECT_EQ(c.to_vector(), t.to_vector());
  Tensor p = t.permute({1, 0}).contiguous();
  EXPECT_TRUE(p.is_contiguous());
  EXPECT_NE(p.storage(), t.storage());
  EXPECT_EQ(p.to_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor sc = t.slice(1, 0, 3, 2).clone();  // a strided slice packs
  EXPECT_EQ(sc.strides(), (Shape{2, 1}));
  EXPECT_EQ(sc.to_vector(), (std::vector<float>{0, 2, 3, 5}));
  EXPECT_TRUE(iota({1, 4}).permute({1, 0}).is_contiguous());  // size-1 dims do not count
}

TEST(Tensor, CopyBetweenStridedViews) {
  Tensor dst = Tensor::zeros({4, 6});
  Tensor src = iota({3, 4}).permute({1, 0});  // (4,3), strided
  dst.slice(1, 0, 6, 2).copy_(src);           // into every other column
  const std::vector<float> v = dst.to_vector();
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 6; ++j) EXPECT_EQ(v[i * 6 + j], j % 2 ? 0.0f : static_cast<float>((j / 2) * 4 + i));
  // overlapping source and destination in one storage: reads see the values before the copy
  Tensor t = iota({4, 2});
  t.slice(0, 1, 4).copy_(t.slice(0, 0, 3));
  EXPECT_EQ(t.to_vector(), (std::vector<float>{0, 1, 0, 1, 2, 3, 4, 5}));
  Tensor u = iota({3, 3});
  u.copy_(u.permute({1, 0}));  // in-place transpose through a gather
  EXPECT_EQ(u.to_vector(), (std::vector<float>{0, 3, 6, 1, 4, 7, 2, 5, 8}));
  EXPECT_THROW(dst.copy_(iota({4, 5})), Error);
  EXPECT_THROW(dst.copy_(Tensor::zeros({4, 6}, DType::bf16)), Error);
}

TEST(Tensor, FillStridedView) {
  Tensor t = Tensor::zeros({3, 3});
  t.permute({1, 0}).slice(0, 1, 2).fill_(7.0f);  // column 1
  EXPECT_EQ(t.to_vector(), (std::vector<float>{0, 7, 0, 0, 7, 0, 0, 7, 0}));
}

TEST(Tensor, Bf16RoundsToNearestEven) {
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    float in, out;
  };
  const Case cases[] = {
      {1.0f, 1.0f},
      {from_bits(0x3F808000u), 1.0f},                     // 1 + 2^-8: a tie, down to the even 1.0
      {from_bits(0x3F818000u), from_bits(0x3F820000u)},   // 1 + 3*2^-8: a tie, up to the even neighbour
      {from_bits(0x3F808001u), from_bits(0x3F810000u)},   // just above the tie: up
      {from_bits(0x3F807FFFu), 1.0f},                     // just below: down
      {from_bits(0xBF808000u), -1.0f},                    // negative tie
      {from_bits(0x7F7FFFFFu), inf},                      // the largest float rounds past the largest bf16
      {from_bits(0x7F7F7FFFu), from_bits(0x7F7F0000u)},   // the largest bf16 stays
      {-inf, -inf},
      {0.0f, 0.0f},
      {1.5f, 1.5f},
  };
  std::vector<float> in;
  for (const Case& c : cases) in.push_back(c.in);
  const std::vector<float> out = Tensor::from_vector(in, {static_cast<int64_t>(in.size())}).to(DType::bf16).to_vector();
  for (size_t i = 0; i < in.size(); ++i) EXPECT_EQ(out[i], cases[i].out) << "case " << i;
  // NaN stays NaN
  Tensor n = Tensor::full({1}, std::numeric_limits<float>::quiet_NaN()).to(DType::bf16);
  EXPECT_TRUE(std::isnan(n.to_vector()[0]));
}

TEST(Tensor, Bf16RoundTrip) {
  Tensor t = random_tensor({5, 7}, 3, -10, 10);
  Tensor b = t.to(DType::bf16);
  EXPECT_EQ(b.dtype(), DType::bf16);
  EXPECT_EQ(b.shape(), t.shape());
  Tensor back = b.to(DType::f32);
  EXPECT_TRUE(all_close(back, t, 0, 1.0f / 256));  // 8 significant bits
  EXPECT_EQ(back.to(DType::bf16).to(DType::f32).to_vector(), back.to_vector());  // bf16 values are exact
  // a strided view converts in logical order
  EXPECT_EQ(t.permute({1, 0}).to(DType::bf16).to_vector(), b.permute({1, 0}).to_vector());
}

TEST(Tensor, IntegerConversions) {
  Tensor t = Tensor::from_vector({0, 1.9f, -3, 200}, {4});
  Tensor i = t.to(DType::i32);
  EXPECT_EQ(std::vector<int32_t>(i.data<int32_t>(), i.data<int32_t>() + 4), (std::vector<int32_t>{0, 1, -3, 200}));
  EXPECT_EQ(i.to(DType::f32).to_vector(), (std::vector<float>{0, 1, -3, 200}));
  // i64 -> i32 stays exact beyond float's 24-bit mantissa
  Tensor l = Tensor::empty({2}, DType::i64);
  l.data<int64_t>()[0] = 16777217;
  l.data<int64_t>()[1] = -16777219;
  Tensor l32 = l.to(DType::i32);
  EXPECT_EQ(l32.data<int32_t>()[0], 16777217);
  EXPECT_EQ(l32.data<int32_t>()[1], -16777219);
  Tensor c = t.to(DType::f32);  // same dtype: a copy
  EXPECT_NE(c.storage(), t.storage());
}
