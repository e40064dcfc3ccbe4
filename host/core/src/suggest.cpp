#include "neurite/core/suggest.h"

#include <algorithm>
#include <cctype>

namespace neurite {

namespace {

// Three edits or more and the names have little in common.
constexpr size_t kTypoDistance = 3;

} // namespace

size_t edit_distance(std::string_view a, std::string_view b)
{
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t up = row[j];
            const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                              std::tolower(static_cast<unsigned char>(b[j - 1]));
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (same ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

std::string closest_name(std::string_view given, const std::vector<std::string> &candidates)
{
    const std::string *best = nullptr;
    size_t best_distance = kTypoDistance;
    for (const std::string &name : candidates) {
        const size_t d = edit_distance(given, name);
        if (d < best_distance) {
            best_distance = d;
            best = &name;
        }
    }
    return best ? *best : std::string();
}

std::string suggestion_text(std::string_view given, const std::vector<std::string> &candidates,
                            std::string_view what)
{
    if (const std::string near = closest_name(given, candidates); !near.empty())
        return " (did you mean '" + near + "'?)";
    if (candidates.empty())
        return "";
    std::string list;
    for (const std::string &name : candidates)
        list += (list.empty() ? "" : ", ") + name;
    return " (" + std::string(what) + ": " + list + ")";
}

} // namespace neurite
