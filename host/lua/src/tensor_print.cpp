// tostring(t): the shape, then the values as aligned rows (t contiguous). Large tensors
// show their first and last few entries of each long dimension, as NumPy
// does, so printing a 60000 x 784 dataset stays one screen.
#include "binding.h"

#include <cmath>
#include <cstdio>
#include <vector>

namespace neurite::lua {

namespace {

constexpr int64_t kElideAbove = 200; // elements; smaller tensors print in full
constexpr int64_t kEdge = 3;         // entries kept at each end of a long dimension

struct Format {
    bool integers = true;
    bool scientific = false;
    int width = 1;
};

// Indices of dimension d to show; -1 marks the elided middle.
std::vector<int64_t> shown(int64_t n, bool elide)
{
    std::vector<int64_t> idx;
    if (!elide || n <= 2 * kEdge + 1) {
        for (int64_t i = 0; i < n; ++i)
            idx.push_back(i);
        return idx;
    }
    for (int64_t i = 0; i < kEdge; ++i)
        idx.push_back(i);
    idx.push_back(-1);
    for (int64_t i = n - kEdge; i < n; ++i)
        idx.push_back(i);
    return idx;
}

std::string number(float v, const Format &f)
{
    char buf[48];
    if (std::isnan(v))
        std::snprintf(buf, sizeof buf, "nan");
    else if (std::isinf(v))
        std::snprintf(buf, sizeof buf, v > 0 ? "inf" : "-inf");
    else if (f.integers)
        std::snprintf(buf, sizeof buf, "%.0f", static_cast<double>(v));
    else if (f.scientific)
        std::snprintf(buf, sizeof buf, "%.4e", static_cast<double>(v));
    else
        std::snprintf(buf, sizeof buf, "%.4f", static_cast<double>(v));
    return buf;
}

std::string pad(const std::string &s, int width)
{
    return std::string(static_cast<size_t>(std::max(0, width - static_cast<int>(s.size()))), ' ') + s;
}

} // namespace

std::string tensor_text(const Tensor &t)
{
    std::string out = "tensor " + t.shape().to_string();
    if (!t.defined() || t.numel() == 0)
        return out + " (empty)";
    const bool elide = t.numel() > kElideAbove;
    const int nd = t.dim();
    std::vector<std::vector<int64_t>> idx;
    for (int d = 0; d < nd; ++d)
        idx.push_back(shown(t.size(d), elide));

    // One format for every shown value, so the columns line up.
    Format f;
    double largest = 0, smallest = HUGE_VAL;
    auto visit = [&](auto &&fn) {
        std::vector<size_t> k(static_cast<size_t>(nd), 0);
        while (true) {
            bool skip = false;
            int64_t flat = 0;
            for (int d = 0; d < nd; ++d) {
                const int64_t i = idx[static_cast<size_t>(d)][k[static_cast<size_t>(d)]];
                skip = skip || i < 0;
                flat = flat * t.size(d) + std::max<int64_t>(i, 0);
            }
            if (!skip)
                fn(t[flat]);
            int d = nd - 1;
            for (; d >= 0; --d) {
                if (++k[static_cast<size_t>(d)] < idx[static_cast<size_t>(d)].size())
                    break;
                k[static_cast<size_t>(d)] = 0;
            }
            if (d < 0)
                break;
        }
    };
    visit([&](float v) {
        if (!std::isfinite(v))
            return;
        f.integers = f.integers && v == std::floor(v) && std::fabs(v) < 1e7;
        largest = std::max(largest, static_cast<double>(std::fabs(v)));
        if (v != 0)
            smallest = std::min(smallest, static_cast<double>(std::fabs(v)));
    });
    f.scientific = !f.integers && (largest >= 1e5 || (smallest < 1e-3 && largest < 1e-2));
    visit([&](float v) { f.width = std::max(f.width, static_cast<int>(number(v, f).size())); });

    if (nd == 0) // a 0-d tensor: its one value
        return out + "\n  " + number(t[0], f);
    // Rows of the last dimension; a header "(i, j, :)" before each matrix of a 3-D+ tensor.
    const int64_t cols = nd >= 1 ? t.size(nd - 1) : 1;
    const std::vector<int64_t> &col_idx = idx[static_cast<size_t>(nd - 1)];
    auto row_text = [&](int64_t base) {
        std::string line = " ";
        for (int64_t c : col_idx) {
            line += ' ';
            line += c < 0 ? pad("...", f.width) : pad(number(t[base + c], f), f.width);
        }
        line += '\n';
        return line;
    };
    out += "\n";
    if (nd == 1) {
        out += row_text(0);
        out.pop_back();
        return out;
    }
    const int64_t rows = t.size(nd - 2);
    const std::vector<int64_t> &row_idx = idx[static_cast<size_t>(nd - 2)];
    std::vector<size_t> k(static_cast<size_t>(std::max(0, nd - 2)), 0);
    while (true) {
        bool skip = false;
        int64_t block = 0;
        std::string header = "(";
        for (int d = 0; d < nd - 2; ++d) {
            const int64_t i = idx[static_cast<size_t>(d)][k[static_cast<size_t>(d)]];
            skip = skip || i < 0;
            block = block * t.size(d) + std::max<int64_t>(i, 0);
            header += (i < 0 ? std::string("...") : std::to_string(i + 1)) + ", ";
        }
        if (nd > 2)
            out += skip ? std::string("...\n") : header + ":, :)\n";
        if (!skip)
            for (int64_t r : row_idx)
                out += r < 0 ? std::string("  ...\n") : row_text((block * rows + r) * cols);
        int d = nd - 3;
        for (; d >= 0; --d) {
            if (++k[static_cast<size_t>(d)] < idx[static_cast<size_t>(d)].size())
                break;
            k[static_cast<size_t>(d)] = 0;
        }
        if (d < 0)
            break;
    }
    out.pop_back(); // the last newline
    return out;
}

} // namespace neurite::lua
