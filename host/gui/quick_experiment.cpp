#include "quick_experiment.h"

#include "neurite/core/registry.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

namespace neurite::gui {

namespace {

// What the script needs to know about each dataset the form offers.
struct DatasetInfo {
    const char *key, *label, *train, *validation;
    int inputs, outputs;
    bool regression;
};

constexpr DatasetInfo kDatasets[] = {
    {"xor", "XOR gate (4 samples)", "data.gates(\"xor\")", nullptr, 2, 2, false},
    {"and", "AND gate (4 samples)", "data.gates(\"and\")", nullptr, 2, 2, false},
    {"gaussians", "Two Gaussian clouds (2-D)", "data.gaussians{count = 200, seed = 1}", nullptr, 2, 2, false},
    {"moons", "Two moons (2-D)", "data.moons{count = 400, noise = 0.1, seed = 1}", nullptr, 2, 2, false},
    {"spirals", "Three spirals (2-D)", "data.spirals{count = 600, arms = 3, seed = 1}", nullptr, 2, 3, false},
    {"sine", "Sine regression (1-D)", "data.sine{count = 400, seed = 1}", nullptr, 1, 1, true},
    {"fashion_mnist", "Fashion-MNIST (60,000 images)", "data.fashion_mnist{split = \"train\"}",
     "data.fashion_mnist{split = \"test\"}", 784, 10, false},
};

const DatasetInfo &info(const QString &key)
{
    for (const DatasetInfo &d : kDatasets)
        if (key == d.key)
            return d;
    return kDatasets[0];
}

} // namespace

QList<QPair<QString, QString>> QuickExperiment::datasets()
{
    QList<QPair<QString, QString>> out;
    for (const DatasetInfo &d : kDatasets)
        out.append(qMakePair(QString(d.key), QString(d.label)));
    return out;
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
    const bool regression = from_panel ? panel.regression : d.regression;
    const bool validation = from_panel || d.validation;
    const QString loss = !s.loss.isEmpty() ? s.loss : regression ? "MSELoss" : "CrossEntropyLoss";
    QStringList lines;
    lines << "-- Written by the quick-experiment form. Edit it and press F5 to run it again.";
    if (from_panel) {
        // The panel's dataset, split and standardized on its training part.
        // simplified(): a line break in a file name must not end the comment.
        lines << QString("-- Dataset: %1, as opened in the Data panel").arg(panel.name.simplified()) << ""
              << "local train_set, validation_set = data.current():split(0.8, {seed = 1})"
              << "train_set = train_set:normalize()"
              << "validation_set = validation_set:normalize(train_set)";
    } else {
        lines << QString("-- Dataset: %1").arg(d.label) << ""
              << "local train_set = " + QString(d.train);
        if (d.validation)
            lines << "local validation_set = " + QString(d.validation);
    }
    lines << ""
          << "local model = nn.Sequential{";
    int64_t inputs = from_panel ? panel.inputs : d.inputs;
    for (int size : s.hidden) {
        lines << QString("    nn.Dense{inputs = %1, outputs = %2, activation = \"%3\"},")
                     .arg(inputs)
                     .arg(size)
                     .arg(s.activation);
        inputs = size;
    }
    lines << QString("    nn.Dense{inputs = %1, outputs = %2},").arg(inputs).arg(from_panel ? panel.outputs : d.outputs)
          << "}"
          << "print(model:summary())"
          << "" << QString("local loss = nn.%1()").arg(loss)
          << QString("local optimizer = optim.%1(model:parameters(), {lr = %2})").arg(s.optimizer).arg(s.lr) << ""
          << "train.fit{"
          << "    model = model,"
          << "    loss = loss,"
          << "    optimizer = optimizer,"
          << "    data = train_set,";
    if (validation)
        lines << "    validation = validation_set,";
    if (!regression)
        lines << "    metrics = {\"accuracy\"},";
    // The run's name says what was tried, so runs overlaid on the charts
    // can be told apart: "xor 6 tanh Adam lr=0.01".
    QStringList sizes;
    for (int size : s.hidden)
        sizes << QString::number(size);
    const QString name = QString("%1 %2 %3 %4 lr=%5")
                             .arg(from_panel ? QString(kPanelKey) : s.dataset,
                                  sizes.isEmpty() ? QString("linear") : sizes.join('-'), s.activation, s.optimizer)
                             .arg(s.lr);
    lines << QString("    epochs = %1,").arg(s.epochs) << QString("    batch_size = %1,").arg(s.batch_size)
          << QString("    name = \"%1\",").arg(name) << "}";
    return lines.join('\n') + '\n';
}

void QuickExperiment::set_panel_data(const PanelData &panel)
{
    m_panel = panel;
    const int index = m_dataset->findData(QString(kPanelKey));
    m_dataset->setItemText(index,
                           panel.name.isEmpty() ? tr("The Data panel's dataset (none open)")
                                                : tr("The Data panel's: %1").arg(panel.name));
}

QuickExperiment::QuickExperiment(const Registry &registry, QWidget *parent)
    : QWidget(parent), m_dataset(new QComboBox), m_activation(new QComboBox), m_loss(new QComboBox),
      m_optimizer(new QComboBox), m_hidden(new QLineEdit), m_lr(new QDoubleSpinBox), m_batch(new QSpinBox),
      m_epochs(new QSpinBox), m_error(new QLabel)
{
    for (const DatasetInfo &d : kDatasets)
        m_dataset->addItem(d.label, QString(d.key));
    m_dataset->addItem(QString(), QString(kPanelKey));
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
    for (QComboBox *box : {m_dataset, m_activation, m_loss, m_optimizer}) {
        box->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        box->setMinimumContentsLength(12);
    }
    m_lr->setDecimals(5);
    m_lr->setRange(0.00001, 10);
    m_lr->setSingleStep(0.001);
    m_batch->setRange(1, 65536);
    m_epochs->setRange(1, 100000);
    m_hidden->setToolTip(tr("Sizes of the hidden layers, comma separated, e.g. 256, 128"));
    m_error->setStyleSheet("color: #b00020");
    m_error->setWordWrap(true);

    auto *form = new QFormLayout;
    form->addRow(tr("Dataset"), m_dataset);
    form->addRow(tr("Hidden layers"), m_hidden);
    form->addRow(tr("Activation"), m_activation);
    form->addRow(tr("Loss"), m_loss);
    form->addRow(tr("Optimizer"), m_optimizer);
    form->addRow(tr("Learning rate"), m_lr);
    form->addRow(tr("Batch size"), m_batch);
    form->addRow(tr("Epochs"), m_epochs);
    auto *run = new QPushButton(tr("Write script and run"));
    run->setDefault(true);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_error);
    layout->addWidget(run);
    layout->addStretch();

