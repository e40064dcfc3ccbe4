#pragma once

#include <neurite/plugin_abi.h>

#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace neurite {

enum class ParamType { Int = NRT_PARAM_INT, Float = NRT_PARAM_FLOAT, Bool = NRT_PARAM_BOOL,
                       String = NRT_PARAM_STRING, FloatList = NRT_PARAM_FLOAT_LIST,
                       IntPair = NRT_PARAM_INT_PAIR };

const char *param_type_name(ParamType type);

// One parameter of a plugin's schema, copied out of the library.
struct ParamSpec {
    std::string name;
    std::string doc;
    ParamType type = ParamType::Float;
    bool required = false;
    double default_number = 0;
    std::string default_string;
    std::vector<double> default_list; // FloatList; IntPair when its default is a pair
    int list_length = 0;
    double min = 1, max = 0; // a range only when min <= max
    std::vector<std::string> choices;

    bool has_range() const { return min <= max; }
    std::string default_text() const; // "0.01", "true", "\"xavier\"", "{0.9, 0.999}", "required"
    std::string range_text() const;   // "[0, 1]", "xavier|he", "" when unconstrained
};

// What a user passes: a number (Int and Float), a bool, a string or a list.
using ParamValue = std::variant<double, bool, std::string, std::vector<double>>;
using ParamList = std::vector<std::pair<std::string, ParamValue>>;

std::string param_value_text(const ParamValue &value);

// User values checked against a schema, every parameter present in schema
// order with defaults filled in, laid out as the nrt_params a plugin reads.
class ResolvedParams {
public:
    // Throws Error naming `owner` ("Dense"), the parameter and the value.
    ResolvedParams(const std::string &owner, const std::vector<ParamSpec> &schema,
                   const ParamList &given);
    ResolvedParams(const ResolvedParams &) = delete;
    ResolvedParams &operator=(const ResolvedParams &) = delete;

    const nrt_params *c_params() const { return &m_c; }
    // The complete list, for saving a model and rebuilding it.
    const ParamList &values() const { return m_values; }

private:
    ParamList m_values;
    std::vector<nrt_param_value> m_c_values;
    nrt_params m_c{};
};

} // namespace neurite
