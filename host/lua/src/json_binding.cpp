// neurite.json: Lua values as JSON text and back, read as data (never run),
// which is how a checkpoint stores its metadata. QJsonDocument writes and
// parses; this file only maps Lua's values onto JSON so that they come back
// exactly as they were:
//   integer          a JSON integer (all 64 bits)
//   float            a JSON number when it has a fraction (it reads back as a
//                    float); otherwise, and for NaN and the infinities,
//                    {"$float": "<shortest exact text>"}, since 3.0 would read
//                    back as the integer 3
//   string           a JSON string when it is UTF-8; else {"$bytes": base64}
//   boolean          true, false
//   table            an array for a sequence 1..n, an object when every key
//                    is a string not starting with '$', else {"$pairs":
//                    [[key, value], ...]}; the empty table is []
//   tensor           {"$tensor": i}: the i-th of the list encode returns
//                    beside the text, which a checkpoint stores in a binary
//                    section (numbers in text would be slow and inexact)
// An object with one key starting with '$' is always one of these tags.
//   json.encode(table [, {indent = false}]) -> text, tensors
//   json.decode(text [, tensors]) -> table
#include "binding.h"

#include <QByteArray>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonValue>
#include <QVariant>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace neurite::lua {

namespace {

constexpr int kMaxDepth = 200;

const QString kFloatTag = QStringLiteral("$float");
const QString kBytesTag = QStringLiteral("$bytes");
const QString kPairsTag = QStringLiteral("$pairs");
const QString kTensorTag = QStringLiteral("$tensor");

QJsonValue tagged(const QString &tag, const QJsonValue &value) { return QJsonObject{{tag, value}}; }

// "[key]" (appended: GCC 12 warns falsely about "[" + s + "]").
std::string bracketed(std::string_view key)
{
    std::string s = "[";
    s.append(key);
    s += ']';
    return s;
}

class Encoder {
public:
    Encoder(lua_State *L, int tensors) : m_L(L), m_tensors(tensors) {}

    QJsonValue value(int idx)
    {
        switch (lua_type(m_L, idx)) {
        case LUA_TNUMBER: return number(idx);
        case LUA_TBOOLEAN: return QJsonValue(lua_toboolean(m_L, idx) != 0);
        case LUA_TSTRING: return string(idx);
        case LUA_TTABLE: return table(idx);
        default:
            if (test_tensor(m_L, idx)) {
                lua_pushvalue(m_L, idx);
                lua_rawseti(m_L, m_tensors, ++m_tensor_count);
                return tagged(kTensorTag, QJsonValue(static_cast<qint64>(m_tensor_count)));
            }
            fail("cannot store " + describe_value(m_L, idx));
        }
    }

private:
    QJsonValue number(int idx)
    {
        if (lua_isinteger(m_L, idx))
            return QJsonValue(static_cast<qint64>(lua_tointeger(m_L, idx)));
        const double d = lua_tonumber(m_L, idx);
        if (std::isfinite(d) && d != std::floor(d))
            return QJsonValue(d);
        char text[64];
        const auto end = std::to_chars(text, text + sizeof text, d).ptr;
        return tagged(kFloatTag, QString::fromLatin1(text, end - text));
    }

    QJsonValue string(int idx)
    {
        size_t n = 0;
        const char *s = lua_tolstring(m_L, idx, &n);
        const QByteArrayView bytes(s, static_cast<qsizetype>(n));
        if (bytes.isValidUtf8())
            return QString::fromUtf8(bytes);
        return tagged(kBytesTag, QString::fromLatin1(bytes.toByteArray().toBase64()));
    }

    QJsonValue table(int idx)
    {
        idx = lua_absindex(m_L, idx);
        const void *self = lua_topointer(m_L, idx);
        for (const void *open : m_open)
            if (open == self)
                fail("the table refers to itself");
        if (m_open.size() >= kMaxDepth)
            fail("the tables nest deeper than " + std::to_string(kMaxDepth) + " levels");
        luaL_checkstack(m_L, 8, "json.encode");
        m_open.push_back(self);
        QJsonValue out;
        const Layout layout = layout_of(idx);
        if (layout.count == 0 || layout.sequence)
            out = array(idx, layout.count);
        else if (layout.plain_keys)
            out = object(idx);
        else
            out = tagged(kPairsTag, pairs(idx));
        m_open.pop_back();
        return out;
    }

    struct Layout {
        lua_Integer count = 0;
        bool sequence = true;   // keys are the integers 1..count
        bool plain_keys = true; // keys are strings not starting with '$'
    };

