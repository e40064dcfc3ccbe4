// The registry and the errors a user meets: each bad plugin is refused with
// its own message, each bad call names the layer, the values and the shapes,
// and the host keeps working afterwards.
#include "test_support.h"

#include "neurite/core/sequential.h"

#include <QtTest>

using namespace neurite;

namespace {

const std::string kFixtures = FIXTURE_DIR;

std::string refusal_for(const Registry &reg, const std::string &file_name)
{
    for (const Refusal &r : reg.refusals())
        if (r.file.find(file_name) != std::string::npos)
            return r.reason;
    return {};
}

#define QVERIFY_ERROR(statement, ...)                                                      \
    do {                                                                                   \
        try {                                                                              \
            statement;                                                                     \
            QFAIL("no error from: " #statement);                                          \
        } catch (const Error &e) {                                                         \
            const QString what = e.what();                                                 \
            for (const char *part : {__VA_ARGS__})                                        \
                QVERIFY2(what.contains(QString::fromUtf8(part)),                           \
                         qPrintable("'" + what + "' lacks '" + part + "'"));               \
        }                                                                                  \
    } while (0)

} // namespace

class TestRegistry : public QObject {
    Q_OBJECT

private slots:
    void builtins_are_listed()
    {
        const Registry &reg = test::registry();
        QVERIFY2(reg.refusals().empty(),
                 reg.refusals().empty() ? "" : reg.refusals()[0].reason.c_str());
        const char *expected[] = {
            "Dense", "Identity", "BinaryStep", "Sign", "Sigmoid", "Tanh", "ArcTan", "ReLU",
            "LeakyReLU", "PReLU", "ELU", "SoftPlus", "Softmax", "LogSoftmax", "GELU", "Swish",
            "MSELoss", "BCELoss", "CrossEntropyLoss", "CategoricalCrossEntropyLoss", "KLDivLoss",
            "MAELoss", "HuberLoss", "SGD", "Adam", "AdamW", "RMSProp", "Adagrad"};
        for (const char *name : expected) {
            const Entry *e = reg.find(name);
            QVERIFY2(e, name);
            QVERIFY2(!e->summary.empty() && !e->version.empty(), name);
            QVERIFY2(e->origin.find(".so") != std::string::npos, name);
            for (const ParamSpec &p : e->params)
                QVERIFY2(!p.doc.empty(), qPrintable(QString("%1.%2 has no doc").arg(name, p.name.c_str())));
        }
        // Each family comes from its own library in plugins/<kind>/<name>/.
        const std::pair<const char *, const char *> libraries[] = {
            {"Dense", "neurite_layer_dense.so"},           {"Sigmoid", "neurite_activation_eltwise.so"},
            {"BinaryStep", "neurite_activation_pointwise.so"}, {"Softmax", "neurite_activation_softmax.so"},
            {"PReLU", "neurite_activation_prelu.so"},       {"MSELoss", "neurite_loss_regression.so"},
            {"BCELoss", "neurite_loss_crossentropy.so"},    {"SGD", "neurite_optimizer_sgd.so"},
            {"AdamW", "neurite_optimizer_adam.so"},         {"RMSProp", "neurite_optimizer_rmsprop.so"},
            {"Adagrad", "neurite_optimizer_adagrad.so"}};
        for (const auto &[name, library] : libraries)
            QVERIFY2(QString::fromStdString(reg.find(name)->origin).endsWith(library), name);
        QCOMPARE(reg.find("Dense")->kind, Kind::Layer);
        QCOMPARE(reg.find("ReLU")->kind, Kind::Activation);
        QCOMPARE(reg.find("MSELoss")->kind, Kind::Loss);
        QCOMPARE(reg.find("Adam")->kind, Kind::Optimizer);
        const std::string help = reg.find("Dense")->help();
        QVERIFY(help.find("inputs (int, required") != std::string::npos);
        QVERIFY(help.find("xavier") != std::string::npos);
    }

