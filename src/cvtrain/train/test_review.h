// A trained model looked at on its test set, for people: the confusion matrix (true class against
// predicted class) and the test images it got wrong with the most confidence, with their pixels.
// Evaluation only, in eval mode and without a graph; the report (report.h) draws what this counts.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cvtrain/autograd/context.h"
#include "cvtrain/data/dataset.h"
#include "cvtrain/data/image_io.h"
#include "cvtrain/data/preprocess.h"
#include "cvtrain/nn/module.h"

namespace cvtrain {

struct Mistake {
  int64_t index = 0;                 // in the test set
  int64_t truth = 0, predicted = 0;  // classes
  double confidence = 0;             // softmax probability of `predicted`
  U8Image image;                     // the test image as stored (before normalization)
};

struct TestReview {
  int64_t images = 0, correct = 0;
  std::vector<std::string> class_names;  // K names ("class_k" where the dataset has fewer)
  std::vector<int64_t> confusion;        // (K,K) row-major: [true class][predicted class]
  std::vector<Mistake> mistakes;         // the most confident first, at most max_mistakes
  double accuracy() const { return images ? static_cast<double>(correct) / static_cast<double>(images) : 0.0; }
};

// Runs `model` over `test` (per-channel `norm`, or the fitted `preprocess` when not null) in
// batches of batch_size. K is the model's output width.
TestReview review_test_set(Context& ctx, nn::Module& model, const Dataset& test, const Normalization& norm,
                           int64_t batch_size, const Preprocess* preprocess = nullptr, int64_t max_mistakes = 24);

}  // namespace cvtrain
