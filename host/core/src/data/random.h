#pragma once

// Seeded draws that give the same numbers with every standard library:
// std::mt19937_64 is fully specified, but std::uniform_*_distribution,
// std::normal_distribution and std::shuffle are not, and generated data
// sets and shuffles must be reproducible from a seed everywhere.
#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace neurite::data::detail {

// SplitMix64's finaliser: nearby inputs (seed, seed + 1, epoch numbers)
// become unrelated 64-bit values.
inline uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

class Random {
public:
    explicit Random(uint64_t seed) : m_engine(seed) {}

    // Uniform in [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(m_engine() >> 11) * 0x1.0p-53; }
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

    // Uniform in [0, n) without modulo bias (rejects the short last block).
    uint64_t below(uint64_t n)
    {
        const uint64_t threshold = (0 - n) % n;
        for (;;) {
            const uint64_t r = m_engine();
            if (r >= threshold)
                return r % n;
        }
    }

    // Standard normal by Box–Muller, both values of a pair used.
    double normal()
    {
        if (m_has_spare) {
            m_has_spare = false;
            return m_spare;
        }
        const double u = 1.0 - uniform(); // (0, 1]: log(u) is finite
        const double v = uniform();
        const double r = std::sqrt(-2.0 * std::log(u));
        constexpr double kTwoPi = 6.283185307179586476925;
        m_spare = r * std::sin(kTwoPi * v);
        m_has_spare = true;
        return r * std::cos(kTwoPi * v);
    }

    // Fisher–Yates.
    template <class T>
    void shuffle(std::vector<T> &items)
    {
        for (size_t i = items.size(); i > 1; --i)
            std::swap(items[i - 1], items[below(i)]);
    }

private:
    std::mt19937_64 m_engine;
    double m_spare = 0;
    bool m_has_spare = false;
};

// 0 .. n−1 in a seeded order, written into `order` (reusing its memory).
inline void fill_permutation(std::vector<int64_t> &order, int64_t n, uint64_t seed)
{
    order.resize(static_cast<size_t>(n > 0 ? n : 0));
    for (size_t i = 0; i < order.size(); ++i)
        order[i] = static_cast<int64_t>(i);
    Random(mix64(seed)).shuffle(order);
}

} // namespace neurite::data::detail