    Layout layout_of(int idx)
    {
        Layout l;
        lua_Integer largest = 0;
        lua_pushnil(m_L);
        while (lua_next(m_L, idx)) {
            lua_pop(m_L, 1);
            ++l.count;
            if (lua_isinteger(m_L, -1) && lua_tointeger(m_L, -1) >= 1)
                largest = std::max(largest, lua_tointeger(m_L, -1));
            else
                l.sequence = false;
            if (lua_type(m_L, -1) != LUA_TSTRING) {
                l.plain_keys = false;
                continue;
            }
            size_t n = 0;
            const char *key = lua_tolstring(m_L, -1, &n);
            if (key[0] == '$' || !QByteArrayView(key, static_cast<qsizetype>(n)).isValidUtf8())
                l.plain_keys = false;
        }
        // Distinct positive integer keys, the largest equal to their count: 1..count.
        l.sequence = l.sequence && largest == l.count;
        return l;
    }

    QJsonArray array(int idx, lua_Integer count)
    {
        QJsonArray out;
        for (lua_Integer i = 1; i <= count; ++i) {
            m_path.push_back(bracketed(std::to_string(i)));
            lua_rawgeti(m_L, idx, i);
            out.append(value(-1));
            lua_pop(m_L, 1);
            m_path.pop_back();
        }
        return out;
    }

    QJsonObject object(int idx)
    {
        QJsonObject out;
        lua_pushnil(m_L);
        while (lua_next(m_L, idx)) {
            const char *key = lua_tostring(m_L, -2);
            m_path.push_back(std::string(".") + key);
            out.insert(QString::fromUtf8(key), value(-1));
            m_path.pop_back();
            lua_pop(m_L, 1);
        }
        return out;
    }

    QJsonArray pairs(int idx)
    {
        QJsonArray out;
        lua_pushnil(m_L);
        while (lua_next(m_L, idx)) {
            m_path.push_back(bracketed(luaL_tolstring(m_L, -2, nullptr)));
            lua_pop(m_L, 1);
            out.append(QJsonArray{value(-2), value(-1)});
            m_path.pop_back();
            lua_pop(m_L, 1);
        }
        return out;
    }

    // The path of the value at fault; a deep one keeps its ends.
    [[noreturn]] void fail(const std::string &why)
    {
        constexpr size_t kEnds = 4;
        std::string where = "the value";
        for (size_t i = 0; i < m_path.size(); ++i) {
            if (m_path.size() > 2 * kEnds && i == kEnds)
                where += "...";
            if (m_path.size() <= 2 * kEnds || i < kEnds || i >= m_path.size() - kEnds)
                where += m_path[i];
        }
        raise(m_L, "json.encode: " + why + " (at " + where + ")");
    }

    lua_State *m_L;
    int m_tensors;
    lua_Integer m_tensor_count = 0;
    std::vector<const void *> m_open;
    std::vector<std::string> m_path;
};

class Decoder {
public:
    Decoder(lua_State *L, int tensors) : m_L(L), m_tensors(tensors) {}

    void push(const QJsonValue &v)
    {
        luaL_checkstack(m_L, 4, "json.decode");
        switch (v.type()) {
        case QJsonValue::Bool: lua_pushboolean(m_L, v.toBool()); break;
        case QJsonValue::Double:
            // QJsonValue keeps whether the text was an integer.
            if (v.toVariant().typeId() == QMetaType::LongLong)
                lua_pushinteger(m_L, v.toInteger());
            else
                lua_pushnumber(m_L, v.toDouble());
            break;
        case QJsonValue::String: push_string(v.toString()); break;
        case QJsonValue::Array: push_array(v.toArray()); break;
        case QJsonValue::Object: push_object(v.toObject()); break;
        default: lua_pushnil(m_L); break;
        }
    }

private:
    void push_string(const QString &s)
    {
        const QByteArray utf8 = s.toUtf8();
        lua_pushlstring(m_L, utf8.constData(), static_cast<size_t>(utf8.size()));
    }

    void push_array(const QJsonArray &a)
    {
        lua_createtable(m_L, static_cast<int>(a.size()), 0);
        for (qsizetype i = 0; i < a.size(); ++i) {
            push(a.at(i));
            lua_rawseti(m_L, -2, static_cast<lua_Integer>(i + 1));
        }
    }

    void push_object(const QJsonObject &o)
    {
        if (o.size() == 1 && o.begin().key().startsWith(u'$')) {
            push_tagged(o.begin().key(), o.begin().value());
            return;
        }
        lua_createtable(m_L, 0, static_cast<int>(o.size()));
        for (auto it = o.begin(); it != o.end(); ++it) {
            push_string(it.key());
            push(it.value());
            lua_rawset(m_L, -3);
        }
    }

