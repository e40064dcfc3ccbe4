#include "neurite/core/data/generators.h"

#include "neurite/core/error.h"

#include "random.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

namespace neurite::data {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int64_t kMaxGenerated = 100'000'000; // 400 MB of 2-D points; more is surely a typo

std::string number(double v)
{
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return text;
}

void check_count(const char *generator, int64_t count, int64_t at_least = 1)
{
    if (count < at_least || count > kMaxGenerated)
        throw Error(std::string(generator) + ": count must be from " + std::to_string(at_least) +
                    " to " + std::to_string(kMaxGenerated) + ", got " + std::to_string(count));
}

void check_non_negative(const char *generator, const char *name, double value)
{
    if (!(value >= 0) || !std::isfinite(value))
        throw Error(std::string(generator) + ": " + name + " must be a finite number ≥ 0, got " +
                    number(value));
}

// Points in 2-D with class labels, filled by the generators below.
struct PointSet {
    DatasetParts parts;

    PointSet(std::string source, int64_t classes, int64_t reserve)
    {
        parts.source = std::move(source);
        parts.input_shape = Shape{2};
        parts.target_kind = TargetKind::Classes;
        parts.class_count = classes;
        parts.floats.reserve(static_cast<size_t>(2 * reserve));
        parts.targets.reserve(static_cast<size_t>(reserve));
    }

    void add(double x, double y, int64_t label)
    {
        parts.floats.push_back(static_cast<float>(x));
        parts.floats.push_back(static_cast<float>(y));
        parts.targets.push_back(static_cast<float>(label));
        ++parts.count;
    }

    Dataset finish() { return Dataset::create(std::move(parts)); }
};

// How many of `count` samples go to group g of `groups`: as even as can be,
// the first groups taking the remainder.
int64_t share(int64_t count, int64_t groups, int64_t g)
{
    return count / groups + (g < count % groups ? 1 : 0);
}

} // namespace

Dataset make_gate(const std::string &gate)
{
    std::string name = gate;
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    struct Table {
        const char *name;
        int out[4]; // for {0,0}, {1,0}, {0,1}, {1,1}
    };
    static const Table tables[] = {{"and", {0, 0, 0, 1}}, {"or", {0, 1, 1, 1}},  {"nand", {1, 1, 1, 0}},
                                   {"nor", {1, 0, 0, 0}}, {"xor", {0, 1, 1, 0}}, {"xnor", {1, 0, 0, 1}}};
    for (const Table &t : tables) {
        if (name != t.name)
            continue;
        PointSet points("gate " + name, 2, 4);
        const int inputs[4][2] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};
        for (int i = 0; i < 4; ++i)
            points.add(inputs[i][0], inputs[i][1], t.out[i]);
        return points.finish();
    }
    throw Error("unknown gate '" + gate + "' (use and, or, nand, nor, xor or xnor)");
}

Dataset make_xor_clouds(const XorCloudsOptions &o)
{
    check_count("xor_clouds", o.count);
    check_non_negative("xor_clouds", "noise", o.noise);
    detail::Random rng(o.seed);
    PointSet points("xor_clouds(count=" + std::to_string(o.count) + ", noise=" + number(o.noise) +
                        ", seed=" + std::to_string(o.seed) + ")",
                    2, o.count);
    const int corners[4][2] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};
    for (int64_t c = 0; c < 4; ++c)
        for (int64_t i = 0; i < share(o.count, 4, c); ++i) {
            const double x = corners[c][0] + o.noise * rng.normal();
            const double y = corners[c][1] + o.noise * rng.normal();
            points.add(x, y, corners[c][0] ^ corners[c][1]);
        }
    return points.finish();
}

Dataset make_gaussians(const GaussiansOptions &o)
{
    check_count("gaussians", o.count, 2);
    check_non_negative("gaussians", "stddev", o.stddev);
    check_non_negative("gaussians", "separation", o.separation);
    detail::Random rng(o.seed);
    PointSet points("gaussians(count=" + std::to_string(o.count) + ", separation=" +
                        number(o.separation) + ", stddev=" + number(o.stddev) +
                        ", seed=" + std::to_string(o.seed) + ")",
                    2, o.count);
    for (int64_t c = 0; c < 2; ++c) {
        const double centre = (c == 0 ? -0.5 : 0.5) * o.separation;
        for (int64_t i = 0; i < share(o.count, 2, c); ++i) {
            const double x = centre + o.stddev * rng.normal();
            const double y = centre + o.stddev * rng.normal();
            points.add(x, y, c);
        }
    }
    return points.finish();
}

