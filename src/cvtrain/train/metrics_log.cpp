// The run's log files. Rows are appended and flushed one by one, so a killed run keeps every
// finished row; a resumed run first rewrites them up to its checkpoint.
#include "cvtrain/train/metrics_log.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cvtrain/base/error.h"
#include "cvtrain/base/files.h"
#include "cvtrain/data/augment.h"
#include "cvtrain/train/tensorboard.h"
#include "cvtrain/viz/plot.h"

namespace cvtrain {
namespace {

const char* kCsvHeader = "epoch,step,train_loss,train_acc,test_loss,test_acc,ema_test_loss,ema_test_acc,lr,images_per_s,seconds,data_wait_s,val_loss,val_acc,ema_val_loss,ema_val_acc";

nlohmann::json maybe(bool has, double v) { return has ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::string csv_row(const EpochMetrics& m) {
  std::ostringstream s;
  s.precision(9);
  auto opt = [&](bool has, double v) {
    if (has) s << v;
    s << ',';
  };
  s << m.epoch << ',' << m.step << ',' << m.train_loss << ',' << m.train_acc << ',';
  opt(m.evaluated, m.test_loss);
  opt(m.evaluated, m.test_acc);
  opt(m.evaluated && m.has_ema, m.ema_test_loss);
  opt(m.evaluated && m.has_ema, m.ema_test_acc);
  s << m.lr << ',' << m.images_per_s << ',' << m.seconds << ',' << m.data_wait_s << ',';
  opt(m.evaluated && m.has_val, m.val_loss);
  opt(m.evaluated && m.has_val, m.val_acc);
  opt(m.evaluated && m.has_val && m.has_ema, m.ema_val_loss);
  if (m.evaluated && m.has_val && m.has_ema) s << m.ema_val_acc;
  return s.str();
}

void append_line(const std::string& path, const std::string& line) {
  std::ofstream out(path, std::ios::app);
  out << line << '\n';
  out.flush();
  if (!out) fail_input(path, ": write failed");
}

// Tags written once per epoch, at the epoch's last step (the others, train/*, once per logged step).
bool is_epoch_tag(const std::string& tag) {
  for (const char* p : {"epoch/", "weights/", "grads/", "images/filters"})
    if (tag.rfind(p, 0) == 0) return true;
  return false;
}

nlohmann::json to_json(const EpochMetrics& m) {
  nlohmann::json j = {{"epoch", m.epoch},
                      {"step", m.step},
                      {"train_loss", m.train_loss},
                      {"train_acc", m.train_acc},
                      {"test_loss", maybe(m.evaluated, m.test_loss)},
                      {"test_acc", maybe(m.evaluated, m.test_acc)},
                      {"lr", m.lr},
                      {"images_per_s", m.images_per_s},
                      {"seconds", m.seconds},
                      {"data_wait_s", m.data_wait_s}};
  if (m.comm_wait_s >= 0) j["comm_wait_s"] = m.comm_wait_s;
  if (m.has_ema) {
    j["ema_test_loss"] = maybe(m.evaluated, m.ema_test_loss);
    j["ema_test_acc"] = maybe(m.evaluated, m.ema_test_acc);
  }
  if (m.has_val) {
    j["val_loss"] = maybe(m.evaluated, m.val_loss);
    j["val_acc"] = maybe(m.evaluated, m.val_acc);
    if (m.has_ema) {
      j["ema_val_loss"] = maybe(m.evaluated, m.ema_val_loss);
      j["ema_val_acc"] = maybe(m.evaluated, m.ema_val_acc);
    }
  }
  return j;
}

}  // namespace

std::string metrics_json_line(const EpochMetrics& m) { return to_json(m).dump(); }

std::string history_to_json(const std::vector<EpochMetrics>& history) {
  nlohmann::json a = nlohmann::json::array();
  for (const EpochMetrics& m : history) a.push_back(to_json(m));
  return a.dump();
}

std::vector<EpochMetrics> history_from_json(const std::string& text) {
  std::vector<EpochMetrics> out;
  for (const auto& j : nlohmann::json::parse(text)) {
    EpochMetrics m;
    m.epoch = j.at("epoch");
    m.step = j.at("step");
    m.train_loss = j.at("train_loss");
    m.train_acc = j.at("train_acc");
    m.evaluated = !j.at("test_acc").is_null();
    if (m.evaluated) m.test_loss = j.at("test_loss"), m.test_acc = j.at("test_acc");
    m.has_ema = j.contains("ema_test_acc");
    if (m.has_ema && m.evaluated) m.ema_test_loss = j.at("ema_test_loss"), m.ema_test_acc = j.at("ema_test_acc");
    m.has_val = j.contains("val_acc");
    if (m.has_val && m.evaluated) m.val_loss = j.at("val_loss"), m.val_acc = j.at("val_acc");
    if (m.has_val && m.has_ema && m.evaluated) m.ema_val_loss = j.at("ema_val_loss"), m.ema_val_acc = j.at("ema_val_acc");
    m.lr = j.at("lr");
    m.images_per_s = j.at("images_per_s");
    m.seconds = j.at("seconds");
    m.data_wait_s = j.value("data_wait_s", 0.0);
    m.comm_wait_s = j.value("comm_wait_s", -1.0);
    out.push_back(m);
  }
  return out;
}

TrainLog::TrainLog(const std::string& dir, const TrainOptions& train, const AugmentOptions& loader,
                   const std::vector<EpochMetrics>& history, int64_t step)
    : dir_(dir), train_(train), loader_(loader), history_(history) {
  std::string jsonl, csv = std::string(kCsvHeader) + "\n";
  for (const EpochMetrics& m : history) jsonl += metrics_json_line(m) + "\n", csv += csv_row(m) + "\n";
  write_text_atomic(dir + "/metrics.jsonl", jsonl);
  write_text_atomic(dir + "/metrics.csv", csv);
  // steps.jsonl: keep the rows of the steps before the checkpoint (none for a fresh run)
  std::string kept;
  if (step > 0) {
    std::ifstream in(dir + "/steps.jsonl");
    for (std::string line; std::getline(in, line);) {
      try {
        const nlohmann::json j = nlohmann::json::parse(line);
        if (j.at("step").get<int64_t>() > step) continue;
        kept += line + "\n";
        logged_steps_.push_back(j.at("step").get<double>());
        logged_lr_.push_back(j.at("lr").get<double>());
        logged_loss_.push_back(j.at("loss").get<double>());
      } catch (const std::exception&) {
        break;  // a torn last line of a killed run
      }
    }
  }
  write_text_atomic(dir + "/steps.jsonl", kept);
  if (!train.tensorboard) return;
  if (step > 0) {
    // Events logged before the checkpoint stay: per-step ones up to `step`, per-epoch ones at
    // `step` only when that epoch finished before the checkpoint (a checkpoint taken at an epoch's
    // last batch but before its end replays the epoch's end).
    const bool epoch_done_at_step = !history.empty() && history.back().step == step;
    prune_events(dir + "/tensorboard", [&](int64_t s, const std::string& tag) {
      return s < step || (s == step && (!is_epoch_tag(tag) || epoch_done_at_step));
    });
  }
  tb_ = std::make_unique<EventWriter>(dir + "/tensorboard");
  if (step > 0) tb_->session_start(step + 1);  // a TensorBoard already watching drops its later steps
}

TrainLog::~TrainLog() = default;

void TrainLog::on_step(const StepRecord& r) {
  nlohmann::json j = {{"step", r.step}, {"epoch", r.epoch}, {"loss", r.loss}, {"lr", r.lr},
                      {"images_per_s", r.images_per_s}};
  if (r.grad_norm >= 0) j["grad_norm"] = r.grad_norm;
  append_line(dir_ + "/steps.jsonl", j.dump());
  logged_steps_.push_back(static_cast<double>(r.step));
  logged_lr_.push_back(r.lr);
  logged_loss_.push_back(r.loss);
  if (tb_) {
    tb_->scalar("train/loss_step", r.step, r.loss);
    tb_->scalar("train/lr", r.step, r.lr);
    tb_->scalar("train/images_per_s", r.step, r.images_per_s);
    if (r.grad_norm >= 0) tb_->scalar("train/grad_norm", r.step, r.grad_norm);
  }
}

void TrainLog::on_epoch(const EpochMetrics& m, const nn::ParameterArena& arena) {
  append_line(dir_ + "/metrics.jsonl", metrics_json_line(m));
  append_line(dir_ + "/metrics.csv", csv_row(m));
  history_.push_back(m);
  if (train_.plots) draw_plots();
  if (!tb_) return;
  const int64_t s = m.step;
  tb_->scalar("epoch/train_loss", s, m.train_loss);
  tb_->scalar("epoch/train_acc", s, m.train_acc);
  tb_->scalar("epoch/lr", s, m.lr);
  tb_->scalar("epoch/images_per_s", s, m.images_per_s);
  if (m.evaluated) {
    tb_->scalar("epoch/test_loss", s, m.test_loss);
    tb_->scalar("epoch/test_acc", s, m.test_acc);
    if (m.has_val) tb_->scalar("epoch/val_loss", s, m.val_loss), tb_->scalar("epoch/val_acc", s, m.val_acc);
    if (m.has_ema) {
      tb_->scalar("epoch/ema_test_loss", s, m.ema_test_loss);
      tb_->scalar("epoch/ema_test_acc", s, m.ema_test_acc);
    }
    if (m.has_ema && m.has_val) tb_->scalar("epoch/ema_val_acc", s, m.ema_val_acc);
  }
  if (train_.histograms) {
    for (const auto& e : arena.entries()) {
      tb_->histogram("weights/" + e.name, s, arena.data() + e.offset, e.numel);
      tb_->histogram("grads/" + e.name, s, arena.grad() + e.offset, e.numel);
    }
  }
  const U8Image filters = first_conv_filters(arena);
  if (filters.C > 0) tb_->image("images/filters", s, filters);
}

void TrainLog::augmentation_preview(const Dataset& train, int64_t rows, int64_t views) {
  if (!tb_ || loader_.augment.empty() || train.size() == 0) return;
  AugmentPipeline pipeline(loader_.augment);
  if (pipeline.needs_color_pca()) pipeline.set_color_pca(fit_color_pca(train.images));
  const int64_t C = train.images.size(1), H = train.images.size(2), W = train.images.size(3);
  int64_t OH = H, OW = W;
  pipeline.out_size(OH, OW);
  const int64_t cell_h = std::max(H, OH), cell_w = std::max(W, OW), gap = 2;
  rows = std::min(rows, train.size());
  U8Image grid{C, rows * (cell_h + gap) + gap, (1 + views) * (cell_w + gap) + gap, {}};
  grid.data.assign(static_cast<size_t>(grid.C * grid.H * grid.W), 128);
  auto paste = [&](const Image& img, int64_t row, int64_t col) {
    std::vector<uint8_t> u8(img.data.size());
    to_u8(img, u8.data());
    const int64_t y0 = gap + row * (cell_h + gap) + (cell_h - img.H) / 2;
    const int64_t x0 = gap + col * (cell_w + gap) + (cell_w - img.W) / 2;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < img.H; ++y)
        for (int64_t x = 0; x < img.W; ++x)
          grid.data[static_cast<size_t>((c * grid.H + y0 + y) * grid.W + x0 + x)] =
              u8[static_cast<size_t>((c * img.H + y) * img.W + x)];
  };
  const uint8_t* src = train.images.data<uint8_t>();
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t index = r * (train.size() / rows);  // spread over the set
    const Image original = from_u8(src + index * C * H * W, C, H, W);
    paste(original, r, 0);
    for (int64_t v = 0; v < views; ++v)
      paste(pipeline.run(original, loader_.seed, static_cast<uint64_t>(v),
                         static_cast<uint64_t>(index)),
            r, 1 + v);
  }
  tb_->image("images/augmentation", 0, grid);
}

