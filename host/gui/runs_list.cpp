#include "runs_list.h"

#include <QDir>
#include <QHeaderView>
#include <QStyle>
#include <QMenu>
#include <QPainter>
#include <QPixmap>
#include <QSet>
#include <QTreeWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace neurite::gui {

namespace {

// Run and Status, then the hyperparameters and metrics, then Started: in a
// narrow panel what runs differ in comes first.
constexpr int kNameColumn = 0, kStatusColumn = 1, kFixedColumns = 2;
constexpr int kKeyRole = Qt::UserRole + 1;
constexpr int kSortRole = Qt::UserRole + 2;

// The metrics one reads first, before the others in order of arrival.
const QStringList kLeadingMetrics = {"loss", "val_loss", "accuracy", "val_accuracy"};

// Numbers sort as numbers, text as text; an empty cell sorts last.
class RunItem : public QTreeWidgetItem {
public:
    using QTreeWidgetItem::QTreeWidgetItem;
    bool operator<(const QTreeWidgetItem &other) const override
    {
        const int column = treeWidget() ? treeWidget()->sortColumn() : 0;
        const QVariant a = data(column, kSortRole), b = other.data(column, kSortRole);
        if (!a.isValid() || !b.isValid())
            return a.isValid() && !b.isValid();
        if (a.typeId() == QMetaType::Double && b.typeId() == QMetaType::Double) {
            const double x = a.toDouble(), y = b.toDouble();
            if (std::isnan(x) || std::isnan(y))
                return !std::isnan(x) && std::isnan(y);
            return x < y;
        }
        if (a.typeId() == QMetaType::QDateTime && b.typeId() == QMetaType::QDateTime)
            return a.toDateTime() < b.toDateTime();
        return QString::compare(a.toString(), b.toString(), Qt::CaseInsensitive) < 0;
    }
};

QString number_text(double v)
{
    return std::isfinite(v) ? QString::number(v, 'g', 4) : QString::number(v);
}

void set_cell(QTreeWidgetItem *item, int column, const QVariant &value)
{
    if (!value.isValid()) {
        item->setText(column, QString());
        item->setData(column, kSortRole, QVariant());
        item->setToolTip(column, QString());
        return;
    }
    const bool number = value.typeId() == QMetaType::Double || value.typeId() == QMetaType::Int;
    const QString text = number ? number_text(value.toDouble()) : value.toString();
    item->setText(column, text);
    item->setData(column, kSortRole, number ? QVariant(value.toDouble()) : value);
    if (number) {
        item->setTextAlignment(column, Qt::AlignRight | Qt::AlignVCenter);
        item->setToolTip(column, QString::number(value.toDouble(), 'g', 9));
    } else {
        item->setToolTip(column, text);
    }
}

} // namespace

QIcon run_swatch(const QColor &colour)
{
    QPixmap pixmap(14, 14);
    pixmap.fill(Qt::transparent);
    QPainter painter(&pixmap);
    painter.fillRect(QRect(1, 4, 12, 6), colour);
    return QIcon(pixmap);
}

RunsList::RunsList(QWidget *parent) : QWidget(parent), m_tree(new QTreeWidget)
{
    m_tree->setRootIsDecorated(false);
    m_tree->setUniformRowHeights(true);
    m_tree->setAlternatingRowColors(true);
    // Unsorted (in order of arrival) until a header is clicked; a third
    // click goes back to that order.
    m_tree->header()->setSortIndicator(-1, Qt::AscendingOrder);
    m_tree->header()->setSortIndicatorClearable(true);
    m_tree->setSortingEnabled(true);
    m_tree->setContextMenuPolicy(Qt::CustomContextMenu);
    m_tree->header()->setSectionResizeMode(QHeaderView::Interactive);
    m_tree->header()->setStretchLastSection(false);
    m_tree->setHorizontalScrollBarPolicy(Qt::ScrollBarAsNeeded);
    m_tree->setToolTip(tr("The runs, and the legend of every chart: untick a run to hide its lines, "
                          "click a header to sort, right-click to rename, delete or open its script"));
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_tree);
    update_columns(QString());
    connect(m_tree, &QTreeWidget::itemChanged, this, [this](QTreeWidgetItem *item, int column) {
        if (!m_filling && column == kNameColumn)
            emit visibility_toggled(key_of(item), item->checkState(kNameColumn) == Qt::Checked);
    });
    connect(m_tree, &QTreeWidget::customContextMenuRequested, this, &RunsList::show_menu);
}

QString RunsList::key_of(const QTreeWidgetItem *item) const
{
    return item ? item->data(kNameColumn, kKeyRole).toString() : QString();
}

