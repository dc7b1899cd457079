// train.sync_bn's seam: batch norm run on two halves of a batch, in two threads that stand for two
// ranks and sum their statistics through a fake BatchNormSync, gives the full batch's outputs,
// statistics, running statistics and dx; the halves' dweight and dbias add up to the full batch's.
// Checked on the split kernels (backend/cpu/batchnorm.h) and through ops::batch_norm + Context.
#include <barrier>
#include <thread>

#include "common/testing.h"
#include "cvtrain/backend/cpu/batchnorm.h"
#include "cvtrain/backend/ref/batchnorm.h"
#include "cvtrain/ops/norm.h"

using namespace cvtrain;
using namespace cvtrain::testing;

namespace {

// Two "ranks" (threads): each call sums both ranks' arrays, in rank order (as an all-reduce would).
class TwoRankSum {
 public:
  class Rank final : public BatchNormSync {
   public:
    Rank(TwoRankSum& s, int r) : s_(s), r_(r) {}
    void allreduce_sums(double* data, int64_t n) override {
      ++calls;
      s_.slot_[r_].assign(data, data + n);
      s_.barrier_.arrive_and_wait();
      for (int64_t i = 0; i < n; ++i) data[i] = s_.slot_[0][static_cast<size_t>(i)] + s_.slot_[1][static_cast<size_t>(i)];
      s_.barrier_.arrive_and_wait();  // both have read before the next call overwrites
    }
    int calls = 0;

   private:
    TwoRankSum& s_;
    int r_;
  };
  Rank rank0{*this, 0}, rank1{*this, 1};

 private:
  std::barrier<> barrier_{2};
  std::vector<double> slot_[2];
};

std::vector<float> values(const Tensor& t) {
  Tensor c = t.contiguous();
  return {c.data<float>(), c.data<float>() + c.numel()};
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, float tol, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  float worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  EXPECT_LT(worst, tol) << what;
}

}  // namespace

