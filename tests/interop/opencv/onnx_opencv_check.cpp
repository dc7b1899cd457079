// Test program (OpenCV is a test-only dependency, built only where CMake finds it): runs an exported
// ONNX file through OpenCV's dnn module on images of an IDX file and compares the logits with the
// ones `cvtrain predict --json` printed for the same images. Exit 0 when every logit agrees within
// the tolerance, 1 otherwise (the largest difference is printed either way).
//   onnx_opencv_check MODEL.onnx IMAGES.idx[.gz] FIRST COUNT PREDICT.json [TOL]
// Second form: every case that tests/interop/tools/export_zoo_onnx wrote (manifest.txt), its input
// batch through OpenCV against cvtrain's logits, within TOL * max(1, max |logit|).
//   onnx_opencv_check --zoo DIR [TOL]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include "cvtrain/data/idx.h"

namespace {

std::vector<float> read_f32(const std::string& path, size_t n) {
  std::vector<float> v(n);
  std::ifstream in(path, std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float))))
    throw std::runtime_error(path + ": short file");
  return v;
}

int check_zoo(const std::string& dir, double tol) {
  std::ifstream manifest(dir + "/manifest.txt");
  std::string name;
  int n, c, h, w, k, failures = 0, cases = 0;
  while (manifest >> name >> n >> c >> h >> w >> k) {
    ++cases;
    try {
      const std::vector<float> x = read_f32(dir + "/" + name + ".input.f32", static_cast<size_t>(n) * c * h * w);
      const std::vector<float> ref = read_f32(dir + "/" + name + ".logits.f32", static_cast<size_t>(n) * k);
      int dims[4] = {n, c, h, w};
      cv::Mat blob(4, dims, CV_32F, const_cast<float*>(x.data()));
      cv::dnn::Net net = cv::dnn::readNetFromONNX(dir + "/" + name + ".onnx");
      net.setInput(blob);
      cv::Mat out = net.forward();
      if (out.total() != ref.size()) throw std::runtime_error("OpenCV gave " + std::to_string(out.total()) + " logits");
      double worst = 0, scale = 1;
      for (size_t i = 0; i < ref.size(); ++i) {
        worst = std::max(worst, std::fabs(static_cast<double>(out.ptr<float>()[i]) - ref[i]));
        scale = std::max(scale, std::fabs(static_cast<double>(ref[i])));
      }
      const bool ok = worst <= tol * scale;
      failures += !ok;
      std::printf("%s %-32s max |difference| %.3g (max |logit| %.3g)\n", ok ? "ok  " : "FAIL", name.c_str(), worst, scale);
    } catch (const std::exception& e) {
      ++failures;
      std::printf("FAIL %-32s %s\n", name.c_str(), e.what());
    }
  }
  std::printf("%d of %d ONNX files agree with cvtrain through OpenCV %s\n", cases - failures, cases, CV_VERSION);
  return failures == 0 && cases > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "--zoo") return check_zoo(argv[2], argc > 3 ? std::atof(argv[3]) : 1e-4);
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s MODEL.onnx IMAGES.idx FIRST COUNT PREDICT.json [TOL]\n", argv[0]);
    return 2;
  }
  const long first = std::atol(argv[3]), count = std::atol(argv[4]);
  const double tol = argc > 6 ? std::atof(argv[6]) : 1e-4;
  try {
    cvtrain::Tensor images = cvtrain::read_idx(argv[2]);  // (N,H,W) u8
    const int H = static_cast<int>(images.size(1)), W = static_cast<int>(images.size(2));
    // input: (count,1,H,W) f32 pixels v/255, what the exported graph takes
    int dims[4] = {static_cast<int>(count), 1, H, W};
    cv::Mat blob(4, dims, CV_32F);
    const uint8_t* src = images.data<uint8_t>() + first * H * W;
    for (long i = 0; i < count * H * W; ++i) blob.ptr<float>()[i] = src[i] / 255.0f;

    cv::dnn::Net net = cv::dnn::readNetFromONNX(argv[1]);
    net.setInput(blob);
    cv::Mat out = net.forward();  // (count, K)

    nlohmann::json pred;
    std::ifstream(argv[5]) >> pred;
    const auto& rows = pred.at("predictions");
    if (static_cast<long>(rows.size()) != count || out.rows != count) {
      std::fprintf(stderr, "FAIL: %zu predictions, %d OpenCV rows, %ld images\n", rows.size(), out.rows, count);
      return 1;
    }
    double worst = 0;
    for (long i = 0; i < count; ++i) {
      const auto& z = rows[static_cast<size_t>(i)].at("logits");
      if (static_cast<int>(z.size()) != out.cols) {
        std::fprintf(stderr, "FAIL: %zu logits from cvtrain, %d from OpenCV\n", z.size(), out.cols);
        return 1;
      }
      for (int k = 0; k < out.cols; ++k)
        worst = std::max(worst, std::fabs(static_cast<double>(out.at<float>(static_cast<int>(i), k)) - z[k].get<double>()));
    }
    std::printf("%s: max |logit difference| over %ld images x %d classes: %.3g (tolerance %.1g)\n", argv[1], count,
                out.cols, worst, tol);
    return worst <= tol ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FAIL: %s\n", e.what());
    return 1;
  }
}
