#include "quick_experiment.h"

#include "neurite/core/precision.h"
#include "neurite/core/registry.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QVBoxLayout>

namespace neurite::gui {

namespace {

// What the script needs to know about each dataset the form offers.
struct DatasetInfo {
    const char *key, *label;
    const char *train;      // the training set, or the whole set when `split`
    const char *validation; // the validation set, or nullptr
    int outputs;
    bool regression;
    bool split;             // validation: a fifth of `train`, drawn with seed 1
    QList<qint64> sample;   // one sample's shape
};

const DatasetInfo kDatasets[] = {
    {"xor", "XOR gate (4 samples)", "data.gates(\"xor\")", nullptr, 2, false, false, {2}},
    {"and", "AND gate (4 samples)", "data.gates(\"and\")", nullptr, 2, false, false, {2}},
    {"gaussians", "Two Gaussian clouds (2-D)", "data.gaussians{count = 400, seed = 1}", nullptr, 2, false, true, {2}},
    {"moons", "Two moons (2-D)", "data.moons{count = 400, noise = 0.1, seed = 1}", nullptr, 2, false, true, {2}},
    // Less noise than data.spirals' default: at 0.05 the arms overlap near
    // the centre, and about 6% of the points cannot be told apart.
    {"spirals", "Three spirals (2-D)", "data.spirals{count = 1200, arms = 3, noise = 0.03, seed = 1}", nullptr, 3, false,
     true, {2}},
    {"sine", "Sine regression (1-D)", "data.sine{count = 400, seed = 1}", nullptr, 1, true, true, {1}},
    {"fashion_mnist", "Fashion-MNIST (60,000 images)", "data.fashion_mnist{split = \"train\"}",
     "data.fashion_mnist{split = \"test\"}", 10, false, false, {1, 28, 28}},
};

const DatasetInfo &info(const QString &key)
{
    for (const DatasetInfo &d : kDatasets)
        if (key == d.key)
            return d;
    return kDatasets[0];
}

qint64 product(const QList<qint64> &shape)
{
    qint64 n = 1;
    for (qint64 d : shape)
        n *= d;
    return n;
}

// What script() works from: the form's dataset or the Data panel's.
struct Source {
    bool panel = false;
    QList<qint64> sample;
    qint64 outputs = 0;
    bool regression = false;
    bool images() const { return sample.size() == 3; }
};

QStringList dataset_lines(const QuickExperiment::Settings &s, const QuickExperiment::PanelData &panel,
                          const DatasetInfo &d, bool from_panel)
{
    QStringList lines;
    if (from_panel) {
        // The panel's dataset, split and standardized on its training part.
        // simplified(): a line break in a file name must not end the comment.
        lines << QString("-- Dataset: %1, as opened in the Data panel").arg(panel.name.simplified()) << ""
              << "local train_set, validation_set = data.current():split(0.8, {seed = 1})"
              << "train_set = train_set:normalize()"
              << "validation_set = validation_set:normalize(train_set)";
    } else {
        lines << QString("-- Dataset: %1").arg(d.label) << "";
        if (d.split)
            lines << QString("local train_set, validation_set = %1:split(0.8, {seed = 1})").arg(d.train);
        else
            lines << "local train_set = " + QString(d.train);
        if (d.validation)
            lines << "local validation_set = " + QString(d.validation);
        else if (!d.split) // a truth table: its four rows are all there is to check
            lines << "local validation_set = train_set";
    }
    if (s.max_samples > 0)
        lines << QString("train_set = train_set:slice(1, math.min(%1, #train_set))").arg(s.max_samples)
              << QString("validation_set = validation_set:slice(1, math.min(%1, #validation_set))").arg(s.max_samples);
    return lines;
}

QStringList dense_lines(const QuickExperiment::Settings &s, qint64 inputs, qint64 outputs)
{
    QStringList lines;
    for (int size : s.hidden) {
        lines << QString("    nn.Dense{inputs = %1, outputs = %2, activation = \"%3\"},")
                     .arg(inputs)
                     .arg(size)
                     .arg(s.activation);
        inputs = size;
    }
    lines << QString("    nn.Dense{inputs = %1, outputs = %2},").arg(inputs).arg(outputs);
    return lines;
}

// Two blocks of 3×3 convolution ("same" padding), ReLU and 2×2 max pooling,
// then the dense layers: the small CNN of issue 13.
QStringList cnn_lines(const QuickExperiment::Settings &s, const Source &src)
{
    const qint64 channels = src.sample[0], height = src.sample[1] / 4, width = src.sample[2] / 4;
    return QStringList{QString("    nn.Conv2D{inputs = %1, outputs = 32, kernel = 3, padding = \"same\"},").arg(channels),
                       "    nn.ReLU(),",
                       QString("    nn.MaxPool2D{kernel = 2},                      -- [32, %1, %2]")
                           .arg(src.sample[1] / 2)
                           .arg(src.sample[2] / 2),
                       "    nn.Conv2D{inputs = 32, outputs = 64, kernel = 3, padding = \"same\"},",
                       "    nn.ReLU(),",
                       QString("    nn.MaxPool2D{kernel = 2},                      -- [64, %1, %2]").arg(height).arg(width),
                       "    nn.Flatten(),"} +
           dense_lines(s, 64 * height * width, src.outputs);
}

// The run's name says what was tried, so runs overlaid on the charts can be
// told apart: "xor 6 tanh Adam lr=0.01", "fashion_mnist cnn 128 relu ... bf16".
QString run_name(const QuickExperiment::Settings &s, bool from_panel, bool cnn)
{
    QStringList sizes;
    for (int size : s.hidden)
        sizes << QString::number(size);
    QString name = QString("%1 %2%3 %4 %5 lr=%6")
                       .arg(from_panel ? QString(QuickExperiment::kPanelKey) : s.dataset, cnn ? "cnn " : "",
                            sizes.isEmpty() ? QString("linear") : sizes.join('-'), s.activation, s.optimizer)
                       .arg(s.lr);
    if (s.precision != "f32")
        name += " " + s.precision;
    return name;
}

} // namespace

QList<QPair<QString, QString>> QuickExperiment::datasets()
{
    QList<QPair<QString, QString>> out;
    for (const DatasetInfo &d : kDatasets)
        out.append(qMakePair(QString(d.key), QString(d.label)));
    return out;
}

bool QuickExperiment::bf16_available()
{
    return bf16_kernels().supported;
}

QuickExperiment::Settings QuickExperiment::defaults(const QString &dataset)
{
    // Each reaches at least 95% validation accuracy within seconds
    // (tests/auto/gui_quick_form); the user can change every one.
    Settings s;
    s.dataset = dataset;
    if (dataset == "fashion_mnist") {
        s.model = kCnn;
        s.hidden = {128};
        s.activation = "relu";
        s.lr = 0.001;
        s.batch_size = 64;
        s.epochs = 5;
    } else if (dataset == kPanelKey) {
        s.hidden = {64};
        s.activation = "relu";
        s.lr = 0.01;
        s.batch_size = 16;
        s.epochs = 60;
    } else if (dataset == "xor" || dataset == "and") {
        s.hidden = {8};
        s.activation = "tanh";
        s.lr = 0.05;
        s.batch_size = 4;
        s.epochs = 300;
    } else {
        s.hidden = {64, 64};
        s.activation = "relu";
        s.lr = 0.01;
        s.batch_size = 32;
        s.epochs = 100;
    }
    return s;
}

bool QuickExperiment::parse_hidden(const QString &text, QList<int> &sizes, QString &error)
{
    sizes.clear();
    for (const QString &part : text.split(',', Qt::SkipEmptyParts)) {
        bool ok = false;
        const int n = part.trimmed().toInt(&ok);
        if (!ok || n < 1 || n > 100000) {
            error = tr("Hidden layers: '%1' is not a layer size (a whole number from 1 to 100000)").arg(part.trimmed());
            return false;
        }
        sizes.append(n);
    }
    return true;
}

QString QuickExperiment::script(const Settings &s, const PanelData &panel, QString &error)
{
    const bool from_panel = s.dataset == kPanelKey;
    if (from_panel && panel.name.isEmpty()) {
        error = tr("Open a dataset in the Data panel first (IDX, CSV, NPY or a folder of images).");
        return {};
    }
    if (from_panel && !panel.has_targets) {
        error = tr("%1 has no targets to learn: open a dataset with labels or target columns.").arg(panel.name);
        return {};
    }
    const DatasetInfo &d = info(s.dataset);
    Source src{from_panel, from_panel ? panel.sample_shape : d.sample, from_panel ? panel.outputs : d.outputs,
               from_panel ? panel.regression : d.regression};
    if (src.sample.isEmpty())
        src.sample = {panel.inputs};
    const bool cnn = s.model == kCnn;
    if (cnn && (!src.images() || src.sample[1] < 4 || src.sample[2] < 4)) {
        error = tr("The small CNN takes images of at least 4 × 4 pixels ([C, H, W] samples); this dataset's samples "
                   "are [%1]: choose Dense layers.")
                    .arg([&] {
                        QStringList dims;
                        for (qint64 n : src.sample)
                            dims << QString::number(n);
                        return dims.join(", ");
                    }());
        return {};
    }
    if (s.precision != "f32" && s.precision != "bf16") {
        error = tr("Precision is f32 or bf16, not %1.").arg(s.precision);
        return {};
    }
    if (s.precision == "bf16") {
        try {
            require_bf16("The quick form");
        } catch (const std::exception &e) {
            error = QString::fromUtf8(e.what());
            return {};
        }
    }
    const QString loss = !s.loss.isEmpty() ? s.loss : src.regression ? "MSELoss" : "CrossEntropyLoss";
    QStringList lines{"-- Written by the quick-experiment form. Edit it and press F5 to run it again."};
    lines << dataset_lines(s, panel, d, from_panel) << "" << "local model = nn.Sequential{"
          << (cnn ? cnn_lines(s, src) : dense_lines(s, product(src.sample), src.outputs)) << "}";
    if (cnn)
        lines << QString("print(model:summary{1, %1, %2, %3})").arg(src.sample[0]).arg(src.sample[1]).arg(src.sample[2]);
    else
        lines << "print(model:summary())";
    lines << "" << QString("local loss = nn.%1()").arg(loss)
          << QString("local optimizer = optim.%1(model:parameters(), {lr = %2})").arg(s.optimizer).arg(s.lr) << ""
          << "local history = train.fit{"
          << "    model = model,"
          << "    loss = loss,"
          << "    optimizer = optimizer,"
          << "    data = train_set,"
          << "    validation = validation_set,";
    if (!src.regression)
        lines << "    metrics = {\"accuracy\"},";
    lines << QString("    epochs = %1,").arg(s.epochs) << QString("    batch_size = %1,").arg(s.batch_size)
          << QString("    precision = \"%1\",").arg(s.precision)
          << QString("    name = \"%1\",").arg(run_name(s, from_panel, cnn)) << "}";
    const QString metric = src.regression ? "val_loss" : "val_accuracy";
    lines << QString("local last = history.%1[#history.%1]").arg(metric)
          << QString("if last then print(string.format(\"validation %1 %.4f\", last)) end")
                 .arg(src.regression ? "loss" : "accuracy");
    return lines.join('\n') + '\n';
}

void QuickExperiment::set_panel_data(const PanelData &panel)
{
    m_panel = panel;
    const int index = m_dataset->findData(QString(kPanelKey));
    m_dataset->setItemText(index,
                           panel.name.isEmpty() ? tr("The Data panel's dataset (none open)")
                                                : tr("The Data panel's: %1").arg(panel.name));
    update_model_choice();
}

QuickExperiment::QuickExperiment(const Registry &registry, QWidget *parent)
    : QWidget(parent), m_dataset(new QComboBox), m_model(new QComboBox), m_activation(new QComboBox),
      m_loss(new QComboBox), m_optimizer(new QComboBox), m_precision(new QComboBox), m_hidden(new QLineEdit),
      m_lr(new QDoubleSpinBox), m_batch(new QSpinBox), m_epochs(new QSpinBox), m_samples(new QSpinBox),
      m_error(new QLabel)
{
    for (const DatasetInfo &d : kDatasets)
        m_dataset->addItem(d.label, QString(d.key));
    m_dataset->addItem(QString(), QString(kPanelKey));
    m_model->addItem(tr("Dense layers"), QString(kDense));
    m_model->addItem(tr("Small CNN (images)"), QString(kCnn));
    m_model->setToolTip(tr("Small CNN: 2 × (Conv2D 3×3, ReLU, MaxPool 2), then the hidden Dense layers"));
    m_precision->addItem("f32", "f32");
    m_precision->addItem("bf16", "bf16");
    if (!bf16_available()) {
        // Offered only where the CPU computes it: elsewhere it would be emulated, slower than f32.
        const Bf16Kernels kernels = bf16_kernels();
        auto *model = qobject_cast<QStandardItemModel *>(m_precision->model());
        model->item(1)->setEnabled(false);
        model->item(1)->setToolTip(tr("This CPU has no bf16 instructions (%1)").arg(QString::fromStdString(kernels.missing)));
    }
    m_precision->setToolTip(tr("bf16: layers compute in bfloat16 with f32 master weights (on CPUs with AMX or "
                               "AVX512-BF16)"));
    set_panel_data({});
    // The choices come from the plugins' own schemas, never from a list kept
    // here.
    if (const Entry *dense = registry.find("Dense"))
        for (const ParamSpec &p : dense->params)
            if (p.name == "activation")
                for (const std::string &c : p.choices)
                    m_activation->addItem(QString::fromStdString(c));
    m_loss->addItem(tr("(natural for the dataset)"), QString());
    for (const Entry &e : registry.entries()) {
        if (e.kind == Kind::Loss)
            m_loss->addItem(QString::fromStdString(e.name), QString::fromStdString(e.name));
        if (e.kind == Kind::Optimizer)
            m_optimizer->addItem(QString::fromStdString(e.name));
    }
    // Long dataset names must not widen the dock: combos elide to fit.
    for (QComboBox *box : {m_dataset, m_model, m_activation, m_loss, m_optimizer, m_precision}) {
        box->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        box->setMinimumContentsLength(12);
    }
    m_lr->setDecimals(5);
    m_lr->setRange(0.00001, 10);
    m_lr->setSingleStep(0.001);
    m_batch->setRange(1, 65536);
    m_epochs->setRange(1, 100000);
    m_samples->setRange(0, 100000000);
    m_samples->setSpecialValueText(tr("all"));
    m_samples->setToolTip(tr("Train and validate on the first this many samples: a quick try of a large dataset"));
    m_hidden->setToolTip(tr("Sizes of the hidden layers, comma separated, e.g. 256, 128"));
    m_error->setStyleSheet("color: #b00020");
    m_error->setWordWrap(true);

    auto *form = new QFormLayout;
    form->addRow(tr("Dataset"), m_dataset);
    form->addRow(tr("Model"), m_model);
    form->addRow(tr("Hidden layers"), m_hidden);
    form->addRow(tr("Activation"), m_activation);
    form->addRow(tr("Loss"), m_loss);
    form->addRow(tr("Optimizer"), m_optimizer);
    form->addRow(tr("Learning rate"), m_lr);
    form->addRow(tr("Batch size"), m_batch);
    form->addRow(tr("Epochs"), m_epochs);
    form->addRow(tr("Samples"), m_samples);
    form->addRow(tr("Precision"), m_precision);
    auto *run = new QPushButton(tr("Write script and run"));
    run->setDefault(true);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_error);
    layout->addWidget(run);
    layout->addStretch();