Dataset make_moons(const MoonsOptions &o)
{
    check_count("moons", o.count, 2);
    check_non_negative("moons", "noise", o.noise);
    detail::Random rng(o.seed);
    PointSet points("moons(count=" + std::to_string(o.count) + ", noise=" + number(o.noise) +
                        ", seed=" + std::to_string(o.seed) + ")",
                    2, o.count);
    for (int64_t c = 0; c < 2; ++c) {
        const int64_t n = share(o.count, 2, c);
        for (int64_t i = 0; i < n; ++i) {
            // Evenly along each half circle; the lower moon is shifted so
            // the two interlock and no straight line separates them.
            const double t = kPi * static_cast<double>(i) / static_cast<double>(std::max<int64_t>(n - 1, 1));
            const double x = c == 0 ? std::cos(t) : 1.0 - std::cos(t);
            const double y = c == 0 ? std::sin(t) : 0.5 - std::sin(t);
            points.add(x + o.noise * rng.normal(), y + o.noise * rng.normal(), c);
        }
    }
    return points.finish();
}

Dataset make_spirals(const SpiralsOptions &o)
{
    if (o.arms < 1 || o.arms > 1000)
        throw Error("spirals: arms must be from 1 to 1000, got " + std::to_string(o.arms));
    check_count("spirals", o.count, o.arms);
    check_non_negative("spirals", "noise", o.noise);
    check_non_negative("spirals", "turns", o.turns);
    detail::Random rng(o.seed);
    PointSet points("spirals(count=" + std::to_string(o.count) + ", arms=" + std::to_string(o.arms) +
                        ", turns=" + number(o.turns) + ", noise=" + number(o.noise) +
                        ", seed=" + std::to_string(o.seed) + ")",
                    o.arms, o.count);
    for (int64_t arm = 0; arm < o.arms; ++arm) {
        const int64_t n = share(o.count, o.arms, arm);
        for (int64_t i = 0; i < n; ++i) {
            const double r = static_cast<double>(i + 1) / static_cast<double>(n); // (0, 1]
            const double angle = 2 * kPi * (o.turns * r + static_cast<double>(arm) / o.arms);
            points.add(r * std::cos(angle) + o.noise * rng.normal(),
                       r * std::sin(angle) + o.noise * rng.normal(), arm);
        }
    }
    return points.finish();
}

Dataset make_sine(const SineOptions &o)
{
    check_count("sine", o.count);
    check_non_negative("sine", "noise", o.noise);
    if (!(o.x_min < o.x_max) || !std::isfinite(o.x_min) || !std::isfinite(o.x_max))
        throw Error("sine: x_min must be below x_max, got " + number(o.x_min) + " and " + number(o.x_max));
    if (!std::isfinite(o.frequency) || !std::isfinite(o.amplitude))
        throw Error("sine: frequency and amplitude must be finite");
    detail::Random rng(o.seed);
    DatasetParts parts;
    parts.source = "sine(count=" + std::to_string(o.count) + ", x=[" + number(o.x_min) + ", " +
                   number(o.x_max) + "], frequency=" + number(o.frequency) + ", amplitude=" +
                   number(o.amplitude) + ", noise=" + number(o.noise) + ", seed=" + std::to_string(o.seed) + ")";
    parts.input_shape = Shape{1};
    parts.count = o.count;
    parts.target_kind = TargetKind::Values;
    parts.target_width = 1;
    parts.feature_names = {"x"};
    for (int64_t i = 0; i < o.count; ++i) {
        const double x = o.evenly_spaced
                             ? o.x_min + (o.x_max - o.x_min) * static_cast<double>(i) /
                                             static_cast<double>(std::max<int64_t>(o.count - 1, 1))
                             : rng.uniform(o.x_min, o.x_max);
        const double y = o.amplitude * std::sin(o.frequency * x) + o.noise * rng.normal();
        parts.floats.push_back(static_cast<float>(x));
        parts.targets.push_back(static_cast<float>(y));
    }
    return Dataset::create(std::move(parts));
}

} // namespace neurite::data
