#include "neurite/core/data/csv.h"

#include "neurite/core/data/file_bytes.h"

#include "parse_errors.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

namespace neurite::data {

namespace {

constexpr char kDelimiters[] = {',', ';', '\t', '|'};
constexpr size_t kMaxWarnings = 100; // a file of bad rows must not flood the GUI

struct Record {
    std::vector<std::string> fields;
    int64_t line = 0; // where the record starts
};

std::string_view trim_blanks(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// Splits text into records, honouring quotes; a quoted field may span lines.
class RecordReader {
public:
    RecordReader(std::string_view text, const std::string &source, char delimiter)
        : m_text(text), m_source(source), m_delimiter(delimiter)
    {
    }

    // False at the end; blank lines are skipped.
    bool next(Record &record)
    {
        for (;;) {
            if (m_pos >= m_text.size())
                return false;
            if (at_line_end()) {
                skip_line_end();
                continue;
            }
            read_record(record);
            if (!record.fields.empty())
                return true;
        }
    }

private:
    bool at_line_end() const { return m_text[m_pos] == '\n' || m_text[m_pos] == '\r'; }

    void skip_line_end()
    {
        if (m_text[m_pos] == '\r' && m_pos + 1 < m_text.size() && m_text[m_pos + 1] == '\n')
            ++m_pos;
        ++m_pos;
        ++m_line;
    }

    void read_record(Record &record)
    {
        record.line = m_line;
        size_t used = 0;
        for (;;) {
            if (used == record.fields.size())
                record.fields.emplace_back();
            std::string &field = record.fields[used++];
            field.clear();
            read_field(field);
            if (m_pos >= m_text.size())
                break;
            if (at_line_end()) {
                skip_line_end();
                break;
            }
            ++m_pos; // the delimiter
        }
        record.fields.resize(used);
        if (used == 1 && trim_blanks(record.fields[0]).empty())
            record.fields.clear(); // a line of blanks
    }

    void read_field(std::string &field)
    {
        size_t start = m_pos;
        while (start < m_text.size() && (m_text[start] == ' ' || m_text[start] == '\t') &&
               m_text[start] != m_delimiter)
            ++start;
        if (start >= m_text.size() || m_text[start] != '"') {
            const char stops[] = {m_delimiter, '\n', '\r', '\0'};
            const size_t end = std::min(m_text.find_first_of(stops, m_pos), m_text.size());
            field.assign(m_text.substr(m_pos, end - m_pos));
            m_pos = end;
            return;
        }
        const int64_t opened = m_line;
        m_pos = start + 1;
        for (;;) {
            if (m_pos >= m_text.size())
                detail::fail_at_line(m_source, opened, "a quoted field is not closed");
            const char c = m_text[m_pos++];
            if (c == '"') {
                if (m_pos < m_text.size() && m_text[m_pos] == '"') {
                    field += '"';
                    ++m_pos;
                    continue;
                }
                break;
            }
            if (c == '\n' || (c == '\r' && (m_pos >= m_text.size() || m_text[m_pos] != '\n')))
                ++m_line;
            field += c;
        }
        while (m_pos < m_text.size() && (m_text[m_pos] == ' ' || m_text[m_pos] == '\t') &&
               m_text[m_pos] != m_delimiter)
            ++m_pos;
        if (m_pos < m_text.size() && m_text[m_pos] != m_delimiter && !at_line_end())
            detail::fail_at_line(m_source, m_line,
                                 "unexpected " + detail::quoted(std::string_view(&m_text[m_pos], 1)) +
                                     " after a closing quote (a quote inside a quoted field is written \"\")");
    }

    std::string_view m_text;
    const std::string &m_source;
    char m_delimiter;
    size_t m_pos = 0;
    int64_t m_line = 1;
};

// Empty, or one of the usual spellings of "no value", in any case.
bool is_missing(std::string_view field)
{
    const std::string_view text = trim_blanks(field);
    if (text.size() > 4)
        return false;
    char lower[4];
    for (size_t i = 0; i < text.size(); ++i)
        lower[i] = static_cast<char>(text[i] >= 'A' && text[i] <= 'Z' ? text[i] - 'A' + 'a' : text[i]);
    const std::string_view word(lower, text.size());
    return word.empty() || word == "na" || word == "n/a" || word == "nan" || word == "null" ||
           word == "none" || word == "?";
}

// A finite number, also with a decimal comma ("1,5") when commas do not
// separate fields, as spreadsheets write it in many locales.
bool parse_number(std::string_view field, char delimiter, float &value)
{
    std::string_view text = trim_blanks(field);
    if (!text.empty() && text.front() == '+')
        text.remove_prefix(1);
    if (text.empty())
        return false;
    auto attempt = [&](std::string_view t) {
        const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
        return ec == std::errc() && end == t.data() + t.size() && std::isfinite(value);
    };
    if (attempt(text))
        return true;
    if (delimiter != ',' && std::count(text.begin(), text.end(), ',') == 1 &&
        text.find('.') == std::string_view::npos) {
        std::string dotted(text);
        dotted[dotted.find(',')] = '.';
        return attempt(dotted);
    }
    return false;
}

// Counts a delimiter outside quotes on the first (non-blank) lines.
std::vector<size_t> delimiter_counts(std::string_view text, char delimiter, size_t lines)
{
    std::vector<size_t> counts;
    size_t count = 0;
    bool quoted = false, content = false;
    for (size_t i = 0; i < text.size() && counts.size() < lines; ++i) {
        const char c = text[i];
        if (c == '"')
            quoted = !quoted;
        if (!quoted && (c == '\n' || c == '\r')) {
            if (content)
                counts.push_back(count);
            count = 0;
            content = false;
            continue;
        }
        content = content || (c != ' ' && c != '\t');
        count += !quoted && c == delimiter;
    }
    if (content && counts.size() < lines)
        counts.push_back(count);
    return counts;
}

// The candidate that splits the first line most often, preferring one that
// splits the second line as often; ',' for a single column.
char detect_delimiter(std::string_view text)
{
    char best = ',';
    size_t best_score = 0;
    bool best_consistent = false;
    for (char d : kDelimiters) {
        const std::vector<size_t> counts = delimiter_counts(text, d, 2);
        if (counts.empty() || counts[0] == 0)
            continue;
        const bool consistent = counts.size() < 2 || counts[1] == counts[0];
        if ((consistent && !best_consistent) || (consistent == best_consistent && counts[0] > best_score)) {
            best = d;
            best_score = counts[0];
            best_consistent = consistent;
        }
    }
    return best;
}

bool looks_like_header(const Record &first, const Record *second, char delimiter)
{
    float v;
    for (size_t j = 0; j < first.fields.size(); ++j) {
        const std::string &f = first.fields[j];
        if (is_missing(f) || parse_number(f, delimiter, v))
            continue;
        if (!second)
            return true; // text in a lone row: names, not data
        if (j < second->fields.size() && parse_number(second->fields[j], delimiter, v))
            return true;
    }
    return false;
}

std::string column_text(size_t j, const std::vector<std::string> &names)
{
    std::string text = "column " + std::to_string(j + 1);
    if (j < names.size() && !names[j].empty())
        text += " (" + detail::quoted(names[j]) + ")";
    return text;
}

size_t resolve_target(const CsvOptions &options, const std::vector<std::string> &names,
                      size_t columns, bool has_header, const std::string &source)
{
    if (!options.target_column.empty()) {
        if (!has_header)
            detail::fail(source, "the target column " + detail::quoted(options.target_column) +
                                     " is chosen by name, but the file has no header row");
        for (size_t j = 0; j < names.size(); ++j)
            if (trim_blanks(names[j]) == options.target_column)
                return j;
        std::string known;
        for (size_t j = 0; j < names.size(); ++j)
            known += (j ? ", " : "") + detail::quoted(names[j]);
        detail::fail(source, "no column is named " + detail::quoted(options.target_column) +
                                 "; the columns are " + known);
    }
    const int64_t n = static_cast<int64_t>(columns);
    const int64_t j = options.target_index < 0 ? n + options.target_index : options.target_index;
    if (j < 0 || j >= n)
        detail::fail(source, "target column index " + std::to_string(options.target_index) +
                                 " is outside the " + std::to_string(n) + " columns");
    return static_cast<size_t>(j);
}

// Distinct target texts become classes in sorted order (numerically when
// they are all numbers, so "10" follows "9").
void assign_classes(const std::vector<std::string> &texts, char delimiter, DatasetParts &parts)
{
    bool numeric = true;
    float v;
    for (const std::string &t : texts)
        numeric = numeric && parse_number(t, delimiter, v);
    auto order = [&](const std::string &a, const std::string &b) {
        if (!numeric)
            return a < b;
        float x, y;
        parse_number(a, delimiter, x);
        parse_number(b, delimiter, y);
        return x < y || (x == y && a < b);
    };
    std::map<std::string, int64_t, decltype(order)> classes(order);
    for (const std::string &t : texts)
        classes.emplace(t, 0);
    int64_t next = 0;
    for (auto &[name, index] : classes) {
        index = next++;
        parts.class_names.push_back(name);
    }
    parts.class_count = next;
    parts.targets.reserve(texts.size());
    for (const std::string &t : texts)
        parts.targets.push_back(static_cast<float>(classes.at(t)));
}

} // namespace

Dataset parse_csv(std::span<const uint8_t> bytes, const std::string &source, const CsvOptions &options)
{
    std::string_view text(reinterpret_cast<const char *>(bytes.data()), bytes.size());
    if (text.starts_with("\xEF\xBB\xBF")) // a UTF-8 byte order mark, as spreadsheets write
        text.remove_prefix(3);
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
        detail::fail(source, "the file is empty");
    const char delimiter = options.delimiter ? options.delimiter : detect_delimiter(text);
    RecordReader reader(text, source, delimiter);

    Record first, second;
    if (!reader.next(first))
        detail::fail(source, "the file is empty");
    const bool has_second = reader.next(second);
    const bool has_header = options.header == HeaderMode::Present ||
                            (options.header == HeaderMode::Auto &&
                             looks_like_header(first, has_second ? &second : nullptr, delimiter));
    const size_t columns = first.fields.size();
    std::vector<std::string> names;
    if (has_header)
        for (const std::string &f : first.fields)
            names.emplace_back(trim_blanks(f));
    if (has_header && !has_second)
        detail::fail_at_line(source, first.line, "there are no data rows after the header");

    const bool with_target = options.target != TargetMode::None;
    const size_t target = with_target ? resolve_target(options, names, columns, has_header, source) : columns;
    const int64_t features = static_cast<int64_t>(columns) - (with_target ? 1 : 0);
    if (features < 1)
        detail::fail_at_line(source, first.line, "there is no feature column besides the target (" +
                                                     column_text(target, names) + ")");

    DatasetParts parts;
    parts.source = source;
    parts.input_shape = Shape{features};
    for (size_t j = 0; j < names.size(); ++j)
        if (j != target)
            parts.feature_names.push_back(names[j]);
    if (target < names.size())
        parts.target_name = names[target];
    std::vector<std::string> target_texts;
    std::vector<int64_t> target_lines;
    int64_t skipped = 0;
    auto add_row = [&](const Record &record) {
        if (record.fields.size() != columns)
            detail::fail_at_line(source, record.line,
                                 detail::plural(static_cast<int64_t>(record.fields.size()), "field", "fields") +
                                     ", expected " + std::to_string(columns) + " like line " +
                                     std::to_string(first.line));
        for (size_t j = 0; j < columns; ++j) {
            if (!is_missing(record.fields[j]))
                continue;
            const std::string missing =
                (j == target ? "missing target in " : "missing value in ") + column_text(j, names);
            if (!options.skip_incomplete_rows)
                detail::fail_at_line(source, record.line, missing);
            if (parts.warnings.size() < kMaxWarnings)
                parts.warnings.push_back(source + ": line " + std::to_string(record.line) + ": " +
                                         missing + "; the row is skipped");
            ++skipped;
            return;
        }
        for (size_t j = 0; j < columns; ++j) {
            if (j == target)
                continue;
            float value;
            if (!parse_number(record.fields[j], delimiter, value))
                detail::fail_at_line(source, record.line,
                                     column_text(j, names) + ": " +
                                         detail::quoted(trim_blanks(record.fields[j])) +
                                         " is not a number (features must be numeric)");
            parts.floats.push_back(value);
        }
        if (with_target) {
            target_texts.emplace_back(trim_blanks(record.fields[target]));
            target_lines.push_back(record.line);
        }
        ++parts.count;
    };
    if (!has_header)
        add_row(first);
    if (has_second)
        add_row(second);
    Record record;
    while (reader.next(record))
        add_row(record);

    if (skipped > static_cast<int64_t>(kMaxWarnings))
        parts.warnings.push_back(source + ": " + std::to_string(skipped - static_cast<int64_t>(kMaxWarnings)) +
                                 " more rows with missing values are skipped");
    if (parts.count == 0)
        detail::fail(source, "every data row has a missing value; no samples are left");
    if (!with_target)
        return Dataset::create(std::move(parts));

    bool all_numeric = true;
    float value;
    for (const std::string &t : target_texts)
        all_numeric = all_numeric && parse_number(t, delimiter, value);
    const TargetMode mode = options.target == TargetMode::Auto
                                ? (all_numeric ? TargetMode::Values : TargetMode::Classes)
                                : options.target;
    if (mode == TargetMode::Classes) {
        parts.target_kind = TargetKind::Classes;
        assign_classes(target_texts, delimiter, parts);
    } else {
        parts.target_kind = TargetKind::Values;
        parts.target_width = 1;
        for (size_t i = 0; i < target_texts.size(); ++i) {
            if (!parse_number(target_texts[i], delimiter, value))
                detail::fail_at_line(source, target_lines[i],
                                     column_text(target, names) + ": target " + detail::quoted(target_texts[i]) +
                                         " is not a number (choose class targets for text)");
            parts.targets.push_back(value);
        }
    }
    return Dataset::create(std::move(parts));
}

Dataset load_csv(const std::string &path, const CsvOptions &options)
{
    return parse_csv(read_maybe_gzip(path), path, options);
}

} // namespace neurite::data