void RunsList::add_run(const QString &key, const QString &name, const QColor &colour, bool visible)
{
    if (!m_rows.contains(key))
        m_order.append(key);
    Row &row = m_rows[key];
    delete row.item;
    row.name = name;
    row.colour = colour;
    row.live_status = tr("running");
    row.live_started = QDateTime::currentDateTimeUtc();
    m_filling = true;
    row.item = new RunItem;
    row.item->setData(kNameColumn, kKeyRole, key);
    row.item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsUserCheckable);
    row.item->setCheckState(kNameColumn, visible ? Qt::Checked : Qt::Unchecked);
    row.item->setIcon(kNameColumn, run_swatch(colour));
    m_tree->addTopLevelItem(row.item);
    m_filling = false;
    update_columns(key);
}

void RunsList::remove_run(const QString &key)
{
    auto it = m_rows.find(key);
    if (it == m_rows.end())
        return;
    delete it->item;
    m_rows.erase(it);
    m_order.removeOne(key);
    update_columns(QString());
}

void RunsList::set_name(const QString &key, const QString &name)
{
    auto it = m_rows.find(key);
    if (it == m_rows.end())
        return;
    it->name = name;
    it->record.name = name;
    fill(*it);
}

void RunsList::set_visible(const QString &key, bool visible)
{
    auto it = m_rows.find(key);
    if (it == m_rows.end())
        return;
    m_filling = true;
    it->item->setCheckState(kNameColumn, visible ? Qt::Checked : Qt::Unchecked);
    m_filling = false;
}

void RunsList::set_record(const QString &key, const StoredRun &run)
{
    auto it = m_rows.find(key);
    if (it == m_rows.end())
        return;
    it->has_record = true;
    it->record = run;
    it->name = run.name;
    update_columns(key);
}

void RunsList::set_final_metrics(const QString &key, const QList<std::pair<QString, double>> &metrics,
                                 const QString &status)
{
    auto it = m_rows.find(key);
    if (it == m_rows.end())
        return;
    it->live_metrics = metrics;
    it->live_status = status;
    update_columns(key);
}

void RunsList::clear()
{
    m_rows.clear();
    m_order.clear();
    m_tree->clear();
    update_columns(QString());
}

void RunsList::end_batch()
{
    m_batch = false;
    m_columns.clear(); // every row refilled
    update_columns(QString());
}

void RunsList::update_columns(const QString &only)
{
    if (m_batch)
        return;
    QStringList hparams, metrics = kLeadingMetrics;
    QSet<QString> seen_metrics;
    // In the order the runs arrived, so a column does not jump about.
    for (const QString &key : std::as_const(m_order)) {
        const Row &row = m_rows[key];
        for (const auto &[name, value] : row.record.hyperparameters)
            if (!hparams.contains(name))
                hparams.append(name);
        for (const auto &[name, value] : row.has_record ? row.record.final_metrics : row.live_metrics) {
            seen_metrics.insert(name);
            if (!metrics.contains(name))
                metrics.append(name);
        }
    }
    // The main metrics first (a narrow panel shows them without scrolling),
    // then the hyperparameters, then the other metrics; a metric named as a
    // hyperparameter ("lr": the schedule's last value) is "final lr".
    QList<Column> columns;
    for (const QString &m : std::as_const(metrics))
        if (seen_metrics.contains(m) && kLeadingMetrics.contains(m))
            columns.append({false, m, m});
    for (const QString &h : std::as_const(hparams))
        columns.append({true, h, h});
    for (const QString &m : std::as_const(metrics))
        if (seen_metrics.contains(m) && !kLeadingMetrics.contains(m))
            columns.append({false, m, hparams.contains(m) ? tr("final %1").arg(m) : m});
    // The header count too: a first run with neither (it failed at once)
    // still needs the headers.
    const bool changed = columns != m_columns || m_tree->columnCount() != kFixedColumns + columns.size() + 1;
    if (changed) {
        m_columns = columns;
        QStringList headers = {tr("Run"), tr("Status")};
        for (const Column &c : std::as_const(columns))
            headers << c.header;
        headers << tr("Started");
        m_tree->setColumnCount(static_cast<int>(headers.size()));
        m_tree->setHeaderLabels(headers);
        for (int i = 0; i < columns.size(); ++i)
            m_tree->headerItem()->setToolTip(kFixedColumns + i, columns[i].hyperparameter
                                                                    ? tr("Hyperparameter %1").arg(columns[i].key)
                                                                    : tr("The last value of %1").arg(columns[i].key));
    }
    const bool sorting = m_tree->isSortingEnabled();
    m_tree->setSortingEnabled(false); // one sort after the rows are filled, not one per cell
    for (auto it = m_rows.begin(); it != m_rows.end(); ++it)
        if (changed || it.key() == only)
            fill(*it);
    m_tree->setSortingEnabled(sorting);
    for (int c = 0; c < m_tree->columnCount(); ++c)
        m_tree->resizeColumnToContents(c);
}