    void good_fixture_loads()
    {
        Registry reg;
        QVERIFY(reg.load_library(kFixtures + "/good.so"));
        QVERIFY(reg.refusals().empty());
        auto layer = reg.create_layer("FixtureScale", {{"factor", 3.0}}, test::context(), 0);
        const Tensor x = Tensor::from(Shape{2}, {1, -2});
        Tensor y(layer->prepare(x.shape()));
        layer->forward_plain(x, y, true);
        QCOMPARE(y.to_vector(), (std::vector<float>{3, -6}));
    }

    // Every built-in is built against this SDK: the current ABI, its struct
    // sizes, and every loss declares what its target holds.
    void builtins_speak_the_current_abi()
    {
        const Registry &reg = test::registry();
        QVERIFY(!reg.entries().empty());
        for (const Entry &e : reg.entries()) {
            QVERIFY2(e.abi_major == NRT_ABI_MAJOR && e.abi_minor == NRT_ABI_MINOR, e.name.c_str());
            QVERIFY(e.native);
            QCOMPARE(e.native->struct_size, uint32_t(sizeof(nrt_entry)));
            if (e.kind != Kind::Loss)
                continue;
            const LossTarget want = e.name == "CrossEntropyLoss" ? LossTarget::ClassIndex : LossTarget::SameShape;
            QVERIFY2(e.loss_target == want, e.name.c_str());
        }
    }

    // The template plugin compiled against the ABI 1.0 headers: it loads,
    // computes and passes the gradient check through the same host.
    void abi_1_0_plugin_loads_and_computes()
    {
        Registry reg;
        QVERIFY(reg.load_library(kFixtures + "/abi_1_0_rbf.so"));
        QVERIFY2(reg.refusals().empty(), reg.refusals().empty() ? "" : reg.refusals()[0].reason.c_str());
        const Entry *e = reg.find("RBF");
        QVERIFY(e);
        QCOMPARE(e->abi_minor, uint16_t(0));
        auto layer = reg.create_layer("RBF", {{"inputs", 3.0}, {"units", 4.0}}, test::context(), 5);
        QVERIFY(!layer->is_graph_layer());
        QVERIFY(!layer->host_owned());
        QCOMPARE(layer->parameters().size(), size_t(2));
        const test::GradError err = test::check_layer_gradient(*layer, test::random_tensor(Shape{5, 3}, 6), 7);
        QVERIFY2(err.max_rel < 2e-2, err.where.c_str());
        // And as a node of a model, between ABI 1.1 layers.
        Sequential model;
        model.add(reg.create_layer("RBF", {{"inputs", 3.0}, {"units", 4.0}}, test::context(), 5));
        model.add(test::registry().create_layer("Dense", {{"inputs", 4.0}, {"outputs", 2.0}}, test::context(), 6));
        const Tensor &y = model.forward(test::random_tensor(Shape{5, 3}, 6));
        QCOMPARE(y.shape(), (Shape{5, 2}));
    }

    // A plugin of a newer minor (1.1) hands over larger structs; this host
    // reads them as far as 1.0 goes, and the schema at the plugin's stride.

