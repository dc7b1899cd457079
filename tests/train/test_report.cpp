// The report's parts: the SVG line chart (legend above the plot, markers, breaks at missing points,
// escaping), the test-set review (confusion counts every image, mistakes sorted by confidence with
// their pixels), and the page (sections, the split's name in both metrics shapes, no scripts).
#include <algorithm>
#include <cmath>
#include <regex>

#include <gtest/gtest.h>

#include "cvtrain/nn/zoo.h"
#include "cvtrain/train/report.h"
#include "cvtrain/viz/svg.h"

using namespace cvtrain;

namespace {

int64_t count(const std::string& text, const std::string& what) {
  int64_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

TEST(SvgChart, LegendSitsAboveThePlotArea) {
  std::vector<viz::Series> s = {{"train", {1, 2, 3}, {3, 2, 1}}, {"validation", {1, 2, 3}, {3, 2.5, 2}}};
  const std::string svg = viz::line_chart_svg("loss", "epoch", "loss", s);
  std::smatch frame, label;
  ASSERT_TRUE(std::regex_search(svg, frame, std::regex(R"re(<rect x="[0-9.]+" y="([0-9.]+)" width="[0-9.]+" height="[0-9.]+" fill="none")re")));
  ASSERT_TRUE(std::regex_search(svg, label, std::regex(R"re(<text x="[0-9.]+" y="([0-9.]+)">validation</text>)re")));
  EXPECT_LT(std::stod(label[1]), std::stod(frame[1]));  // the legend's text is above the frame's top
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_EQ(count(svg, "</svg>"), 1);
}

TEST(SvgChart, MarkersOnEveryPointOrEveryKth) {
  viz::Series few{"a", {}, {}}, many{"b", {}, {}};
  for (int i = 0; i < 10; ++i) few.x.push_back(i), few.y.push_back(i);
  for (int i = 0; i < 100; ++i) many.x.push_back(i), many.y.push_back(i);
  // series 0 draws circles: one per point and one in the legend
  EXPECT_EQ(count(viz::line_chart_svg("t", "x", "y", {few}), "<circle"), 10 + 1);
  // 100 points: every ceil(100 / kMarkerTarget) = 3rd one, 34 markers
  EXPECT_EQ(count(viz::line_chart_svg("t", "x", "y", {many}), "<circle"), 34 + 1);
  // each marker says what it is
  EXPECT_NE(viz::line_chart_svg("t", "x", "y", {few}).find("<title>a: 3, 3</title>"), std::string::npos);
}

TEST(SvgChart, MissingPointsBreakTheLineAndLogSkipsNonPositive) {
  viz::Series s{"a", {1, 2, 3, 4, 5}, {1, 2, NAN, 4, 5}};
  EXPECT_EQ(count(viz::line_chart_svg("t", "x", "y", {s}), "<polyline"), 2);
  viz::Series l{"a", {1, 2, 3}, {0.1, 0, 1000}};
  const std::string svg = viz::line_chart_svg("t", "x", "y", {l}, /*log_y=*/true);
  EXPECT_EQ(count(svg, "<circle"), 2 + 1);
  EXPECT_NE(svg.find(">1000<"), std::string::npos);  // a decade tick
}

TEST(SvgChart, WholeNumberAxesGetWholeTicks) {
  EXPECT_EQ(viz::whole_ticks(1, 2, 6), (std::vector<double>{1, 2}));
  EXPECT_EQ(viz::whole_ticks(1, 12, 6), (std::vector<double>{2, 4, 6, 8, 10, 12}));
  const std::string svg = viz::line_chart_svg("t", "epoch", "y", {{"a", {1, 2}, {0.5, 0.7}}});
  EXPECT_EQ(svg.find(">1.2<"), std::string::npos);
  EXPECT_FALSE(viz::whole_x({{"a", {1, 1.5}, {0, 0}}}));
}

TEST(SvgChart, EscapesText) {
  EXPECT_EQ(viz::xml_escape("a<b & \"c\" 'd'>\x01"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
  const std::string svg = viz::line_chart_svg("<script>", "x", "y", {{"a&b", {1, 2}, {1, 2}}});
  EXPECT_EQ(svg.find("<script>"), std::string::npos);
  EXPECT_NE(svg.find("a&amp;b"), std::string::npos);
}

TEST(TestReview, CountsEveryImageAndSortsMistakes) {
  Rng rng(3);
  nn::ModelSpec spec{"mlp"};
  spec.num_classes = 4;
  auto model = nn::build_model(spec, rng);  // untrained: mostly wrong, with varied confidence
  const Dataset test = make_synthetic(64, 1, 28, 28, 2);
  Context ctx(0, 1);
  const TestReview r = review_test_set(ctx, *model, test, fit_normalization(test), 16, nullptr, 5);
  EXPECT_EQ(r.images, 64);
  ASSERT_EQ(r.class_names, test.class_names);
  ASSERT_EQ(r.confusion.size(), 16u);
  int64_t total = 0, diagonal = 0;
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 4; ++j) total += r.confusion[i * 4 + j], diagonal += i == j ? r.confusion[i * 4 + j] : 0;
  EXPECT_EQ(total, 64);
  EXPECT_EQ(diagonal, r.correct);
  ASSERT_EQ(r.mistakes.size(), std::min<size_t>(5, static_cast<size_t>(64 - r.correct)));
  for (size_t k = 0; k < r.mistakes.size(); ++k) {
    const Mistake& m = r.mistakes[k];
    if (k > 0) {
      EXPECT_GE(r.mistakes[k - 1].confidence, m.confidence);
    }
    EXPECT_NE(m.truth, m.predicted);
    EXPECT_EQ(m.truth, test.labels.data<int64_t>()[m.index]);
    EXPECT_GT(m.confidence, 0.25 - 1e-9);  // the top class of 4
    ASSERT_EQ(m.image.data.size(), 28u * 28u);
    EXPECT_TRUE(std::equal(m.image.data.begin(), m.image.data.end(), test.images.data<uint8_t>() + m.index * 28 * 28));
  }
}

namespace {

ReportInputs inputs(bool validation) {
  ReportInputs in;
  in.run_dir = "runs/x<y";
  for (int e = 1; e <= 3; ++e) {
    EpochRow r;
    r.epoch = e, r.step = 10 * e, r.train_loss = 1.0 / e, r.train_acc = 0.7 + 0.1 * e, r.lr = 0.1;
    r.test_acc = 0.6 + 0.01 * e, r.test_loss = 1.2;
    if (validation) r.val_acc = 0.65, r.val_loss = 1.1;
    in.history.epochs.push_back(r);
  }
  for (int s = 1; s <= 30; ++s) in.history.steps.push_back({s, 1 + (s - 1) / 10, 2.3 / s, 0.1, 1.0});
  in.history.split = eval_split_of(in.history.epochs);
  in.reading = read_curves(in.history, 10);
  in.config_text = "model:\n  name: cnn\n";
  in.test_note = "No model.safetensors in the run folder.";
  return in;
}

}  // namespace

TEST(ReportPage, NamesTheEvaluatedSplitInBothShapes) {
  const std::string val = report_html(inputs(true)), test = report_html(inputs(false));
  EXPECT_NE(val.find("Evaluated on the <b>validation</b> split."), std::string::npos);
  EXPECT_EQ(val.find("no validation split"), std::string::npos);
  EXPECT_NE(test.find("Evaluated on the <b>test</b> split (the run has no validation split"), std::string::npos);
  EXPECT_NE(test.find("test (no validation split)"), std::string::npos);  // the curves' legend
  // the gap rule reads the chosen split: 1.0 train vs 0.65 validation, or vs 0.63 test
  EXPECT_NE(val.find("validation accuracy 65.0%"), std::string::npos);
  EXPECT_NE(test.find("test accuracy 63.0%"), std::string::npos);
  // and the rule's title says which gap it is
  EXPECT_NE(val.find("Large train/validation gap"), std::string::npos);
  EXPECT_NE(test.find("Large train/test gap"), std::string::npos);
}

TEST(ReportPage, HasItsSectionsAndNoScript) {
  ReportInputs in = inputs(false);
  TestReview t;
  t.images = 4, t.correct = 3, t.class_names = {"cat", "dog"}, t.confusion = {2, 1, 0, 1};
  t.mistakes.push_back({7, 0, 1, 0.9, U8Image{1, 2, 2, {0, 255, 0, 255}}});
  in.test = t;
  const std::string page = report_html(in);
  for (const char* part : {"<h2>What the curves say</h2>", "<h2>Per step</h2>", "<h2>Per epoch</h2>",
                           "<h3>Confusion matrix</h3>", "data:image/png;base64,iVBORw0KGgo", "true: <b>cat</b>",
                           "90.00% confident", "<h2>Config</h2>", "name: cnn", "runs/x&lt;y"})
    EXPECT_NE(page.find(part), std::string::npos) << part;
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(count(page, "<svg"), 6);  // loss, lr, grad norm per step; loss, accuracy, lr per epoch
  // without a model: the note instead of the test section
  EXPECT_NE(report_html(inputs(false)).find("No model.safetensors in the run folder."), std::string::npos);
}

TEST(ReportPage, FindingsText) {
  CurveReading r;
  r.findings.push_back({"plateau", Severity::warning, "The loss is flat.", "Decay the lr."});
  r.unchecked.push_back("flat_start: 3 logged steps, 8 needed");
  EXPECT_EQ(findings_text(r), "[warning] plateau: The loss is flat.\n    advice: Decay the lr.\n"
                              "not checked: flat_start: 3 logged steps, 8 needed\n");
  EXPECT_NE(findings_text({}).find("no findings"), std::string::npos);
}