TEST(SyncBatchNorm, SplitKernelsOnTwoHalvesGiveTheFullBatch) {
  const int64_t N = 8, C = 3, HW = 20, half = N / 2 * C * HW;
  Tensor x = random_tensor({N, C, HW}, 1, -2.0f, 5.0f);  // mean far from 0: the shifted sums matter
  Tensor dy = random_tensor({N, C, HW}, 2);
  Tensor w = random_tensor({C}, 3, 0.5f, 1.5f), b = random_tensor({C}, 4);
  const float* px = x.data<float>();
  const float* pdy = dy.data<float>();

  // the full batch, fused kernels, no sync
  std::vector<float> y(N * C * HW), mean(C), invstd(C), rm(C, 0.5f), rv(C, 2.0f), dx(N * C * HW), dw(C), db(C);
  cpu::batch_norm_forward_train(px, w.data<float>(), b.data<float>(), y.data(), mean.data(), invstd.data(), rm.data(),
                                rv.data(), 0.1f, 1e-5f, N, C, HW);
  cpu::batch_norm_backward(px, pdy, w.data<float>(), mean.data(), invstd.data(), true, dx.data(), dw.data(), db.data(),
                           N, C, HW);

  // two halves, each rank with its own outputs pre-filled with garbage
  struct Out {
    std::vector<float> y, mean, invstd, rm, rv, dx, dw, db;
  } out[2];
  TwoRankSum sum;
  auto run = [&](int r, BatchNormSync* sync) {
    Out& o = out[r];
    o.y.assign(half, kNaN), o.dx.assign(half, kNaN), o.mean.assign(C, kNaN), o.invstd.assign(C, kNaN);
    o.rm.assign(C, 0.5f), o.rv.assign(C, 2.0f), o.dw.assign(C, kNaN), o.db.assign(C, kNaN);
    cpu::batch_norm_forward_train(px + r * half, w.data<float>(), b.data<float>(), o.y.data(), o.mean.data(),
                                  o.invstd.data(), o.rm.data(), o.rv.data(), 0.1f, 1e-5f, N / 2, C, HW, sync);
    cpu::batch_norm_backward(px + r * half, pdy + r * half, w.data<float>(), o.mean.data(), o.invstd.data(), true,
                             o.dx.data(), o.dw.data(), o.db.data(), N / 2, C, HW, sync);
  };
  std::thread t0(run, 0, &sum.rank0), t1(run, 1, &sum.rank1);
  t0.join(), t1.join();
  EXPECT_EQ(sum.rank0.calls, 2);  // one forward, one backward
  for (int r = 0; r < 2; ++r) {
    expect_close(out[r].y, std::vector<float>(y.begin() + r * half, y.begin() + (r + 1) * half), 2e-5f, "y");
    expect_close(out[r].dx, std::vector<float>(dx.begin() + r * half, dx.begin() + (r + 1) * half), 2e-5f, "dx");
    expect_close(out[r].mean, mean, 1e-5f, "mean");
    expect_close(out[r].invstd, invstd, 1e-5f, "invstd");
    expect_close(out[r].rm, rm, 1e-6f, "running_mean");
    expect_close(out[r].rv, rv, 1e-5f, "running_var");  // with the global M's unbiasing
  }
  std::vector<float> dw_sum(C), db_sum(C);
  for (int64_t c = 0; c < C; ++c) dw_sum[c] = out[0].dw[c] + out[1].dw[c], db_sum[c] = out[0].db[c] + out[1].db[c];
  expect_close(dw_sum, dw, 1e-4f, "dweight halves add up");
  expect_close(db_sum, db, 1e-4f, "dbias halves add up");

  // and the test can fail: without the sync, each half normalizes with its own statistics
  run(0, nullptr);
  float worst = 0;
  for (int64_t i = 0; i < half; ++i) worst = std::max(worst, std::abs(out[0].y[i] - y[i]));
  EXPECT_GT(worst, 1e-2f);
}

TEST(SyncBatchNorm, OpThroughContextMatchesTheFullBatch) {
  const int64_t N = 6, C = 4, H = 3, W = 5;
  Tensor x = random_tensor({N, C, H, W}, 11, -1.0f, 3.0f), dy = random_tensor({N, C, H, W}, 12);
  Tensor w0 = random_tensor({C}, 13, 0.5f, 1.5f), b0 = random_tensor({C}, 14);
  ops::BatchNormOptions opt;

  auto forward_backward = [&](const Tensor& xs, const Tensor& dys, BatchNormSync* sync, std::vector<float>* res) {
    Context ctx(0, 1);
    ctx.batchnorm_sync = sync;
    Variable xv(xs.clone(), true), wv(w0.clone(), true), bv(b0.clone(), true);
    Tensor rm = Tensor::zeros({C}), rv = Tensor::full({C}, 1.0f);
    Variable y = ops::batch_norm(ctx, xv, wv, bv, rm, rv, opt);
    y.backward(dys);
    res[0] = values(y.data()), res[1] = values(xv.grad()), res[2] = values(wv.grad()), res[3] = values(bv.grad());
    res[4] = values(rm), res[5] = values(rv);
  };
  std::vector<float> full[6], part[2][6];
  forward_backward(x, dy, nullptr, full);
  TwoRankSum sum;
  auto half = [&](const Tensor& t, int r) { return t.slice(0, r * N / 2, (r + 1) * N / 2).contiguous(); };
  std::thread t0([&] { forward_backward(half(x, 0), half(dy, 0), &sum.rank0, part[0]); });
  std::thread t1([&] { forward_backward(half(x, 1), half(dy, 1), &sum.rank1, part[1]); });
  t0.join(), t1.join();
  const size_t h = full[0].size() / 2;
  for (int r = 0; r < 2; ++r) {
    expect_close(part[r][0], std::vector<float>(full[0].begin() + r * h, full[0].begin() + (r + 1) * h), 2e-5f, "y");
    expect_close(part[r][1], std::vector<float>(full[1].begin() + r * h, full[1].begin() + (r + 1) * h), 2e-5f, "dx");
    expect_close(part[r][4], full[4], 1e-6f, "running_mean");
    expect_close(part[r][5], full[5], 1e-5f, "running_var");
  }
  for (int k : {2, 3}) {
    std::vector<float> s(C);
    for (int64_t c = 0; c < C; ++c) s[c] = part[0][k][c] + part[1][k][c];
    expect_close(s, full[k], 1e-4f, k == 2 ? "dweight" : "dbias");
  }
}