U8Image first_conv_filters(const nn::ParameterArena& arena, int64_t scale) {
  const nn::ParameterArena::Entry* conv = nullptr;
  for (const auto& e : arena.entries())
    if (e.shape.size() == 4) {
      conv = &e;
      break;
    }
  if (!conv) return {};
  const int64_t OC = conv->shape[0], IC = conv->shape[1], KH = conv->shape[2], KW = conv->shape[3];
  const int64_t C = IC == 3 ? 3 : 1, cols = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(OC))));
  const int64_t rows = (OC + cols - 1) / cols, th = KH * scale, tw = KW * scale, gap = 1;
  U8Image grid{C, rows * (th + gap) + gap, cols * (tw + gap) + gap, {}};
  grid.data.assign(static_cast<size_t>(C * grid.H * grid.W), 0);
  const float* w = arena.data() + conv->offset;  // (OC,IC,KH,KW)
  std::vector<float> tile(static_cast<size_t>(C * KH * KW));
  for (int64_t oc = 0; oc < OC; ++oc) {
    const float* f = w + oc * IC * KH * KW;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < KH * KW; ++k) {
        double v = 0;
        if (C == 3) v = f[c * KH * KW + k];
        else
          for (int64_t ic = 0; ic < IC; ++ic) v += f[ic * KH * KW + k] / static_cast<double>(IC);
        tile[static_cast<size_t>(c * KH * KW + k)] = static_cast<float>(v);
      }
    const auto [lo, hi] = std::minmax_element(tile.begin(), tile.end());
    const float range = *hi > *lo ? *hi - *lo : 1.0f;
    const int64_t y0 = gap + (oc / cols) * (th + gap), x0 = gap + (oc % cols) * (tw + gap);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < th; ++y)
        for (int64_t x = 0; x < tw; ++x) {
          const float v = (tile[static_cast<size_t>(c * KH * KW + (y / scale) * KW + x / scale)] - *lo) / range;
          grid.data[static_cast<size_t>((c * grid.H + y0 + y) * grid.W + x0 + x)] =
              static_cast<uint8_t>(std::lround(v * 255.0f));
        }
  }
  return grid;
}

