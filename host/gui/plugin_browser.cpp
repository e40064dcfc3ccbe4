#include "plugin_browser.h"

#include "neurite/core/registry.h"

#include <QEvent>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QPushButton>
#include <QSplitter>
#include <QTableWidget>
#include <QTextBrowser>
#include <QTreeWidget>

#include <algorithm>
#include <QVBoxLayout>

namespace neurite::gui {

namespace {

constexpr int kNameRole = Qt::UserRole + 1;
constexpr int kRangeColumn = 3;

QString lua_value(const ParamSpec &p)
{
    switch (p.type) {
    case ParamType::Int:
    case ParamType::Float:
        return QString::number(p.required ? (p.has_range() ? std::max(p.min, 1.0) : 1.0) : p.default_number, 'g', 10);
    case ParamType::Bool:
        return p.default_number != 0 ? "true" : "false";
    case ParamType::String:
        return "\"" + QString::fromStdString(p.default_string) + "\"";
    case ParamType::IntPair:
        if (p.default_list.empty())
            return "\"" + QString::fromStdString(p.default_string) + "\"";
        [[fallthrough]];
    case ParamType::FloatList: {
        QStringList items;
        for (double v : p.default_list)
            items << QString::number(v, 'g', 10);
        // A required list of any length (a shape): one valid element to edit.
        if (items.isEmpty() && p.required)
            items << QString::number(p.has_range() ? std::max(p.min, 1.0) : 1.0, 'g', 10);
        return "{" + items.join(", ") + "}";
    }
    }
    return "nil";
}

} // namespace

PluginBrowser::PluginBrowser(const Registry &registry, QWidget *parent)
    : QWidget(parent), m_registry(registry), m_tree(new QTreeWidget), m_details(new QTextBrowser),
      m_params(new QTableWidget), m_insert(new QPushButton(tr("Insert into editor")))
{
    // The parameters in a table of their own: each column as wide as its
    // entries (an HTML table squeezed its header to "para mete r"), the
    // meaning wrapped in what is left.
    m_params->setColumnCount(5);
    m_params->setHorizontalHeaderLabels({tr("parameter"), tr("type"), tr("default"), tr("range"), tr("meaning")});
    for (int c = 0; c < 3; ++c)
        m_params->horizontalHeader()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
    // A range can be a long list of choices: wrapped in at most a third of the width.
    m_params->horizontalHeader()->setSectionResizeMode(kRangeColumn, QHeaderView::Fixed);
    m_params->horizontalHeader()->setSectionResizeMode(4, QHeaderView::Stretch);
    m_params->viewport()->installEventFilter(this);
    m_params->verticalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_params->verticalHeader()->hide();
    m_params->setWordWrap(true);
    m_params->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_params->setSelectionMode(QAbstractItemView::NoSelection);
    m_params->hide();
    m_tree->setHeaderLabels({tr("Entry"), tr("Version"), tr("Library")});
    m_tree->header()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
    m_tree->setRootIsDecorated(true);
    m_insert->setEnabled(false);
    m_insert->setToolTip(tr("Put a constructor call for the selected entry at the editor's cursor"));

    auto *splitter = new QSplitter(Qt::Vertical);
    splitter->addWidget(m_tree);
    splitter->addWidget(m_details);
    splitter->addWidget(m_params);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 1);
    splitter->setStretchFactor(2, 2);
    auto *buttons = new QHBoxLayout;
    buttons->addStretch();
    buttons->addWidget(m_insert);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(splitter, 1);
    layout->addLayout(buttons);

    connect(m_tree, &QTreeWidget::currentItemChanged, this, &PluginBrowser::show_details);
    connect(m_insert, &QPushButton::clicked, this, [this] {
        QTreeWidgetItem *item = m_tree->currentItem();
        const Entry *e = item ? m_registry.find(item->data(0, kNameRole).toString().toStdString()) : nullptr;
        if (e)
            emit insert_requested(constructor_call(*e));
    });
    reload();
}

void PluginBrowser::reload()
{
    m_tree->clear();
    const Kind kinds[] = {Kind::Layer, Kind::Activation, Kind::Loss, Kind::Optimizer};
    for (Kind kind : kinds) {
        const QString plural = kind == Kind::Loss ? QStringLiteral("losses") : QString(kind_name(kind)) + "s";
        auto *group = new QTreeWidgetItem(m_tree, {plural});
        group->setFirstColumnSpanned(true);
        for (const Entry &e : m_registry.entries()) {
            if (e.kind != kind)
                continue;
            auto *item = new QTreeWidgetItem(group, {QString::fromStdString(e.name),
                                                     QString::fromStdString(e.version),
                                                     QString::fromStdString(e.library)});
            item->setData(0, kNameRole, QString::fromStdString(e.name));
            item->setToolTip(0, QString::fromStdString(e.summary));
        }
        group->setText(0, group->text(0) + QString(" (%1)").arg(group->childCount()));
        group->setExpanded(true);
    }
    if (!m_registry.refusals().empty()) {
        auto *refused = new QTreeWidgetItem(m_tree, {tr("refused libraries (%1)").arg(m_registry.refusals().size())});
        refused->setForeground(0, QBrush(QColor(180, 40, 40)));
        for (const Refusal &r : m_registry.refusals()) {
            auto *item = new QTreeWidgetItem(refused, {QFileInfo(QString::fromStdString(r.file)).fileName()});
            item->setToolTip(0, QString::fromStdString(r.reason));
            item->setData(0, kNameRole, QString());
            item->setData(1, kNameRole, QString::fromStdString(r.file + "\n" + r.reason));
        }
        refused->setExpanded(true);
    }
}

