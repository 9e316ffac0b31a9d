// CPU time of the benchmark process, for the figures the benchmarks print next to wall time
// (on a shared machine the CPU a workload used is steadier than how long it took).
#ifndef CRMSYNC_BENCH_CPU_TIME_H
#define CRMSYNC_BENCH_CPU_TIME_H

#include <sys/resource.h>

namespace crmsync::bench {

// User plus system CPU seconds of this process so far, all threads.
inline double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace crmsync::bench

#endif  // CRMSYNC_BENCH_CPU_TIME_H
