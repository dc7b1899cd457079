// A network with a chosen one-way delay and link rate between the namespace hosts of
// scripts/netns-hosts.sh, for kernels without tc netem (CONFIG_NET_SCH_NETEM unset): each host
// gets a TUN interface, eth0, and this process carries every IP packet between them. A packet sent
// by host k leaves k's link once the packets before it have (size x 8 / rate each: the link's
// serialization, a FIFO per sender) and reaches its destination `delay` later. The links have a
// 64 KiB MTU, so the program handles a few thousand packets a second at 1 Gbit/s, not 80,000.
//
//   net_wire --hosts N --delay-us D --rate-mbit R [--queue-mb 64]
// Runs until killed; prints "ready" once every host's eth0 exists (the caller then gives each its
// address, 10.77.0.K/24, and brings it up). The interfaces vanish when it exits.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kMaxPacket = 65536;

struct Packet {
  Clock::time_point due;
  int to = 0;  // host index
  std::vector<char> bytes;
};

struct Host {
  int fd = -1;
  std::deque<Packet> queue;  // sent by this host, in order of leaving its link
  Clock::time_point link_free;  // when the packets already queued have left the link
  int64_t queued_bytes = 0;
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "net_wire: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

// eth0 inside namespace cvt-hK, as a TUN device (IP packets, no link-layer header)
int open_tun_in(int k) {
  const std::string ns = "/var/run/netns/cvt-h" + std::to_string(k);
  const int nsfd = open(ns.c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) die("open " + ns);
  if (setns(nsfd, CLONE_NEWNET) != 0) die("setns " + ns);
  close(nsfd);
  const int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) die("open /dev/net/tun");
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, "eth0", IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) die("TUNSETIFF in " + ns);
  return fd;
}

// the destination host of an IPv4 packet to 10.77.0.K, or -1
int destination(const char* p, ssize_t n, int hosts) {
  if (n < 20 || (static_cast<unsigned char>(p[0]) >> 4) != 4) return -1;
  const auto* d = reinterpret_cast<const unsigned char*>(p + 16);
  if (d[0] != 10 || d[1] != 77 || d[2] != 0 || d[3] < 1 || d[3] > hosts) return -1;
  return d[3] - 1;
}

}  // namespace

int main(int argc, char** argv) {
  int hosts = 0;
  double delay_us = 0, rate_mbit = 0, queue_mb = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const double v = std::atof(argv[i + 1]);
    if (k == "--hosts") hosts = static_cast<int>(v);
    else if (k == "--delay-us") delay_us = v;
    else if (k == "--rate-mbit") rate_mbit = v;
    else if (k == "--queue-mb") queue_mb = v;
    else { std::fprintf(stderr, "net_wire: unknown option '%s'\n", k.c_str()); return 2; }
  }
  if (hosts < 2 || hosts > 16 || delay_us < 0 || rate_mbit < 0) {
    std::fprintf(stderr, "usage: net_wire --hosts 2..16 --delay-us D --rate-mbit R (0: unlimited)\n");
    return 2;
  }
  prctl(PR_SET_TIMERSLACK, 1UL);  // wake-ups to the microsecond, not the default 50 us
  std::vector<Host> h(static_cast<size_t>(hosts));
  for (int k = 0; k < hosts; ++k) h[static_cast<size_t>(k)].fd = open_tun_in(k + 1);
  std::printf("ready\n");
  std::fflush(stdout);

  const auto delay = std::chrono::nanoseconds(static_cast<int64_t>(delay_us * 1e3));
  const double ns_per_byte = rate_mbit > 0 ? 8e3 / rate_mbit : 0;
  const auto queue_cap = static_cast<int64_t>(queue_mb * (1 << 20));
  std::vector<pollfd> fds(h.size());
  for (size_t k = 0; k < h.size(); ++k) fds[k] = {h[k].fd, POLLIN, 0};
  std::vector<char> buf(kMaxPacket);
  for (;;) {
    // deliver what is due; find the next due time
    auto now = Clock::now();
    Clock::time_point next = Clock::time_point::max();
    for (Host& s : h) {
      while (!s.queue.empty() && s.queue.front().due <= now) {
        Packet& p = s.queue.front();
        (void)!write(h[static_cast<size_t>(p.to)].fd, p.bytes.data(), p.bytes.size());  // a full queue drops, as a link does
        s.queued_bytes -= static_cast<int64_t>(p.bytes.size());
        s.queue.pop_front();
      }
      if (!s.queue.empty() && s.queue.front().due < next) next = s.queue.front().due;
    }
    timespec ts{1, 0}, *timeout = &ts;
    if (next != Clock::time_point::max()) {
      const int64_t ns = std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(next - now).count());
      ts = {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    }
    if (ppoll(fds.data(), fds.size(), timeout, nullptr) < 0 && errno != EINTR) die("ppoll");
    now = Clock::now();
    for (size_t k = 0; k < h.size(); ++k) {
      if (!(fds[k].revents & POLLIN)) continue;
      for (;;) {  // everything this host has sent so far
        const ssize_t n = read(h[k].fd, buf.data(), buf.size());
        if (n <= 0) break;
        const int to = destination(buf.data(), n, hosts);
        if (to < 0 || static_cast<size_t>(to) == k || h[k].queued_bytes + n > queue_cap) continue;
        Host& s = h[k];
        const auto start = std::max(now, s.link_free);
        s.link_free = start + std::chrono::nanoseconds(static_cast<int64_t>(ns_per_byte * static_cast<double>(n)));
        s.queue.push_back({s.link_free + delay, to, std::vector<char>(buf.data(), buf.data() + n)});
        s.queued_bytes += n;
      }
    }
  }
}
