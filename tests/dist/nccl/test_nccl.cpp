// The NCCL communicator on one GPU (test_nccl, built only with CVTRAIN_CUDA=ON and NCCL; skips
// without a GPU): the unique id through the host communicator, ncclCommInitRank, and the mean on
// device memory ordered on the runtime's stream. One rank: NCCL refuses two ranks on one GPU, so
// the 2-rank path needs a machine with two (docs/distributed.md).
#include <cstring>

#include "common/testing.h"
#include "cvtrain/backend/cuda/runtime.h"
#include "cvtrain/dist/nccl/nccl_communicator.h"

using namespace cvtrain;
using namespace cvtrain::testing;

TEST(Nccl, OneRankMeanOnTheDeviceIsTheValuesThemselves) {
  if (cuda::Runtime::device_count() == 0) GTEST_SKIP() << "no GPU";
  auto rt = cuda::Runtime::create();
  auto comm = dist::make_nccl_communicator(std::make_unique<dist::LocalCommunicator>(), 0);
  EXPECT_TRUE(comm->has_device_allreduce());
  EXPECT_NE(comm->describe().find("nccl"), std::string::npos) << comm->describe();
  EXPECT_EQ(comm->size(), 1);
  const int64_t n = 3 << 20;  // 12 MiB
  Tensor x = random_tensor({n}, 1);
  Tensor d = x.to_cuda(rt);
  comm->allreduce_mean_device(d.data<float>(), n, *rt, "the test");
  Tensor back = d.to_cpu();  // waits for the stream
  EXPECT_EQ(0, std::memcmp(back.data<float>(), x.data<float>(), n * sizeof(float)));
  std::printf("%s\n", comm->describe().c_str());
}
