// RunConfig: everything a training run is told, one section per module, each the options struct
// that module reads (with the program's defaults, their only ones). The YAML schema that fills it,
// with each key's documentation, is the table in train/config.cpp (`data.limit_train` -> data.limit_train,
// `model.width` -> model.hidden_width, `optim.lr` and the schedule keys -> schedule).
#pragma once
#include <cstdint>
#include <string>

#include "cvtrain/data/dataset.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/optim/optimizer.h"
#include "cvtrain/optim/schedule.h"
#include "cvtrain/train/options.h"

namespace cvtrain {

struct RunConfig {
  int64_t seed = 0;
  int64_t threads = 2;
  std::string device = "cpu";  // cpu | cuda (docs/cuda.md)

  DataOptions data;                 // data.*
  nn::ModelSpec model;              // model.* of the architecture, activation and init
  TransferOptions transfer;         // model.init_from, model.freeze, model.reset_head, model.freeze_bn
  optim::OptimOptions optim;        // optim.name, the optimizer's keys, optim.lr_mult
  optim::ScheduleOptions schedule;  // optim.lr, optim.schedule and its keys, warmup, lr scaling
  TrainOptions train;               // train.*
};

}  // namespace cvtrain
