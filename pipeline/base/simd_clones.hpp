#pragma once
// CIRCAL_SIMD_CLONES: one attribute shared by every elementwise hot loop (ops/vector_exp,
// RMSNorm, SwiGLU, the KL loss, Adam).
//
// Put before a function whose loops should use AVX2 + FMA where the CPU has them: GCC builds
// the function twice, for x86-64-v3 and for the x86-64 baseline, and the loader picks one at
// start-up by CPU features. ("arch=haswell" would be picked by CPU model, so never on AMD
// processors: measured on an EPYC, the baseline clone ran.) The two clones may round
// differently (FMA contraction): results are reproducible on one machine, not across CPUs.
// Clang builds (fuzz, sanitizers) get the baseline only.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CIRCAL_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CIRCAL_SIMD_CLONES
#endif