    set_settings(defaults(kDatasets[0].key));
    connect(m_dataset, &QComboBox::currentIndexChanged, this, &QuickExperiment::dataset_changed);
    connect(run, &QPushButton::clicked, this, [this] {
        QList<int> sizes;
        QString error;
        if (!parse_hidden(m_hidden->text(), sizes, error)) {
            m_error->setText(error);
            return;
        }
        const Settings s = settings();
        const QString code = script(s, m_panel, error);
        m_error->setText(error);
        if (!code.isEmpty())
            emit run_requested(code, s.dataset + " experiment");
    });
}

QuickExperiment::Settings QuickExperiment::settings() const
{
    Settings s;
    s.dataset = m_dataset->currentData().toString();
    s.model = m_model->isEnabled() ? m_model->currentData().toString() : QString(kDense);
    QString ignored;
    parse_hidden(m_hidden->text(), s.hidden, ignored);
    s.activation = m_activation->currentText();
    s.loss = m_loss->currentData().toString();
    s.optimizer = m_optimizer->currentText();
    s.lr = m_lr->value();
    s.batch_size = m_batch->value();
    s.epochs = m_epochs->value();
    s.max_samples = m_samples->value();
    s.precision = m_precision->currentData().toString();
    return s;
}

void QuickExperiment::set_settings(const Settings &s)
{
    {
        const QSignalBlocker quiet(m_dataset); // the caller's settings, not the dataset's defaults
        m_dataset->setCurrentIndex(std::max(0, m_dataset->findData(s.dataset)));
    }
    update_model_choice();
    m_model->setCurrentIndex(std::max(0, m_model->findData(s.model)));
    QStringList sizes;
    for (int n : s.hidden)
        sizes << QString::number(n);
    m_hidden->setText(sizes.join(", "));
    m_activation->setCurrentText(s.activation);
    m_loss->setCurrentIndex(std::max(0, m_loss->findData(s.loss)));
    m_optimizer->setCurrentText(s.optimizer);
    m_lr->setValue(s.lr);
    m_batch->setValue(s.batch_size);
    m_epochs->setValue(s.epochs);
    m_samples->setValue(s.max_samples);
    // bf16 where it is not offered stays f32; script() refuses it too.
    m_precision->setCurrentIndex(s.precision == "bf16" && bf16_available() ? 1 : 0);
}

void QuickExperiment::update_model_choice()
{
    const QString key = m_dataset->currentData().toString();
    const bool images = key == kPanelKey ? m_panel.sample_shape.size() == 3 : info(key).sample.size() == 3;
    m_model->setEnabled(images);
    if (!images)
        m_model->setCurrentIndex(0);
}

void QuickExperiment::dataset_changed()
{
    Settings s = defaults(m_dataset->currentData().toString());
    const bool panel_images = s.dataset == kPanelKey && m_panel.sample_shape.size() == 3;
    if (panel_images) { // images in the Data panel: the CNN, as for Fashion-MNIST
        const QString dataset = s.dataset;
        s = defaults("fashion_mnist");
        s.dataset = dataset;
    }
    s.precision = m_precision->currentData().toString(); // a choice of the machine's, kept
    set_settings(s);
}

} // namespace neurite::gui
