#pragma once

#include <QWidget>

class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;
class QLabel;

namespace neurite {
class Registry;
}

namespace neurite::gui {

// A form for people who do not script: dataset, hidden layers, activation,
// loss, optimizer, learning rate, batch size, epochs. It writes the Lua
// script into a new editor tab and runs it, so the form teaches scripting.
class QuickExperiment : public QWidget {
    Q_OBJECT

public:
    explicit QuickExperiment(const Registry &registry, QWidget *parent = nullptr);

    struct Settings {
        QString dataset = "xor";     // a key of datasets()
        QList<int> hidden = {8};
        QString activation = "tanh";
        QString loss;                // empty: the dataset's natural loss
        QString optimizer = "Adam";
        double lr = 0.01;
        int batch_size = 4;
        int epochs = 200;
    };
    // Dataset keys with their labels, as offered in the form.
    static QList<QPair<QString, QString>> datasets();
    static QString script(const Settings &s);

    Settings settings() const;
    void set_settings(const Settings &s);
    // Parses "256, 128"; false with a message when it is not a list of sizes.
    static bool parse_hidden(const QString &text, QList<int> &sizes, QString &error);

signals:
    void run_requested(const QString &script, const QString &title);

private:
    void dataset_changed();

    QComboBox *m_dataset, *m_activation, *m_loss, *m_optimizer;
    QLineEdit *m_hidden;
    QDoubleSpinBox *m_lr;
    QSpinBox *m_batch, *m_epochs;
    QLabel *m_error;
};

} // namespace neurite::gui
