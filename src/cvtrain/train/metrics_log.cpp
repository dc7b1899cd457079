// The run's log files. Rows are appended and flushed one by one, so a killed run keeps every
// finished row; a resumed run first rewrites them up to its checkpoint.
#include "cvtrain/train/metrics_log.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cvtrain/base/error.h"
#include "cvtrain/base/files.h"
#include "cvtrain/train/tensorboard.h"
#include "cvtrain/viz/plot.h"

namespace cvtrain {
namespace {

const char* kCsvHeader = "epoch,step,train_loss,train_acc,test_loss,test_acc,ema_test_loss,ema_test_acc,lr,images_per_s,seconds,data_wait_s";

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
  s << m.lr << ',' << m.images_per_s << ',' << m.seconds << ',' << m.data_wait_s;
  return s.str();
}

void append_line(const std::string& path, const std::string& line) {
  std::ofstream out(path, std::ios::app);
  out << line << '\n';
  out.flush();
  if (!out) fail_input(path, ": write failed");
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
  if (m.has_ema) {
    j["ema_test_loss"] = maybe(m.evaluated, m.ema_test_loss);
    j["ema_test_acc"] = maybe(m.evaluated, m.ema_test_acc);
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
    m.lr = j.at("lr");
    m.images_per_s = j.at("images_per_s");
    m.seconds = j.at("seconds");
    m.data_wait_s = j.value("data_wait_s", 0.0);
    out.push_back(m);
  }
  return out;
}

TrainLog::TrainLog(const std::string& dir, const RunConfig& cfg, const std::vector<EpochMetrics>& history,
                   int64_t step)
    : dir_(dir), cfg_(cfg), history_(history) {
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
      } catch (const std::exception&) {
        break;  // a torn last line of a killed run
      }
    }
  }
  write_text_atomic(dir + "/steps.jsonl", kept);
  if (cfg.train_tensorboard) tb_ = std::make_unique<EventWriter>(dir + "/tensorboard");
}

TrainLog::~TrainLog() = default;

void TrainLog::on_step(const StepRecord& r) {
  nlohmann::json j = {{"step", r.step}, {"epoch", r.epoch}, {"loss", r.loss}, {"lr", r.lr},
                      {"images_per_s", r.images_per_s}};
  if (r.grad_norm >= 0) j["grad_norm"] = r.grad_norm;
  append_line(dir_ + "/steps.jsonl", j.dump());
  logged_steps_.push_back(static_cast<double>(r.step));
  logged_lr_.push_back(r.lr);
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
  if (cfg_.train_plots) draw_plots();
  if (!tb_) return;
  const int64_t s = m.step;
  tb_->scalar("epoch/train_loss", s, m.train_loss);
  tb_->scalar("epoch/train_acc", s, m.train_acc);
  tb_->scalar("epoch/lr", s, m.lr);
  tb_->scalar("epoch/images_per_s", s, m.images_per_s);
  if (m.evaluated) {
    tb_->scalar("epoch/test_loss", s, m.test_loss);
    tb_->scalar("epoch/test_acc", s, m.test_acc);
    if (m.has_ema) {
      tb_->scalar("epoch/ema_test_loss", s, m.ema_test_loss);
      tb_->scalar("epoch/ema_test_acc", s, m.ema_test_acc);
    }
  }
  if (cfg_.train_histograms) {
    for (const auto& e : arena.entries()) {
      tb_->histogram("weights/" + e.name, s, arena.data() + e.offset, e.numel);
      tb_->histogram("grads/" + e.name, s, arena.grad() + e.offset, e.numel);
    }
  }
}

void TrainLog::draw_plots() const {
  std::vector<double> epoch, train_loss, test_loss, train_acc, test_acc, ema_acc, lr;
  bool any_ema = false;
  for (const EpochMetrics& m : history_) {
    epoch.push_back(static_cast<double>(m.epoch));
    train_loss.push_back(m.train_loss);
    train_acc.push_back(m.train_acc);
    test_loss.push_back(m.evaluated ? m.test_loss : NAN);  // a gap where not evaluated
    test_acc.push_back(m.evaluated ? m.test_acc : NAN);
    ema_acc.push_back(m.evaluated && m.has_ema ? m.ema_test_acc : NAN);
    any_ema = any_ema || m.has_ema;
    lr.push_back(m.lr);
  }
  viz::line_chart_png(dir_ + "/loss.png", "loss", "epoch", "cross-entropy",
                      {{"train", epoch, train_loss}, {"test", epoch, test_loss}});
  std::vector<viz::Series> acc = {{"train", epoch, train_acc}, {"test", epoch, test_acc}};
  if (any_ema) acc.push_back({"test (EMA weights)", epoch, ema_acc});
  viz::line_chart_png(dir_ + "/accuracy.png", "accuracy", "epoch", "accuracy", acc);
  if (!logged_steps_.empty())
    viz::line_chart_png(dir_ + "/lr.png", "learning rate", "optimizer step", "lr", {{"", logged_steps_, logged_lr_}});
  else
    viz::line_chart_png(dir_ + "/lr.png", "learning rate (end of epoch)", "epoch", "lr", {{"", epoch, lr}});
}

}  // namespace cvtrain