// One process through the split path (a sync that leaves the sums as they are) is as accurate as
// the fused kernels: both against the double-precision reference, on a conv-sized input whose
// mean is far from 0.
TEST(SyncBatchNorm, SplitPathAsAccurateAsFused) {
  struct Identity final : BatchNormSync {
    void allreduce_sums(double*, int64_t) override {}
  } identity;
  const int64_t N = 32, C = 8, HW = 196, n = N * C * HW;
  Tensor x = random_tensor({N, C, HW}, 21, 3.0f, 5.0f), dy = random_tensor({N, C, HW}, 22);
  Tensor w = random_tensor({C}, 23, 0.5f, 1.5f), b = random_tensor({C}, 24);
  std::vector<double> xd(x.data<float>(), x.data<float>() + n), dyd(dy.data<float>(), dy.data<float>() + n),
      wd(w.data<float>(), w.data<float>() + C), bd(b.data<float>(), b.data<float>() + C);
  std::vector<double> yr(n), mr(C), isr(C), dxr(n), dwr(C), dbr(C);
  ref::batch_norm_forward_train<double>(xd.data(), wd.data(), bd.data(), yr.data(), mr.data(), isr.data(), nullptr,
                                        nullptr, 0.1, 1e-5, N, C, HW);
  ref::batch_norm_backward<double>(xd.data(), dyd.data(), wd.data(), mr.data(), isr.data(), true, dxr.data(),
                                   dwr.data(), dbr.data(), N, C, HW);
  double err[2][3] = {};  // fused, split: y, dx, dweight
  for (int split = 0; split < 2; ++split) {
    std::vector<float> y(n, kNaN), m(C), is(C), dx(n, kNaN), dw(C), db(C);
    BatchNormSync* sync = split ? &identity : nullptr;
    cpu::batch_norm_forward_train(x.data<float>(), w.data<float>(), b.data<float>(), y.data(), m.data(), is.data(),
                                  nullptr, nullptr, 0.1f, 1e-5f, N, C, HW, sync);
    cpu::batch_norm_backward(x.data<float>(), dy.data<float>(), w.data<float>(), m.data(), is.data(), true, dx.data(),
                             dw.data(), db.data(), N, C, HW, sync);
    for (int64_t i = 0; i < n; ++i) {
      err[split][0] = std::max(err[split][0], std::abs(y[i] - yr[i]));
      err[split][1] = std::max(err[split][1], std::abs(dx[i] - dxr[i]));
    }
    for (int64_t c = 0; c < C; ++c) err[split][2] = std::max(err[split][2], std::abs(dw[c] - dwr[c]) / std::abs(dwr[c]));
  }
  for (int k = 0; k < 3; ++k) EXPECT_LE(err[1][k], 2 * err[0][k] + 1e-6) << "quantity " << k;
  EXPECT_LT(err[1][0], 1e-4);
  EXPECT_LT(err[1][1], 1e-4);
  std::printf("max error vs double: fused y %.2g dx %.2g dw(rel) %.2g; split y %.2g dx %.2g dw(rel) %.2g\n", err[0][0],
              err[0][1], err[0][2], err[1][0], err[1][1], err[1][2]);
}