void TrainLog::draw_plots() const {
  std::vector<double> epoch, train_loss, val_loss, test_loss, train_acc, val_acc, test_acc, ema_acc, lr;
  bool any_ema = false, any_val = false;
  for (const EpochMetrics& m : history_) {
    epoch.push_back(static_cast<double>(m.epoch));
    train_loss.push_back(m.train_loss);
    train_acc.push_back(m.train_acc);
    test_loss.push_back(m.evaluated ? m.test_loss : NAN);  // a gap where not evaluated
    test_acc.push_back(m.evaluated ? m.test_acc : NAN);
    val_loss.push_back(m.evaluated && m.has_val ? m.val_loss : NAN);
    val_acc.push_back(m.evaluated && m.has_val ? m.val_acc : NAN);
    ema_acc.push_back(m.evaluated && m.has_ema ? (m.has_val ? m.ema_val_acc : m.ema_test_acc) : NAN);
    any_ema = any_ema || m.has_ema;
    any_val = any_val || m.has_val;
    lr.push_back(m.lr);
  }
  std::vector<viz::Series> losses = {{"train (epoch mean)", epoch, train_loss}};
  if (any_val) losses.push_back({"val", epoch, val_loss});
  losses.push_back({"test", epoch, test_loss});
  if (!logged_steps_.empty() && !history_.empty() && history_.front().step > 0) {
    // the logged steps too, at their place in epochs: a short run is a curve, not a line
    const double steps_per_epoch = static_cast<double>(history_.front().step) / static_cast<double>(history_.front().epoch);
    std::vector<double> at;
    for (double s : logged_steps_) at.push_back(s / steps_per_epoch);
    losses.insert(losses.begin(), {"train (logged steps)", at, logged_loss_});
  }
  viz::line_chart_png(dir_ + "/loss.png", "loss", "epoch", "cross-entropy", losses);
  std::vector<viz::Series> acc = {{"train", epoch, train_acc}};
  if (any_val) acc.push_back({"val", epoch, val_acc});
  acc.push_back({"test", epoch, test_acc});
  if (any_ema) acc.push_back({any_val ? "val (EMA weights)" : "test (EMA weights)", epoch, ema_acc});
  viz::line_chart_png(dir_ + "/accuracy.png", "accuracy", "epoch", "accuracy", acc);
  if (!logged_steps_.empty())
    viz::line_chart_png(dir_ + "/lr.png", "learning rate", "optimizer step", "lr", {{"", logged_steps_, logged_lr_}});
  else
    viz::line_chart_png(dir_ + "/lr.png", "learning rate (end of epoch)", "epoch", "lr", {{"", epoch, lr}});
}

}  // namespace cvtrain
