// The libFuzzer entry points every harness in fuzz/ defines. The same harness source is linked two
// ways: with -fsanitize=fuzzer into a fuzzing executable (scripts/fuzz), and with replay_main.cpp
// into a plain executable the test suite runs over the seed corpus and the kept regressions.
#ifndef CRMSYNC_FUZZ_HARNESS_H
#define CRMSYNC_FUZZ_HARNESS_H

#include <cstddef>
#include <cstdint>

// One-time set-up (loading connectors, opening a store); returns 0.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv);
// Runs one input; returns 0. A crash, a sanitizer report or an uncaught exception is a finding.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#endif  // CRMSYNC_FUZZ_HARNESS_H
