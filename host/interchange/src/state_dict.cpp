#include "neurite/interchange/state_dict.h"

#include "neurite/core/error.h"

#include <map>

namespace neurite::interchange {

namespace {

struct Slot {
    std::string key;
    Tensor value; // the live parameter
    std::string layer;
};

void collect(Model &model, const std::string &prefix, std::vector<Slot> &out)
{
    for (int i = 0; i < model.node_count(); ++i) {
        Layer &layer = model.layer(i);
        const std::string head = prefix + std::to_string(i) + ".";
        if (auto *inner = dynamic_cast<Model *>(&layer)) {
            collect(*inner, head, out);
            continue;
        }
        auto *module = dynamic_cast<Module *>(&layer);
        if (!module)
            continue;
        for (Parameter &p : module->parameters())
            out.push_back({head + p.name, p.value, module->name()});
    }
}

std::vector<Slot> slots(Model &model)
{
    model.parameters(); // binds the arena, so the views below are the ones used
    std::vector<Slot> out;
    collect(model, "", out);
    return out;
}

std::string listed(const std::vector<std::string> &items)
{
    std::string s;
    for (size_t i = 0; i < items.size(); ++i)
        s += (i ? ", " : "") + items[i];
    return s;
}

} // namespace

NamedTensors state_dict(Model &model)
{
    NamedTensors out;
    for (const Slot &s : slots(model))
        out.emplace_back(s.key, s.value.clone());
    return out;
}

void load_state_dict(Model &model, const NamedTensors &values, bool strict, const std::string &what)
{
    model.require_idle(what);
    const std::vector<Slot> targets = slots(model);
    std::map<std::string, const Tensor *> given;
    std::vector<std::string> problems, unexpected, missing, shapes;
    for (const auto &[key, t] : values)
        if (!given.emplace(key, &t).second)
            problems.push_back("key '" + key + "' is given twice");
    std::map<std::string, bool> known;
    for (const Slot &s : targets) {
        known[s.key] = true;
        const auto it = given.find(s.key);
        if (it == given.end()) {
            missing.push_back(s.key);
        } else if (!(it->second->shape() == s.value.shape())) {
            shapes.push_back("'" + s.key + "' (" + s.layer + ") is " + s.value.shape().to_string() +
                             " in the model but " + it->second->shape().to_string() + " in the table");
        }
    }
    for (const auto &[key, t] : values)
        if (!known.count(key))
            unexpected.push_back(key);
    if (!unexpected.empty())
        problems.push_back("unexpected key" + std::string(unexpected.size() > 1 ? "s " : " ") + listed(unexpected) +
                           " (the model has no such parameter)");
    if (strict && !missing.empty())
        problems.push_back("missing key" + std::string(missing.size() > 1 ? "s " : " ") + listed(missing) +
                           " (pass {strict = false} to keep those parameters as they are)");
    for (const std::string &s : shapes)
        problems.push_back("shape mismatch: " + s);
    if (!problems.empty()) {
        std::string message = what + ": the model was not changed:";
        for (const std::string &p : problems)
            message += "\n  " + p;
        throw Error(message);
    }
    for (const Slot &s : targets)
        if (const auto it = given.find(s.key); it != given.end()) {
            Tensor target = s.value;
            target.copy_from(*it->second);
        }
}

} // namespace neurite::interchange
