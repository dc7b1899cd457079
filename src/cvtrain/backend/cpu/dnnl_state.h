// What DnnlRuntime holds: engine, stream, and primitives cached by a string key built from the
// shapes, so that each primitive is created once and executed many times. Kernels only.
#pragma once
#include <any>
#include <string>
#include <unordered_map>

#include <oneapi/dnnl/dnnl.hpp>

namespace cvtrain::cpu {

struct DnnlState {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  // key -> a kernel-specific struct of primitive descriptors, primitives and scratch memory.
  std::unordered_map<std::string, std::any> cache;

  template <class T, class Make>
  T& cached(const std::string& key, Make&& make) {
    auto it = cache.find(key);
    if (it == cache.end()) it = cache.emplace(key, std::any(make())).first;
    return *std::any_cast<T>(&it->second);
  }
};

}  // namespace cvtrain::cpu
