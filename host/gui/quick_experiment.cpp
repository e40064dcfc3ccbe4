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
    {"gaussians", "Two Gaussian clouds (2-D)", "data.gaussians{n = 200, seed = 1}", nullptr, 2, 2, false},
    {"moons", "Two moons (2-D)", "data.moons{n = 400, noise = 0.1, seed = 1}", nullptr, 2, 2, false},
    {"spirals", "Three spirals (2-D)", "data.spirals{n = 600, arms = 3, seed = 1}", nullptr, 2, 3, false},
    {"sine", "Sine regression (1-D)", "data.sine{n = 400, seed = 1}", nullptr, 1, 1, true},
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

QString QuickExperiment::script(const Settings &s)
{
    const DatasetInfo &d = info(s.dataset);
    const QString loss = !s.loss.isEmpty() ? s.loss : d.regression ? "MSELoss" : "CrossEntropyLoss";
    QStringList lines;
    lines << "-- Written by the quick-experiment form. Edit it and press F5 to run it again."
          << QString("-- Dataset: %1").arg(d.label) << ""
          << "local train_set = " + QString(d.train);
    if (d.validation)
        lines << "local validation_set = " + QString(d.validation);
    lines << "" << "local model = nn.Sequential{";
    int inputs = d.inputs;
    for (int size : s.hidden) {
        lines << QString("    nn.Dense{inputs = %1, outputs = %2, activation = \"%3\"},")
                     .arg(inputs).arg(size).arg(s.activation);
        inputs = size;
    }
    lines << QString("    nn.Dense{inputs = %1, outputs = %2},").arg(inputs).arg(d.outputs) << "}"
          << "print(model:summary())" << ""
          << QString("local loss = nn.%1()").arg(loss)
          << QString("local optimizer = optim.%1(model:parameters(), {lr = %2})").arg(s.optimizer).arg(s.lr) << ""
          << "train.fit{" << "    model = model," << "    loss = loss," << "    optimizer = optimizer,"
          << "    data = train_set,";
    if (d.validation)
        lines << "    validation = validation_set,";
    // The run's name says what was tried, so runs overlaid on the charts
    // can be told apart: "xor 6 tanh Adam lr=0.01".
    QStringList sizes;
    for (int size : s.hidden)
        sizes << QString::number(size);
    const QString name = QString("%1 %2 %3 %4 lr=%5")
                             .arg(s.dataset, sizes.isEmpty() ? QString("linear") : sizes.join('-'), s.activation,
                                  s.optimizer)
                             .arg(s.lr);
    lines << QString("    epochs = %1,").arg(s.epochs) << QString("    batch_size = %1,").arg(s.batch_size)
          << QString("    name = \"%1\",").arg(name) << "}";
    return lines.join('\n') + '\n';
}

QuickExperiment::QuickExperiment(const Registry &registry, QWidget *parent)
    : QWidget(parent), m_dataset(new QComboBox), m_activation(new QComboBox), m_loss(new QComboBox),
      m_optimizer(new QComboBox), m_hidden(new QLineEdit), m_lr(new QDoubleSpinBox), m_batch(new QSpinBox),
      m_epochs(new QSpinBox), m_error(new QLabel)
{
    for (const DatasetInfo &d : kDatasets)
        m_dataset->addItem(d.label, QString(d.key));
    // The choices come from the plugins' own schemas, never from a list kept here.
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
        m_error->clear();
        const Settings s = settings();
        emit run_requested(script(s), info(s.dataset).key + QString(" experiment"));
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
    Settings s = settings();
    if (s.dataset == "fashion_mnist") {
        s.hidden = {256, 128};
        s.activation = "relu";
        s.optimizer = "SGD";
        s.lr = 0.05;
        s.batch_size = 64;
        s.epochs = 5;
    } else if (s.dataset == "xor" || s.dataset == "and") {
        s.hidden = {3};
        s.activation = "tanh";
        s.optimizer = "Adam";
        s.lr = 0.05;
        s.batch_size = 4;
        s.epochs = 300;
    } else {
        s.hidden = {20};
        s.activation = "tanh";
        s.optimizer = "Adam";
        s.lr = 0.01;
        s.batch_size = 32;
        s.epochs = 100;
    }
    set_settings(s);
}

} // namespace neurite::gui