    // A loss built against ABI 1.0 has a shorter vtable without target_kind:
    // it loads, and its targets follow the 1.0 rule (one value per row of a
    // 2-D prediction is a class index).
    void abi_1_0_loss_keeps_the_old_rule()
    {
        Registry reg;
        QVERIFY(reg.load_library(kFixtures + "/abi_1_0_loss.so"));
        QVERIFY2(reg.refusals().empty(), reg.refusals().empty() ? "" : reg.refusals()[0].reason.c_str());
        const Entry *e = reg.find("FixturePickScore10");
        QVERIFY(e);
        QCOMPARE(e->abi_minor, uint16_t(0));
        QVERIFY(e->loss_target == LossTarget::Undeclared);
        QVERIFY(e->help().find("Target: not declared (an ABI 1.0 plugin)") != std::string::npos);
        auto loss = reg.create_loss("FixturePickScore10", {}, test::context());
        const Tensor pred = Tensor::from(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
        QVERIFY(loss->takes_class_indices(pred, Tensor(Shape{2})));
        QVERIFY(loss->takes_class_indices(pred, Tensor(Shape{2, 1})));
        QVERIFY(!loss->takes_class_indices(pred, Tensor(Shape{2, 3})));
        QVERIFY(!loss->takes_class_indices(Tensor(Shape{2, 1}), Tensor(Shape{2, 1})));
        QCOMPARE(loss->forward(pred, Tensor::from(Shape{2}, {2, 0})), -3.5); // scores 3 and 4
        // The core passes indices as given (Lua shifts its 1-based ones): 3 of 3 is out of range.
        QVERIFY_ERROR(loss->forward(pred, Tensor::from(Shape{2}, {3, 0})), "class 3 is not in [0, 3)");
    }

    // A plugin of a newer minor hands over larger structs; this host reads
    // them as far as it knows them, and the schema at the plugin's stride.
    void newer_minor_with_larger_structs_loads()
    {
        Registry reg;
        QVERIFY(reg.load_library(kFixtures + "/abi_newer_minor.so"));
        QVERIFY2(reg.refusals().empty(), reg.refusals().empty() ? "" : reg.refusals()[0].reason.c_str());
        const Entry *e = reg.find("FixtureAffine11");
        QVERIFY(e);
        QCOMPARE(e->abi_major, uint16_t(1));
        QCOMPARE(e->abi_minor, uint16_t(NRT_ABI_MINOR + 1));
        QVERIFY(e->native->struct_size > sizeof(nrt_entry));
        QCOMPARE(e->params.size(), size_t(2));
        QCOMPARE(e->params[1].name, std::string("offset"));
        QCOMPARE(e->params[1].doc, std::string("The constant added to every product."));
        auto layer = reg.create_layer("FixtureAffine11", {{"factor", 3.0}, {"offset", 1.0}}, test::context(), 0);
        const Tensor x = Tensor::from(Shape{2}, {1, -2});
        Tensor y(layer->prepare(x.shape()));
        layer->forward_plain(x, y, true);
        QCOMPARE(y.to_vector(), (std::vector<float>{4, -5}));
        Tensor dx(x.shape());
        layer->backward_plain(x, y, Tensor::from(Shape{2}, {1, 1}), &dx);
        QCOMPARE(dx.to_vector(), (std::vector<float>{3, 3}));
    }

    void unknown_target_kind_is_refused()
    {
        Registry reg;
        QVERIFY(reg.load_library(kFixtures + "/unknown_target.so")); // the other entry loads
        QVERIFY(reg.find("FixtureZeroLoss") && !reg.find("FixtureOddTarget"));
        const std::string why = refusal_for(reg, "unknown_target.so");
        QVERIFY2(why.find("entry 'FixtureOddTarget' declares an unknown target kind 7") != std::string::npos &&
                     why.find("knows 1 = class indices and 2 = the prediction's shape") != std::string::npos,
                 why.c_str());
    }

    void bad_libraries_are_refused()
    {
        Registry reg;
        QVERIFY(!reg.load_library(kFixtures + "/no_entry.so"));
        QVERIFY(!reg.load_library(kFixtures + "/abi_too_new.so"));
        QVERIFY(!reg.load_library(kFixtures + "/bad_struct_size.so"));
        QVERIFY(!reg.load_library(kFixtures + "/not_a_library.so"));
        QVERIFY(!reg.load_library(kFixtures + "/does_not_exist.so"));
        QCOMPARE(reg.refusals().size(), size_t(5));
        QVERIFY(reg.entries().empty());

        QVERIFY(refusal_for(reg, "no_entry.so").find("no entry point 'neurite_plugin_entry'") != std::string::npos);
        const std::string too_new = refusal_for(reg, "abi_too_new.so");
        QVERIFY2(too_new.find("built for plugin ABI 2.3") != std::string::npos, too_new.c_str());
        QVERIFY2(too_new.find("speaks ABI 1." + std::to_string(NRT_ABI_MINOR)) != std::string::npos, too_new.c_str());
        const std::string bad_size = refusal_for(reg, "bad_struct_size.so");
        QVERIFY2(bad_size.find("'FixtureTruncated' has an unknown struct size 12") != std::string::npos,
                 bad_size.c_str());
        QVERIFY(refusal_for(reg, "not_a_library.so").find("cannot be loaded") != std::string::npos);
        QVERIFY(refusal_for(reg, "does_not_exist.so").find("cannot be loaded") != std::string::npos);

        // The host goes on: a good library still loads into the same registry.
        QVERIFY(reg.load_library(kFixtures + "/good.so"));
        QVERIFY(reg.find("FixtureScale"));
    }

    void failing_forward_is_reported_and_the_host_goes_on()
    {
        Registry reg;
        QVERIFY(reg.load_library(kFixtures + "/failing_forward.so"));
        Sequential model;
        model.add(test::registry().create_layer("Dense", {{"inputs", 2.0}, {"outputs", 2.0}}, test::context(), 1));
        model.add(reg.create_layer("FixtureFailing", {}, test::context(), 0));
        const Tensor x = Tensor::from(Shape{1, 2}, {1, 2});
        QVERIFY_ERROR(model.forward(x), "layer 2 (FixtureFailing)", "forward failed",
                      "deliberate failure in forward");
        Sequential fine;
        fine.add(test::registry().create_layer("Dense", {{"inputs", 2.0}, {"outputs", 1.0}}, test::context(), 1));
        QCOMPARE(fine.forward(x).numel(), int64_t(1));
    }

    // A failed call says what kind of failure the plugin's status was; zero_grad,
    // which returns no status in ABI 1.0, is checked by the host.
    void plugin_statuses_are_reported()
    {
        Registry reg;
        QVERIFY(reg.load_library(kFixtures + "/failing_calls.so"));
        QVERIFY(reg.load_library(kFixtures + "/failing_forward.so"));
        auto layer = reg.create_layer("FixtureNoClear", {}, test::context(), 0);
        auto optimizer = reg.create_optimizer("FixtureRefusing", {}, test::context());
        QVERIFY_ERROR(optimizer->attach(layer->parameters()),
                      "FixtureRefusing: attach failed (shape error): FixtureRefusing takes matrices only");
        QVERIFY_ERROR(optimizer->step(), "FixtureRefusing: step() before any parameters were attached");

        auto failing = reg.create_layer("FixtureFailing", {}, test::context(), 0);
        const Tensor x = Tensor::from(Shape{3}, {1, 2, 3});
        Tensor y(failing->prepare(x.shape()));
        QVERIFY_ERROR(failing->forward_plain(x, y, true),
                      "FixtureFailing: forward failed (internal error): deliberate failure in forward");

        // y = 2x; after one backward dL/dw = sum(x) = 6, which zero_grad must clear.
        Tensor out(layer->prepare(x.shape()));
        layer->forward_plain(x, out, true);
        layer->zero_grad(true); // before any backward: nothing to check yet
        layer->backward_plain(x, out, Tensor::from(Shape{3}, {1, 1, 1}), nullptr);
        QCOMPARE(layer->parameters()[0].grad[0], 6.0f);
        QVERIFY_ERROR(layer->zero_grad(true), "FixtureNoClear: zero_grad left the gradient of 'weight' [1] at 6",
                      "the plugin does not clear its gradients");
        QVERIFY_ERROR(layer->zero_grad(false), "zero_grad left the gradient");
    }

    // A library that crashes while loading is found in a probe process and
    // refused; the verdict is cached by file, size and mtime.
    void crash_on_load_is_quarantined_and_cached()
    {
        QTemporaryDir cache, plugins;
        qputenv("XDG_CACHE_HOME", cache.path().toUtf8());
        const QString aborting = plugins.path() + "/abort_on_load.so";
        QVERIFY(QFile::copy(QString::fromStdString(kFixtures + "/crash_on_load/abort_on_load.so"), aborting));
        QVERIFY(QFile::copy(QString::fromStdString(kFixtures + "/good.so"), plugins.path() + "/good.so"));
        const std::string dir = plugins.path().toStdString();
        {
            Registry reg;
            reg.load_directory(dir);
            const std::string reason = refusal_for(reg, "abort_on_load.so");
            QVERIFY2(reason.find("crashed with SIGABRT in its entry point neurite_plugin_entry when loaded in "
                                 "a probe process") != std::string::npos, reason.c_str());
            QVERIFY(reg.find("FixtureScale")); // the folder's good library loads as usual
            QCOMPARE(reg.refusals().size(), size_t(1));
        }
        QFile file(cache.path() + "/neurite/plugin-probe.txt");
        QVERIFY(file.open(QIODevice::ReadOnly));
        QString text = QString::fromUtf8(file.readAll());
        file.close();
        QVERIFY2(text.contains("abort_on_load.so\trefused\tcrashed with SIGABRT"), qPrintable(text));
        QVERIFY2(text.contains("good.so\tok"), qPrintable(text));

        // A warm start takes the cached verdict instead of probing again: a
        // doctored one shows through.
        text.replace("crashed with SIGABRT", "doctored verdict");
        QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
        file.write(text.toUtf8());
        file.close();
        {
            Registry reg;
            QVERIFY(!reg.load_library(aborting.toStdString()));
            QVERIFY(refusal_for(reg, "abort_on_load.so").find("doctored verdict") != std::string::npos);
        }
        // A new mtime makes the verdict stale: the library is probed again.
        QFile touched(aborting);
        QVERIFY(touched.open(QIODevice::ReadWrite));
        QVERIFY(touched.setFileTime(QDateTime::currentDateTime().addSecs(5), QFileDevice::FileModificationTime));
        touched.close();
        {
            Registry reg;
            QVERIFY(!reg.load_library(aborting.toStdString()));
            const std::string reason = refusal_for(reg, "abort_on_load.so");
            QVERIFY2(reason.find("crashed with SIGABRT") != std::string::npos, reason.c_str());
        }
        qunsetenv("XDG_CACHE_HOME");
    }

    void unknown_names_suggest()
    {
        QVERIFY_ERROR(test::registry().require("Dnse"), "unknown plugin 'Dnse'", "did you mean 'Dense'");
        QVERIFY_ERROR(test::registry().create_loss("Dense", {}, test::context()),
                      "'Dense' is a layer, not a loss");
    }

    void bad_parameters()
    {
        Registry &reg = test::registry();
        QVERIFY_ERROR(reg.create_layer("Dense", {{"inputs", std::string("three")}, {"outputs", 2.0}}, test::context(), 0),
                      "Dense: parameter 'inputs' must be an integer, got a string");
        QVERIFY_ERROR(reg.create_layer("Dense", {{"inputs", 2.5}, {"outputs", 2.0}}, test::context(), 0),
                      "'inputs' must be an integer, got 2.5");
        QVERIFY_ERROR(reg.create_layer("Dense", {{"inputs", 0.0}, {"outputs", 2.0}}, test::context(), 0),
                      "'inputs' = 0 is outside its range [1, ");
        QVERIFY_ERROR(reg.create_layer("Dense", {{"outputs", 2.0}}, test::context(), 0),
                      "parameter 'inputs' is required");
        QVERIFY_ERROR(reg.create_layer("Dense", {{"inputs", 2.0}, {"outputs", 2.0}, {"activaton", std::string("relu")}}, test::context(), 0),
                      "unknown parameter 'activaton' (did you mean 'activation'?)");
        QVERIFY_ERROR(reg.create_layer("Dense", {{"inputs", 2.0}, {"outputs", 2.0}, {"activation", std::string("rleu")}}, test::context(), 0),
                      "'activation' must be one of", "relu", "got \"rleu\"");
        QVERIFY_ERROR(reg.create_optimizer("SGD", {{"lr", -1.0}}, test::context()), "SGD: parameter 'lr' = -1 is outside its range");
        QVERIFY_ERROR(reg.create_optimizer("Adam", {{"betas", std::vector<double>{0.9}}}, test::context()),
                      "'betas' must have 2 numbers, got 1");
    }

    void shape_mismatch_names_layer_and_shapes()
    {
        Sequential model;
        model.add(test::registry().create_layer("Dense", {{"inputs", 3.0}, {"outputs", 3.0}}, test::context(), 1));
        const Tensor x = Tensor::from(Shape{1, 4}, {1, 2, 3, 4});
        QVERIFY_ERROR(model.forward(x), "layer 1 (Dense)", "[1, 4]", "expects 3 input features", "got 4");
        // The model still works on the right shape afterwards.
        QCOMPARE(model.forward(Tensor::from(Shape{1, 3}, {1, 2, 3})).shape(), (Shape{1, 3}));
    }

    void non_finite_input_is_refused()
    {
        Sequential model;
        model.add(test::registry().create_layer("Dense", {{"inputs", 3.0}, {"outputs", 1.0}}, test::context(), 1));
        Tensor x = Tensor::from(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
        x[4] = std::numeric_limits<float>::quiet_NaN();
        QVERIFY_ERROR(model.forward(x), "holds NaN at sample 2, feature 2;"); // counted from 1
        x[4] = std::numeric_limits<float>::infinity();
        QVERIFY_ERROR(model.forward(x), "holds Inf at sample 2, feature 2;");
        auto mse = test::registry().create_loss("MSELoss", {}, test::context());
        Tensor pred = Tensor::from(Shape{1, 2}, {1, std::numeric_limits<float>::quiet_NaN()});
        QVERIFY_ERROR(mse->forward(pred, Tensor::from(Shape{1, 2}, {1, 1})), "MSELoss", "nan", "index 1");
    }

    void loss_shape_errors()
    {
        auto ce = test::registry().create_loss("CrossEntropyLoss", {}, test::context());
        const Tensor logits = test::random_tensor(Shape{4, 3}, 1);
        QVERIFY_ERROR(ce->forward(logits, Tensor::from(Shape{4}, {0, 1, 2, 3})), "CrossEntropyLoss",
                      "sample 4", "is 3", "[0, 3)");
        auto mse = test::registry().create_loss("MSELoss", {}, test::context());
        QVERIFY_ERROR(mse->forward(logits, test::random_tensor(Shape{3, 4}, 2)),
                      "MSELoss: target [3, 4] does not fit the prediction [4, 3]");
        // [N] is accepted for a prediction [N, 1], and means the same as [N, 1].
        const Tensor column = Tensor::from(Shape{3, 1}, {0.5f, 0.3f, -1.2f});
        const Tensor flat = Tensor::from(Shape{3}, {0.4f, 0.2f, -1.0f});
        QCOMPARE(mse->forward(column, flat), mse->forward(column, flat.reshape(Shape{3, 1})));
        QVERIFY_ERROR(mse->forward(column, Tensor(Shape{2})), "target [2] does not fit the prediction [3, 1]");
    }

    void backward_without_forward()
    {
        Sequential model;
        model.add(test::registry().create_layer("Dense", {{"inputs", 2.0}, {"outputs", 2.0}}, test::context(), 1));
        const Tensor x = Tensor::from(Shape{1, 2}, {1, 2});
        QVERIFY_ERROR(model.backward(x, x), "backward", "before any forward");
        model.forward(x);
        QVERIFY_ERROR(model.backward(x, Tensor::from(Shape{1, 3}, {1, 2, 3})), "gradient of output 1 [1, 3]",
                      "output [1, 2]");
    }
};

QTEST_GUILESS_MAIN(TestRegistry)
#include "tst_registry.moc"
