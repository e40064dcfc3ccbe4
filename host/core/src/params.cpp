#include "neurite/core/params.h"

#include "neurite/core/error.h"
#include "neurite/core/suggest.h"

#include <cmath>
#include <sstream>

namespace neurite {

namespace {

std::string number_text(double v)
{
    std::ostringstream s;
    s.precision(10);
    s << v;
    return s.str();
}

std::string join(const std::vector<std::string> &items, const char *sep)
{
    std::string out;
    for (size_t i = 0; i < items.size(); ++i)
        out += (i ? sep : "") + items[i];
    return out;
}

const char *value_kind(const ParamValue &v)
{
    switch (v.index()) {
    case 0: return "a number";
    case 1: return "a boolean";
    case 2: return "a string";
    default: return "a list";
    }
}

void check_range(const std::string &where, const ParamSpec &spec, double v)
{
    if (!std::isfinite(v))
        throw Error(where + " must be finite, got " + number_text(v));
    if (spec.has_range() && (v < spec.min || v > spec.max))
        throw Error(where + " = " + number_text(v) + " is outside its range " + spec.range_text());
}

// One integer (for both dimensions), a list {h, w} of integers, or a word of
// the spec's choices; canonical form: the list of two, or the word.
ParamValue check_pair(const std::string &where, const ParamSpec &spec, const ParamValue &v)
{
    auto integer = [&](double d) {
        if (!std::isfinite(d) || d != std::floor(d))
            throw Error(where + " must be whole numbers, got " + number_text(d));
        check_range(where, spec, d);
        return d;
    };
    if (const double *d = std::get_if<double>(&v)) {
        const double n = integer(*d);
        return std::vector<double>{n, n};
    }
    if (const auto *list = std::get_if<std::vector<double>>(&v)) {
        if (list->size() != 2)
            throw Error(where + " must be one integer or a pair {h, w}, got " + std::to_string(list->size()) +
                        " numbers " + param_value_text(v));
        return std::vector<double>{integer((*list)[0]), integer((*list)[1])};
    }
    if (const auto *word = std::get_if<std::string>(&v)) {
        for (const std::string &c : spec.choices)
            if (c == *word)
                return v;
        if (spec.choices.empty())
            throw Error(where + " must be one integer or a pair {h, w}, got \"" + *word + "\"");
        throw Error(where + " must be one integer, a pair {h, w} or one of " + join(spec.choices, ", ") +
                    "; got \"" + *word + "\"");
    }
    throw Error(where + " must be one integer or a pair {h, w}, got " + value_kind(v) + " (" +
                param_value_text(v) + ")");
}

// Checks one user value against its spec and returns it in canonical form.
ParamValue check(const std::string &owner, const ParamSpec &spec, const ParamValue &v)
{
    const std::string where = owner + ": parameter '" + spec.name + "'";
    auto wrong = [&](const char *expected) {
        return Error(where + " must be " + expected + ", got " + value_kind(v) + " (" +
                     param_value_text(v) + ")");
    };
    switch (spec.type) {
    case ParamType::Int: {
        if (v.index() != 0)
            throw wrong("an integer");
        double d = std::get<double>(v);
        if (std::isfinite(d) && d != std::floor(d))
            throw Error(where + " must be an integer, got " + number_text(d));
        check_range(where, spec, d);
        return d;
    }
    case ParamType::Float: {
        if (v.index() != 0)
            throw wrong("a number");
        check_range(where, spec, std::get<double>(v));
        return v;
    }
    case ParamType::Bool:
        if (v.index() != 1)
            throw wrong("true or false");
        return v;
    case ParamType::String: {
        if (v.index() != 2)
            throw wrong("a string");
        const std::string &s = std::get<std::string>(v);
        if (!spec.choices.empty()) {
            bool ok = false;
            for (const std::string &c : spec.choices)
                ok = ok || c == s;
            if (!ok)
                throw Error(where + " must be one of " + join(spec.choices, ", ") + "; got \"" + s +
                            "\"");
        }
        return v;
    }
    case ParamType::FloatList: {
        if (v.index() != 3)
            throw wrong("a list of numbers");
        const auto &list = std::get<std::vector<double>>(v);
        // list_length 0: as many numbers as the user gives (a shape), at least one.
        if (spec.list_length == 0 && list.empty())
            throw Error(where + " must have at least one number, got an empty list");
        if (spec.list_length > 0 && static_cast<int>(list.size()) != spec.list_length)
            throw Error(where + " must have " + std::to_string(spec.list_length) +
                        " numbers, got " + std::to_string(list.size()));
        for (double d : list)
            check_range(where, spec, d);
        return v;
    }
    case ParamType::IntPair: return check_pair(where, spec, v);
    }
    throw Error(where + " has an unknown type");
}

} // namespace

const char *param_type_name(ParamType type)
{
    switch (type) {
    case ParamType::Int: return "int";
    case ParamType::Float: return "float";
    case ParamType::Bool: return "bool";
    case ParamType::String: return "string";
    case ParamType::FloatList: return "float list";
    case ParamType::IntPair: return "int or {h, w}";
    }
    return "?";
}

std::string param_value_text(const ParamValue &v)
{
    switch (v.index()) {
    case 0: return number_text(std::get<double>(v));
    case 1: return std::get<bool>(v) ? "true" : "false";
    case 2: return "\"" + std::get<std::string>(v) + "\"";
    default: {
        std::string s = "{";
        const auto &list = std::get<std::vector<double>>(v);
        for (size_t i = 0; i < list.size(); ++i)
            s += (i ? ", " : "") + number_text(list[i]);
        return s + "}";
    }
    }
}

std::string ParamSpec::default_text() const
{
    if (required)
        return "required";
    switch (type) {
    case ParamType::Int:
    case ParamType::Float: return number_text(default_number);
    case ParamType::Bool: return default_number != 0 ? "true" : "false";
    case ParamType::String: return "\"" + default_string + "\"";
    case ParamType::FloatList: return param_value_text(default_list);
    case ParamType::IntPair:
        return default_list.empty() ? "\"" + default_string + "\"" : param_value_text(default_list);
    }
    return "";
}

std::string ParamSpec::range_text() const
{
    if (type == ParamType::String)
        return join(choices, "|");
    if (type == ParamType::IntPair && !choices.empty()) {
        std::string text = has_range() ? "[" + number_text(min) + ", " + number_text(max) + "]|" : "";
        return text + join(choices, "|");
    }
    if (type == ParamType::Bool || !has_range())
        return "";
    std::string text = "[";
    text += number_text(min);
    text += ", ";
    text += number_text(max);
    text += "]";
    return text;
}

ResolvedParams::ResolvedParams(const std::string &owner, const std::vector<ParamSpec> &schema,
                               const ParamList &given)
{
    for (const auto &[name, value] : given) {
        bool known = false;
        for (const ParamSpec &spec : schema)
            known = known || spec.name == name;
        if (!known) {
            std::vector<std::string> names;
            for (const ParamSpec &spec : schema)
                names.push_back(spec.name);
            throw Error(owner + ": unknown parameter '" + name + "'" +
                        (names.empty() ? std::string(" (it takes none)")
                                       : suggestion_text(name, names, "parameters")));
        }
    }
    for (const ParamSpec &spec : schema) {
        const ParamValue *user = nullptr;
        for (const auto &[name, value] : given)
            if (name == spec.name)
                user = &value;
        if (user) {
            m_values.emplace_back(spec.name, check(owner, spec, *user));
            continue;
        }
        if (spec.required)
            throw Error(owner + ": parameter '" + spec.name + "' is required (" + spec.doc + ")");
        switch (spec.type) {
        case ParamType::Int:
        case ParamType::Float: m_values.emplace_back(spec.name, spec.default_number); break;
        case ParamType::Bool: m_values.emplace_back(spec.name, spec.default_number != 0); break;
        case ParamType::String: m_values.emplace_back(spec.name, spec.default_string); break;
        case ParamType::FloatList: m_values.emplace_back(spec.name, spec.default_list); break;
        case ParamType::IntPair:
            if (spec.default_list.empty())
                m_values.emplace_back(spec.name, spec.default_string);
            else
                m_values.emplace_back(spec.name, spec.default_list);
            break;
        }
    }
    m_c_values.resize(m_values.size());
    for (size_t i = 0; i < m_values.size(); ++i) {
        nrt_param_value &c = m_c_values[i];
        const ParamValue &v = m_values[i].second;
        c.struct_size = sizeof(nrt_param_value);
        c.type = static_cast<int32_t>(schema[i].type);
        c.name = m_values[i].first.c_str();
        if (v.index() == 0)
            c.number = std::get<double>(v);
        else if (v.index() == 1)
            c.number = std::get<bool>(v) ? 1.0 : 0.0;
        else if (v.index() == 2)
            c.string = std::get<std::string>(v).c_str();
        else {
            const auto &list = std::get<std::vector<double>>(v);
            c.list = list.data();
            c.list_length = static_cast<int32_t>(list.size());
        }
    }
    m_c.struct_size = sizeof(nrt_params);
    m_c.count = static_cast<int32_t>(m_c_values.size());
    m_c.values = m_c_values.data();
}

} // namespace neurite
