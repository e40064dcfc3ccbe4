#pragma once

// "Did you mean ...?": the one place that decides which known name a
// mistyped one was meant to be, for plugin names, options and choices alike.
#include <string>
#include <string_view>
#include <vector>

namespace neurite {

// Levenshtein distance, ignoring ASCII case.
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate nearest to `given` when it is near enough to be a likely
// typo (at most two edits); empty when none is.
std::string closest_name(std::string_view given, const std::vector<std::string> &candidates);

// " (did you mean 'x'?)" when a candidate is near `given`, otherwise
// " (<what>: a, b, c)" listing them all, or "" when there are none.
std::string suggestion_text(std::string_view given, const std::vector<std::string> &candidates,
                            std::string_view what);

} // namespace neurite