    void push_tagged(const QString &tag, const QJsonValue &v)
    {
        if (tag == kFloatTag)
            return push_float(v);
        if (tag == kBytesTag) {
            auto bytes = QByteArray::fromBase64Encoding(v.toString().toLatin1(),
                                                        QByteArray::AbortOnBase64DecodingErrors);
            if (!v.isString() || !bytes)
                fail("{\"$bytes\": ...} must hold base64 text");
            lua_pushlstring(m_L, bytes.decoded.constData(), static_cast<size_t>(bytes.decoded.size()));
            return;
        }
        if (tag == kPairsTag)
            return push_pairs(v);
        if (tag == kTensorTag)
            return push_tensor_ref(v);
        fail("unknown tag '" + tag.toStdString() + "'");
    }

    void push_float(const QJsonValue &v)
    {
        const QByteArray text = v.toString().toLatin1();
        double d = 0;
        const auto [end, ec] = std::from_chars(text.constData(), text.constData() + text.size(), d);
        if (!v.isString() || text.isEmpty() || ec != std::errc() || end != text.constData() + text.size())
            fail("{\"$float\": ...} must hold a number as text, got " +
                 QJsonDocument(QJsonArray{v}).toJson(QJsonDocument::Compact).toStdString());
        lua_pushnumber(m_L, d);
    }

    void push_pairs(const QJsonValue &v)
    {
        if (!v.isArray())
            fail("{\"$pairs\": ...} must hold a list of [key, value] pairs");
        const QJsonArray list = v.toArray();
        lua_createtable(m_L, 0, static_cast<int>(list.size()));
        for (const QJsonValue &item : list) {
            const QJsonArray pair = item.toArray();
            if (!item.isArray() || pair.size() != 2)
                fail("{\"$pairs\": ...} must hold a list of [key, value] pairs");
            push(pair.at(0));
            if (lua_isnil(m_L, -1) || (lua_type(m_L, -1) == LUA_TNUMBER && std::isnan(lua_tonumber(m_L, -1))))
                fail("a key in {\"$pairs\": ...} is null or NaN");
            push(pair.at(1));
            lua_rawset(m_L, -3);
        }
    }

    void push_tensor_ref(const QJsonValue &v)
    {
        const qint64 i = v.toInteger(-1);
        const lua_Integer held = m_tensors ? luaL_len(m_L, m_tensors) : 0;
        if (i < 1 || i > held)
            fail("{\"$tensor\": " + std::to_string(i) + "} refers to tensor " + std::to_string(i) +
                 ", but the list of tensors holds " + std::to_string(held));
        lua_geti(m_L, m_tensors, i);
        if (!test_tensor(m_L, -1))
            fail("element " + std::to_string(i) + " of the list of tensors is " + describe_value(m_L, -1));
    }

    [[noreturn]] void fail(const std::string &why) { raise(m_L, "json.decode: " + why); }

    lua_State *m_L;
    int m_tensors;
};

int json_encode(lua_State *L)
{
    if (!lua_istable(L, 1))
        arg_error(L, 1, "json.encode", "a table (a JSON document is an object or an array)");
    bool indent = false;
    if (lua_istable(L, 2)) {
        check_option_keys(L, 2, "json.encode", {"indent"});
        lua_getfield(L, 2, "indent");
        indent = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    lua_settop(L, 1);
    lua_newtable(L); // 2: the tensors
    QByteArray text;
    {
        Encoder encoder(L, 2);
        const QJsonValue root = encoder.value(1);
        const QJsonDocument doc = root.isArray() ? QJsonDocument(root.toArray()) : QJsonDocument(root.toObject());
        text = doc.toJson(indent ? QJsonDocument::Indented : QJsonDocument::Compact);
    }
    lua_pushlstring(L, text.constData(), static_cast<size_t>(text.size()));
    lua_insert(L, 2);
    return 2;
}

int json_decode(lua_State *L)
{
    size_t n = 0;
    const char *text = luaL_checklstring(L, 1, &n);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    QJsonParseError error{};
    const QJsonDocument doc = QJsonDocument::fromJson(QByteArray(text, static_cast<qsizetype>(n)), &error);
    if (error.error != QJsonParseError::NoError)
        raise(L, "json.decode: not valid JSON at byte " + std::to_string(error.offset + 1) + ": " +
                     error.errorString().toStdString());
    Decoder decoder(L, lua_isnoneornil(L, 2) ? 0 : 2);
    decoder.push(doc.isArray() ? QJsonValue(doc.array()) : QJsonValue(doc.object()));
    return 1;
}

} // namespace

void open_json(lua_State *L)
{
    static const luaL_Reg functions[] = {{"encode", json_encode}, {"decode", json_decode}, {nullptr, nullptr}};
    luaL_newlib(L, functions);
}

} // namespace neurite::lua
