// The floating-point mode of a thread that computes: flush-to-zero (FTZ, a
// result too small to be a normal float becomes 0) and denormals-are-zero
// (DAZ, a subnormal operand reads as 0).
//
// Subnormal floats (magnitude below 1.18e-38) arise in training without
// anyone asking for them: the momentum of a weight that never gets a gradient
// (a pixel that is always 0) shrinks by the momentum factor every step until
// it is subnormal. Many x86 cores compute on subnormals in microcode, on Intel
// cores about 100 times slower, so a few thousand of them in an optimizer's
// buffers can cost a third of a small model's speed. Like TensorFlow, the
// host therefore runs its compute threads and their OpenMP teams with
// FTZ/DAZ unless the user opts out (`--keep-denormals`,
// `nn.set_flush_denormal(false)`).
//
// The mode is a register of each thread (MXCSR on x86, FPCR on AArch64), and
// a new thread copies its creator's. A plugin that creates threads of its own
// calls sdk::init_compute_thread(host) (plugin.hpp) at the start of each.
// This header is the part without the ABI, which the host uses as well.
#ifndef NEURITE_PLUGIN_DENORMALS_HPP
#define NEURITE_PLUGIN_DENORMALS_HPP

#include <cstdint>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#include <xmmintrin.h>
#define NEURITE_DENORMALS_X86 1
#elif defined(__aarch64__)
#define NEURITE_DENORMALS_AARCH64 1
#endif

namespace neurite::sdk {

#if defined(NEURITE_DENORMALS_X86)
inline constexpr uint32_t kMxcsrFlushBits = 0x8040u; // FTZ (bit 15) and DAZ (bit 6)
#elif defined(NEURITE_DENORMALS_AARCH64)
inline constexpr uint64_t kFpcrFlushBit = uint64_t{1} << 24; // FZ: both directions
inline uint64_t read_fpcr()
{
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    return fpcr;
}
#endif

// Whether this processor has the mode (x86 with SSE, AArch64).
constexpr bool can_flush_denormals()
{
#if defined(NEURITE_DENORMALS_X86) || defined(NEURITE_DENORMALS_AARCH64)
    return true;
#else
    return false;
#endif
}

// Sets (or clears) FTZ and DAZ in the calling thread only. Writing the
// register costs a few cycles, and is skipped when nothing changes.
inline void set_flush_denormals(bool flush) noexcept
{
#if defined(NEURITE_DENORMALS_X86)
    const uint32_t csr = _mm_getcsr();
    const uint32_t wanted = flush ? (csr | kMxcsrFlushBits) : (csr & ~kMxcsrFlushBits);
    if (wanted != csr)
        _mm_setcsr(wanted);
#elif defined(NEURITE_DENORMALS_AARCH64)
    const uint64_t fpcr = read_fpcr();
    const uint64_t wanted = flush ? (fpcr | kFpcrFlushBit) : (fpcr & ~kFpcrFlushBit);
    if (wanted != fpcr)
        __asm__ volatile("msr fpcr, %0" : : "r"(wanted));
#else
    (void)flush;
#endif
}

// True when the calling thread flushes denormals in both directions.
inline bool denormals_flushed() noexcept
{
#if defined(NEURITE_DENORMALS_X86)
    return (_mm_getcsr() & kMxcsrFlushBits) == kMxcsrFlushBits;
#elif defined(NEURITE_DENORMALS_AARCH64)
    return (read_fpcr() & kFpcrFlushBit) != 0;
#else
    return false;
#endif
}

} // namespace neurite::sdk

#endif // NEURITE_PLUGIN_DENORMALS_HPP