void PluginBrowser::size_range_column()
{
    const QFontMetrics metrics(m_params->horizontalHeader()->font());
    const int header = metrics.horizontalAdvance(m_params->horizontalHeaderItem(kRangeColumn)->text()) +
                       4 * metrics.averageCharWidth();
    int wanted = header;
    for (int r = 0; r < m_params->rowCount(); ++r)
        if (const QTableWidgetItem *item = m_params->item(r, kRangeColumn))
            wanted = std::max(wanted, QFontMetrics(item->font()).horizontalAdvance(item->text()) +
                                          2 * metrics.averageCharWidth());
    m_params->horizontalHeader()->resizeSection(kRangeColumn,
                                                std::min(wanted, std::max(header, m_params->viewport()->width() / 3)));
}

bool PluginBrowser::eventFilter(QObject *watched, QEvent *event)
{
    if (watched == m_params->viewport() && event->type() == QEvent::Resize)
        size_range_column();
    return QWidget::eventFilter(watched, event);
}

int PluginBrowser::entry_count() const
{
    return static_cast<int>(m_registry.entries().size());
}

bool PluginBrowser::select(const QString &name)
{
    const auto items = m_tree->findItems(name, Qt::MatchExactly | Qt::MatchRecursive);
    if (items.isEmpty())
        return false;
    m_tree->setCurrentItem(items.first());
    return true;
}

QString PluginBrowser::details() const
{
    QString text = m_details->toPlainText();
    for (int r = 0; r < m_params->rowCount(); ++r) {
        QStringList cells;
        for (int c = 0; c < m_params->columnCount(); ++c)
            cells << (m_params->item(r, c) ? m_params->item(r, c)->text() : QString());
        text += "\n" + cells.join("\t");
    }
    return text;
}

QString PluginBrowser::constructor_call(const Entry &e)
{
    const QString name = QString::fromStdString(e.name);
    QStringList args;
    for (const ParamSpec &p : e.params)
        if (p.required)
            args << QString::fromStdString(p.name) + " = " + lua_value(p);
    const QString table = "{" + args.join(", ") + "}";
    if (e.kind == Kind::Optimizer) {
        const auto lr = std::find_if(e.params.begin(), e.params.end(),
                                     [](const ParamSpec &p) { return p.name == "lr"; });
        const QString options = lr == e.params.end() ? QString() : ", {lr = " + lua_value(*lr) + "}";
        return "optim." + name + "(model:parameters()" + options + ")";
    }
    return "nn." + name + (args.isEmpty() ? "()" : table);
}

void PluginBrowser::show_details()
{
    QTreeWidgetItem *item = m_tree->currentItem();
    m_insert->setEnabled(false);
    if (!item)
        return;
    const QString refusal = item->data(1, kNameRole).toString();
    m_params->setRowCount(0);
    m_params->hide();
    if (!refusal.isEmpty()) {
        m_details->setPlainText(tr("Refused: %1").arg(refusal));
        return;
    }
    const Entry *e = m_registry.find(item->data(0, kNameRole).toString().toStdString());
    if (!e) {
        m_details->clear();
        return;
    }
    QString html = "<h3>" + QString::fromStdString(e->name).toHtmlEscaped() + " <small>" +
                   QString::fromStdString(e->version).toHtmlEscaped() + " · " + kind_name(e->kind) +
                   "</small></h3><p>" + QString::fromStdString(e->summary).toHtmlEscaped() +
                   "</p><p><small>" + QString::fromStdString(e->origin).toHtmlEscaped() +
                   "</small></p>";
    m_params->setRowCount(static_cast<int>(e->params.size()));
    for (int r = 0; r < m_params->rowCount(); ++r) {
        const ParamSpec &p = e->params[size_t(r)];
        const QString doc = QString::fromStdString(p.doc);
        const QString cells[] = {QString::fromStdString(p.name), param_type_name(p.type),
                                 QString::fromStdString(p.default_text()), QString::fromStdString(p.range_text()), doc};
        for (int c = 0; c < 5; ++c) {
            auto *item = new QTableWidgetItem(cells[c]);
            item->setToolTip(doc.isEmpty() ? cells[c] : cells[0] + ": " + doc);
            if (c == 0) {
                QFont bold = item->font();
                bold.setBold(true);
                item->setFont(bold);
            }
            m_params->setItem(r, c, item);
        }
    }
    m_params->setVisible(!e->params.empty());
    size_range_column();
    if (e->params.empty())
        html += "<p><i>No parameters.</i></p>";
    html += "<p><code>" + constructor_call(*e).toHtmlEscaped() + "</code></p>";
    m_details->setHtml(html);
    m_insert->setEnabled(true);
}

} // namespace neurite::gui
