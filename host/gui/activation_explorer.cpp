#include "activation_explorer.h"

#include "metric_chart.h"

#include "neurite/core/chart_rules.h"
#include "neurite/core/error.h"
#include "neurite/core/model.h"

#include <QChart>
#include <QChartView>
#include <QDoubleSpinBox>
#include <QEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineSeries>
#include <QListWidget>
#include <QSplitter>
#include <QTimer>
#include <QValueAxis>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <utility>

namespace neurite::gui {

namespace {

constexpr int kPoints = 401;

bool pairwise(const QString &name) { return name == "Softmax" || name == "LogSoftmax"; }

QChartView *make_view(const QString &title)
{
    auto *chart = new QChart;
    chart->setTitle(title);
    chart->setAnimationOptions(QChart::NoAnimation);
    // Above the plot: at the right it took the width the x axis' labels need.
    chart->legend()->setAlignment(Qt::AlignTop);
    auto *view = new QChartView(chart);
    view->setRenderHint(QPainter::Antialiasing);
    view->setMinimumSize(240, 120);
    return view;
}

void fill(QChartView *view, const QList<std::pair<QString, QList<QPointF>>> &lines, double lo, double hi)
{
    QChart *chart = view->chart();
    chart->removeAllSeries();
    for (QAbstractAxis *a : chart->axes()) {
        chart->removeAxis(a); // hands ownership back
        delete a;
    }
    auto *x = new QValueAxis;
    auto *y = new QValueAxis;
    double y0 = 0, y1 = 0;
    bool any = false;
    for (const auto &[name, points] : lines)
        for (const QPointF &p : points) {
            y0 = any ? std::min(y0, p.y()) : p.y();
            y1 = any ? std::max(y1, p.y()) : p.y();
            any = true;
        }
    const double pad = any && y1 > y0 ? (y1 - y0) * 0.05 : 1;
    // Round ticks (-1, 0, 1, 2 rather than -1.3, 0.4, 2.0) as on the training
    // charts, as many as their labels fit side by side.
    // The plot is the view less the y labels, the title, the legend and the
    // x labels (the chart lays out later than this).
    const QRectF plot(0, 0, view->width() - 90, view->height() - 120);
    const QFontMetrics metrics(x->labelsFont());
    const int label = metrics.horizontalAdvance(QString::number(-std::max(std::fabs(lo), std::fabs(hi)), 'g', 3)) +
                      5 * metrics.averageCharWidth();
    const MetricChart::AxisRange x_range =
        MetricChart::nice_range(lo, hi, std::clamp(static_cast<int>(plot.width() / label), 3, 11));
    const MetricChart::AxisRange y_range = MetricChart::nice_range(
        y0 - pad, y1 + pad, charts::max_ticks(plot.height(), charts::kPixelsPerValueLabel));
    x->setRange(x_range.lo, x_range.hi);
    x->setTickCount(x_range.ticks);
    y->setRange(y_range.lo, y_range.hi);
    y->setTickCount(y_range.ticks);
    x->setLabelFormat("%g");
    y->setLabelFormat("%g");
    x->setTruncateLabels(false); // "-…" when Qt thought "-5" too wide
    y->setTruncateLabels(false);
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    for (const auto &[name, points] : lines) {
        auto *s = new QLineSeries;
        s->setName(name);
        s->replace(points);
        chart->addSeries(s);
        s->attachAxis(x);
        s->attachAxis(y);
    }
}

} // namespace

ActivationExplorer::ActivationExplorer(const Registry &registry, ComputeContext &context, QWidget *parent)
    : QWidget(parent), m_registry(registry), m_context(context), m_list(new QListWidget),
      m_lo(new QDoubleSpinBox), m_hi(new QDoubleSpinBox), m_f_view(make_view(tr("f(x)"))),
      m_df_view(make_view(tr("f'(x)"))), m_formula(new QLabel)
{
    for (QDoubleSpinBox *box : {m_lo, m_hi}) {
        box->setRange(-1000, 1000);
        box->setDecimals(2);
    }
    m_lo->setValue(-5);
    m_hi->setValue(5);
    m_formula->setWordWrap(true);
    m_formula->setTextInteractionFlags(Qt::TextSelectableByMouse);
    for (const Entry &e : m_registry.entries()) {
        if (e.kind != Kind::Activation)
            continue;
        auto *item = new QListWidgetItem(QString::fromStdString(e.name), m_list);
        item->setFlags(item->flags() | Qt::ItemIsUserCheckable);
        const bool start = e.name == "Sigmoid" || e.name == "Tanh" || e.name == "ReLU";
        item->setCheckState(start ? Qt::Checked : Qt::Unchecked);
        item->setToolTip(QString::fromStdString(e.summary));
    }
    auto *range = new QHBoxLayout;
    range->addWidget(new QLabel(tr("x from")));
    range->addWidget(m_lo);
    range->addWidget(new QLabel(tr("to")));
    range->addWidget(m_hi);
    range->addStretch();
    auto *charts = new QSplitter(Qt::Vertical);
    charts->addWidget(m_f_view);
    charts->addWidget(m_df_view);
    auto *right = new QVBoxLayout;
    right->addLayout(range);
    right->addWidget(charts, 1);
    right->addWidget(m_formula);
    auto *right_widget = new QWidget;
    right_widget->setLayout(right);
    auto *split = new QSplitter;
    split->addWidget(m_list);
    split->addWidget(right_widget);
    split->setStretchFactor(1, 3);
    split->setSizes({150, 600}); // the names need little room; the curves want it
    auto *layout = new QHBoxLayout(this);
    layout->addWidget(split);

    m_f_view->installEventFilter(this);
    m_df_view->installEventFilter(this);
    connect(m_list, &QListWidget::itemChanged, this, &ActivationExplorer::redraw);
    connect(m_lo, &QDoubleSpinBox::valueChanged, this, &ActivationExplorer::redraw);
    connect(m_hi, &QDoubleSpinBox::valueChanged, this, &ActivationExplorer::redraw);
    redraw();
}

QStringList ActivationExplorer::activations() const
{
    QStringList names;
    for (int i = 0; i < m_list->count(); ++i)
        names << m_list->item(i)->text();
    return names;
}

void ActivationExplorer::set_range(double lo, double hi)
{
    m_lo->setValue(lo);
    m_hi->setValue(hi);
}

void ActivationExplorer::set_checked(const QString &name, bool checked)
{
    for (int i = 0; i < m_list->count(); ++i)
        if (m_list->item(i)->text() == name)
            m_list->item(i)->setCheckState(checked ? Qt::Checked : Qt::Unchecked);
}

ActivationExplorer::Curve ActivationExplorer::evaluate(const QString &name, double lo, double hi, int points) const
{
    auto layer = m_registry.create_layer(name.toStdString(), {}, m_context, 0);
    const bool pair = pairwise(name);
    const Shape shape = pair ? Shape{points, 2} : Shape{points};
    Tensor x(shape);
    for (int i = 0; i < points; ++i)
        x[pair ? 2 * i : i] = static_cast<float>(lo + (hi - lo) * i / std::max(1, points - 1));
    layer->set_training(false);
    LayerRunner run(layer);
    const Tensor y = run.forward(x).clone();
    // d/dx of the first output: a unit gradient on it alone.
    Tensor dy(y.shape());
    for (int i = 0; i < points; ++i)
        dy[pair ? 2 * i : i] = 1.0f;
    const Tensor dx = run.backward(x, dy);
    Curve c;
    for (int i = 0; i < points; ++i) {
        const int k = pair ? 2 * i : i;
        c.x.push_back(x[k]);
        c.f.push_back(y[k]);
        c.df.push_back(dx[k]);
    }
    return c;
}

bool ActivationExplorer::eventFilter(QObject *watched, QEvent *event)
{
    if ((watched == m_f_view || watched == m_df_view) && event->type() == QEvent::Resize &&
        !std::exchange(m_redraw_queued, true))
        QTimer::singleShot(0, this, [this] {
            m_redraw_queued = false;
            redraw();
        });
    return QWidget::eventFilter(watched, event);
}

void ActivationExplorer::redraw()
{
    const double lo = m_lo->value(), hi = std::max(m_hi->value(), m_lo->value() + 0.01);
    QList<std::pair<QString, QList<QPointF>>> f_lines, df_lines;
    QStringList formulas;
    for (int i = 0; i < m_list->count(); ++i) {
        if (m_list->item(i)->checkState() != Qt::Checked)
            continue;
        const QString name = m_list->item(i)->text();
        try {
            const Curve c = evaluate(name, lo, hi, kPoints);
            QList<QPointF> f, df;
            for (size_t k = 0; k < c.x.size(); ++k) {
                f.append(QPointF(c.x[k], c.f[k]));
                df.append(QPointF(c.x[k], c.df[k]));
            }
            const QString label = pairwise(name) ? name + " (x, 0)" : name;
            f_lines.append({label, f});
            df_lines.append({label, df});
            if (const Entry *e = m_registry.find(name.toStdString())) {
                // Summaries often begin with the entry's name ("Sigmoid: f(x) = ...").
                QString summary = QString::fromStdString(e->summary);
                if (summary.startsWith(name + ":"))
                    summary = summary.mid(name.size() + 1).trimmed();
                formulas << "<b>" + name.toHtmlEscaped() + "</b>: " + summary.toHtmlEscaped();
            }
        } catch (const Error &e) {
            formulas << "<b>" + name.toHtmlEscaped() + "</b>: <span style='color:#b00'>" +
                            QString(e.what()).toHtmlEscaped() + "</span>";
        }
    }
    fill(m_f_view, f_lines, lo, hi);
    fill(m_df_view, df_lines, lo, hi);
    m_formula->setText(formulas.join("<br>"));
}

} // namespace neurite::gui