void RunsList::fill(Row &row)
{
    m_filling = true;
    QTreeWidgetItem *item = row.item;
    item->setText(kNameColumn, row.name);
    item->setData(kNameColumn, kSortRole, row.name);
    item->setToolTip(kNameColumn, tooltip(row));
    set_cell(item, kStatusColumn, row.has_record ? row.record.status : row.live_status);
    const auto &metrics = row.has_record ? row.record.final_metrics : row.live_metrics;
    for (int i = 0; i < m_columns.size(); ++i) {
        const Column &column = m_columns[i];
        QVariant value;
        if (column.hyperparameter) {
            for (const auto &[name, v] : row.record.hyperparameters)
                if (name == column.key)
                    value = v;
        } else {
            for (const auto &[name, v] : metrics)
                if (name == column.key)
                    value = v;
        }
        set_cell(item, kFixedColumns + i, value);
    }
    const QDateTime started = (row.has_record ? row.record.started : row.live_started).toLocalTime();
    const int started_column = m_tree->columnCount() - 1;
    // Today's runs by their time alone: the column stays narrow.
    item->setText(started_column, started.toString(started.date() == QDate::currentDate() ? "HH:mm:ss"
                                                                                            : "yyyy-MM-dd HH:mm"));
    item->setToolTip(started_column, started.toString("yyyy-MM-dd HH:mm:ss"));
    item->setData(started_column, kSortRole, started);
    m_filling = false;
}

QString RunsList::tooltip(const Row &row) const
{
    QStringList lines = {row.name};
    if (row.has_record) {
        const StoredRun &r = row.record;
        lines << tr("Kept in %1").arg(QDir::toNativeSeparators(r.dir));
        if (!r.script_path.isEmpty())
            lines << tr("Script: %1").arg(QDir::toNativeSeparators(r.script_path));
        if (!r.optimizer_text.isEmpty())
            lines << tr("Optimizer: %1").arg(r.optimizer_text);
        if (r.is_variant())
            lines << tr("Variant %1 of sweep \"%2\"").arg(r.variant).arg(r.sweep);
        lines << tr("Status: %1").arg(r.status);
        if (!r.message.isEmpty())
            lines << r.message;
    } else {
        lines << tr("Not in the run store (yet)");
    }
    return lines.join('\n');
}

void RunsList::show_menu(const QPoint &pos)
{
    const QString key = key_of(m_tree->itemAt(pos));
    if (key.isEmpty())
        return;
    const Row &row = m_rows[key];
    QMenu menu(this);
    QAction *rename = menu.addAction(tr("Rename…"));
    QAction *open = menu.addAction(tr("Open the script of this run"));
    open->setEnabled(row.has_record && !row.record.script_copy.isEmpty());
    menu.addSeparator();
    QAction *remove = menu.addAction(tr("Delete…"));
    QAction *chosen = menu.exec(m_tree->viewport()->mapToGlobal(pos));
    if (chosen == rename)
        emit rename_requested(key);
    else if (chosen == open)
        emit open_script_requested(key);
    else if (chosen == remove)
        emit delete_requested(key);
}

QStringList RunsList::columns() const
{
    QStringList out;
    for (int c = 0; c < m_tree->columnCount(); ++c)
        out << m_tree->headerItem()->text(c);
    return out;
}

QString RunsList::cell(const QString &key, const QString &column) const
{
    auto it = m_rows.constFind(key);
    const int c = static_cast<int>(columns().indexOf(column));
    return it == m_rows.cend() || c < 0 ? QString() : it->item->text(c);
}

QStringList RunsList::keys_in_order() const
{
    QStringList out;
    for (int i = 0; i < m_tree->topLevelItemCount(); ++i)
        out << key_of(m_tree->topLevelItem(i));
    return out;
}

void RunsList::sort_by(const QString &column, Qt::SortOrder order)
{
    const int c = static_cast<int>(columns().indexOf(column));
    if (c >= 0)
        m_tree->sortByColumn(c, order);
}

int RunsList::height_for_rows(int rows) const
{
    const int row = m_tree->topLevelItemCount() > 0 ? m_tree->sizeHintForRow(0) : fontMetrics().height() + 4;
    return m_tree->header()->sizeHint().height() + rows * row +
           style()->pixelMetric(QStyle::PM_ScrollBarExtent) + 2 * m_tree->frameWidth() + 2;
}

QColor RunsList::colour(const QString &key) const
{
    auto it = m_rows.constFind(key);
    return it == m_rows.cend() ? QColor() : it->colour;
}

} // namespace neurite::gui