    set_settings(Settings{});
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
    QString ignored;
    parse_hidden(m_hidden->text(), s.hidden, ignored);
    s.activation = m_activation->currentText();
    s.loss = m_loss->currentData().toString();
    s.optimizer = m_optimizer->currentText();
    s.lr = m_lr->value();
    s.batch_size = m_batch->value();
    s.epochs = m_epochs->value();
    return s;
}

void QuickExperiment::set_settings(const Settings &s)
{
    m_dataset->setCurrentIndex(std::max(0, m_dataset->findData(s.dataset)));
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
}

void QuickExperiment::dataset_changed()
{
    // Sensible starting points per dataset; the user can change every one.
    struct Preset {
        QList<int> hidden;
        const char *activation, *optimizer;
        double lr;
        int batch_size, epochs;
    };
    static const Preset kImages{{256, 128}, "relu", "SGD", 0.05, 64, 5};
    static const Preset kPanel{{64}, "relu", "Adam", 0.001, 32, 20};
    static const Preset kGates{{3}, "tanh", "Adam", 0.05, 4, 300};
    static const Preset kPlane{{20}, "tanh", "Adam", 0.01, 32, 100};
    Settings s = settings();
    const Preset &p = s.dataset == "fashion_mnist" ? kImages
        : s.dataset == kPanelKey                   ? kPanel
        : s.dataset == "xor" || s.dataset == "and" ? kGates
                                                   : kPlane;
    s.hidden = p.hidden;
    s.activation = p.activation;
    s.optimizer = p.optimizer;
    s.lr = p.lr;
    s.batch_size = p.batch_size;
    s.epochs = p.epochs;
    set_settings(s);
}

} // namespace neurite::gui
