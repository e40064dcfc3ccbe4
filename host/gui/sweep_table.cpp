#include "sweep_table.h"

#include "runs_list.h"

#include <QComboBox>
#include <QHash>
#include <QSet>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace neurite::gui {

namespace {

// Best first by the metric; variants without it (failed, NaN) last.
void rank(Sweep &sweep)
{
    const bool max = sweep.mode == "max";
    std::stable_sort(sweep.variants.begin(), sweep.variants.end(), [max](const SweepVariant &a, const SweepVariant &b) {
        const double x = a.run.sweep_value, y = b.run.sweep_value;
        if (std::isnan(x) || std::isnan(y) || x == y) {
            if (std::isnan(x) != std::isnan(y))
                return std::isnan(y);
            return a.run.variant < b.run.variant;
        }
        return max ? x > y : x < y;
    });
}

QTableWidgetItem *item(const QString &text, bool number = false)
{
    auto *cell = new QTableWidgetItem(text);
    cell->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable);
    cell->setToolTip(text);
    if (number)
        cell->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return cell;
}

QString text_of(const QVariant &v)
{
    return v.typeId() == QMetaType::Double ? QString::number(v.toDouble(), 'g', 4) : v.toString();
}

// The hyperparameters whose values differ between the variants: the
// sweep's grid (what every variant shares says nothing about the ranking).
// A sweep of one variant shows them all.
QStringList varying(const Sweep &sweep)
{
    QStringList keys;
    QHash<QString, QSet<QString>> values;
    for (const SweepVariant &v : sweep.variants)
        for (const auto &[name, value] : v.run.hyperparameters) {
            if (name == "variant")
                continue;
            if (!keys.contains(name))
                keys.append(name);
            values[name].insert(text_of(value));
        }
    if (sweep.variants.size() > 1)
        keys.erase(std::remove_if(keys.begin(), keys.end(),
                                  [&](const QString &k) { return values[k].size() < 2; }),
                   keys.end());
    return keys;
}

} // namespace

QList<Sweep> group_sweeps(const QList<SweepVariant> &runs)
{
    QList<Sweep> sweeps;
    QHash<QString, int> open;   // sweep name and script: its sweep's index
    QHash<int, QSet<int>> seen; // the variant numbers of each sweep
    for (const SweepVariant &v : runs) {
        const QString group = v.run.sweep + '\n' + v.run.script_path;
        auto it = open.find(group);
        if (it == open.end() || seen[*it].contains(v.run.variant)) {
            Sweep s;
            s.title = QObject::tr("%1 of %2 at %3").arg(v.run.sweep, QFileInfo(v.run.script_path).fileName(),
                                                       v.run.started.toLocalTime().toString("yyyy-MM-dd HH:mm"));
            s.metric = v.run.sweep_metric;
            s.mode = v.run.sweep_mode;
            sweeps.append(s);
            it = open.insert(group, static_cast<int>(sweeps.size() - 1));
        }
        seen[*it].insert(v.run.variant);
        sweeps[*it].variants.append(v);
    }
    for (Sweep &s : sweeps)
        rank(s);
    return sweeps;
}

SweepTable::SweepTable(QWidget *parent)
    : QWidget(parent), m_choice(new QComboBox), m_table(new QTableWidget),
      m_only(new QPushButton(tr("Show only this sweep")))
{
    m_only->setToolTip(tr("Hide the other runs' lines in the charts (tick them again in the Runs list)"));
    m_table->verticalHeader()->setVisible(false);
    m_table->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6); // rows as dense as the runs list
    m_table->setAlternatingRowColors(true);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->horizontalHeader()->setStretchLastSection(false);
    auto *top = new QHBoxLayout;
    top->addWidget(m_choice, 1);
    top->addWidget(m_only);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(top);
    layout->addWidget(m_table, 1);
    connect(m_choice, &QComboBox::currentIndexChanged, this, &SweepTable::show_sweep);
    connect(m_only, &QPushButton::clicked, this, [this] { emit show_only(m_keys); });
}

void SweepTable::set_sweeps(const QList<Sweep> &sweeps)
{
    const int shown = m_choice->currentIndex();
    const bool newest = shown < 0 || shown == m_choice->count() - 1;
    m_sweeps = sweeps;
    QSignalBlocker block(m_choice);
    m_choice->clear();
    for (const Sweep &s : sweeps)
        m_choice->addItem(tr("%1: %2 variants, best first by %3 (%4)")
                              .arg(s.title)
                              .arg(s.variants.size())
                              .arg(s.metric, s.mode));
    // A new sweep shows itself; one the user chose stays chosen.
    const int index = newest ? static_cast<int>(sweeps.size()) - 1 : std::min(shown, static_cast<int>(sweeps.size()) - 1);
    m_choice->setCurrentIndex(index);
    show_sweep(index);
}

void SweepTable::show_sweep(int index)
{
    m_table->clear();
    m_keys.clear();
    if (index < 0 || index >= m_sweeps.size()) {
        m_table->setRowCount(0);
        m_table->setColumnCount(0);
        return;
    }
    const Sweep &sweep = m_sweeps[index];
    m_table->setToolTip(tr("Best first by %1 (%2imum); each variant's lines are in the charts, in its colour. "
                           "The columns are what the variants differ in.")
                            .arg(sweep.metric, sweep.mode));
    const QStringList config = varying(sweep);
    QStringList headers = {tr("#"), tr("Run"), sweep.metric};
    headers << config << tr("variant") << tr("Status");
    m_table->setColumnCount(static_cast<int>(headers.size()));
    m_table->setHorizontalHeaderLabels(headers);
    m_table->setRowCount(static_cast<int>(sweep.variants.size()));
    for (int r = 0; r < sweep.variants.size(); ++r) {
        const SweepVariant &v = sweep.variants[r];
        m_keys << v.key;
        m_table->setItem(r, 0, item(QString::number(r + 1), true));
        QTableWidgetItem *name = item(v.run.name);
        name->setIcon(run_swatch(v.colour));
        m_table->setItem(r, 1, name);
        const double value = v.run.sweep_value;
        m_table->setItem(r, 2, item(std::isnan(value) ? QStringLiteral("–") : QString::number(value, 'g', 5), true));
        for (int c = 0; c < config.size(); ++c)
            for (const auto &[key, setting] : v.run.hyperparameters)
                if (key == config[c])
                    m_table->setItem(r, 3 + c, item(text_of(setting), setting.typeId() == QMetaType::Double));
        m_table->setItem(r, static_cast<int>(3 + config.size()), item(QString::number(v.run.variant), true));
        QTableWidgetItem *status = item(v.run.status);
        if (!v.run.message.isEmpty())
            status->setToolTip(v.run.message);
        m_table->setItem(r, static_cast<int>(4 + config.size()), status);
    }
    m_table->resizeColumnsToContents();
}

QStringList SweepTable::keys_in_order() const { return m_keys; }

QStringList SweepTable::columns() const
{
    QStringList out;
    for (int c = 0; c < m_table->columnCount(); ++c)
        out << m_table->horizontalHeaderItem(c)->text();
    return out;
}

QString SweepTable::cell(int row, const QString &column) const
{
    const int c = static_cast<int>(columns().indexOf(column));
    const QTableWidgetItem *i = c < 0 ? nullptr : m_table->item(row, c);
    return i ? i->text() : QString();
}

} // namespace neurite::gui
