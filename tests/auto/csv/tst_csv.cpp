// The CSV/TSV loader: header and delimiter detection, target columns by name
// or index, text classes, quoting, every bad input with its exact message
// (naming the line), and models trained on what it yields.
#include "data_test_support.h"

#include "neurite/core/data/csv.h"

#include <QtTest>

#include <cmath>

using namespace neurite;
using namespace neurite::data;
using neurite::test::error_of;

namespace {

Dataset csv(const std::string &text, const CsvOptions &options = {}, const std::string &name = "t.csv")
{
    return parse_csv(std::span(reinterpret_cast<const uint8_t *>(text.data()), text.size()), name, options);
}

QString csv_error(const std::string &text, const CsvOptions &options = {})
{
    return error_of([&] { csv(text, options); });
}

std::vector<float> flat(const Tensor &t) { return t.to_vector(); }

} // namespace

class TestCsv : public QObject {
    Q_OBJECT

private slots:
    void header_and_text_classes()
    {
        const Dataset d = csv("sepal,petal,species\n"
                              "5.1,1.4,setosa\n"
                              "7.0,4.7,versicolor\n"
                              "6.3,6.0,virginica\n"
                              "4.9,1.4,setosa\n");
        QCOMPARE(d.size(), 4);
        QCOMPARE(d.input_shape(), (Shape{2}));
        QCOMPARE(d.feature_names(), (std::vector<std::string>{"sepal", "petal"}));
        QCOMPARE(d.target_name(), std::string("species")); // the Data panel names the target column
        QCOMPARE(d.target_kind(), TargetKind::Classes);
        QCOMPARE(d.class_names(), (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
        QCOMPARE(flat(d.targets()), (std::vector<float>{0, 1, 2, 0}));
        QCOMPARE(flat(d.sample(1).input), (std::vector<float>{7.0f, 4.7f}));
    }

    void delimiters_quotes_and_line_endings()
    {
        // Semicolons with decimal commas, as spreadsheets in many locales save.
        const Dataset semi = csv("a;b;y\n1,5;2;0\n-3;+4,25;1\n");
        QCOMPARE(flat(semi.inputs()), (std::vector<float>{1.5f, 2, -3, 4.25f}));
        QCOMPARE(semi.target_kind(), TargetKind::Values);
        const Dataset tabs = csv("1\t2\t3\n4\t5\t6\n");
        QCOMPARE(tabs.size(), 2); // no header: the first row is numbers
        QCOMPARE(tabs.target_name(), std::string());
        QCOMPARE(flat(tabs.targets()), (std::vector<float>{3, 6}));
        const Dataset bars = csv("x|y\n1|2\n");
        QCOMPARE(bars.size(), 1);
        // Quotes hide delimiters and newlines; "" is a quote; CRLF, a BOM and
        // blank lines are all fine.
        const Dataset quoted = csv("\xEF\xBB\xBF" "id,\"label, long\"\r\n"
                                   "1,\"say \"\"hi\"\"\"\r\n"
                                   "\r\n"
                                   "2,\"two\nlines\"\r\n");
        QCOMPARE(quoted.class_names(), (std::vector<std::string>{"say \"hi\"", "two\nlines"}));
        QCOMPARE(quoted.feature_names(), (std::vector<std::string>{"id"}));
    }

    void choosing_the_target()
    {
        const std::string text = "y,a,b\n9,1,2\n10,3,4\n9,5,6\n";
        CsvOptions by_index;
        by_index.target_index = 0;
        by_index.target = TargetMode::Classes;
        const Dataset first = csv(text, by_index);
        QCOMPARE(first.class_names(), (std::vector<std::string>{"9", "10"})); // numeric order
        QCOMPARE(flat(first.targets()), (std::vector<float>{0, 1, 0}));
        QCOMPARE(flat(first.sample(0).input), (std::vector<float>{1, 2}));
        CsvOptions by_name;
        by_name.target_column = "a";
        const Dataset named = csv(text, by_name);
        QCOMPARE(named.target_kind(), TargetKind::Values);
        QCOMPARE(flat(named.targets()), (std::vector<float>{1, 3, 5}));
        QCOMPARE(named.feature_names(), (std::vector<std::string>{"y", "b"}));
        QCOMPARE(named.target_name(), std::string("a"));
        QCOMPARE(first.target_name(), std::string("y"));
        CsvOptions second_last;
        second_last.target_index = -2;
        QCOMPARE(flat(csv(text, second_last).targets()), (std::vector<float>{1, 3, 5}));
        CsvOptions none;
        none.target = TargetMode::None;
        const Dataset all = csv(text, none);
        QCOMPARE(all.input_shape(), (Shape{3}));
        QCOMPARE(all.target_kind(), TargetKind::None);
        CsvOptions forced;
        forced.header = HeaderMode::Present;
        QCOMPARE(csv("1,2\n3,4\n", forced).size(), 1);
        forced.header = HeaderMode::Absent;
        forced.delimiter = ';';
        QCOMPARE(csv("1;2\n3;4\n", forced).size(), 2);
    }

    void bad_inputs_name_the_line()
    {
        QCOMPARE(csv_error("a,b,y\n1,2,3\n4,5\n"), QString("t.csv: line 3: 2 fields, expected 3 like line 1"));
        QCOMPARE(csv_error("a,b,y\nabc,2,3\n1,2,3\n"),
                 QString("t.csv: line 2: column 1 ('a'): 'abc' is not a number (features must be numeric)"));
        QCOMPARE(csv_error(""), QString("t.csv: the file is empty"));
        QCOMPARE(csv_error(" \n\r\n"), QString("t.csv: the file is empty"));
        QCOMPARE(csv_error("a,b,y\n1,2,3\n4,5,6\n7,,9\n"),
                 QString("t.csv: line 4: missing value in column 2 ('b')"));
        QCOMPARE(csv_error("1,2,3\n4,NA,6\n"), QString("t.csv: line 2: missing value in column 2"));
        QCOMPARE(csv_error("a,b,y\n1,2,cat\n4,5,?\n"),
                 QString("t.csv: line 3: missing target in column 3 ('y')"));
        QCOMPARE(csv_error("a,b,y\n"), QString("t.csv: line 1: there are no data rows after the header"));
        QCOMPARE(csv_error("y\n1\n2\n"),
                 QString("t.csv: line 1: there is no feature column besides the target (column 1 ('y'))"));
        QCOMPARE(csv_error("a,y\n1,\"open\n2,3\n"), QString("t.csv: line 2: a quoted field is not closed"));
        QCOMPARE(csv_error("a,y\n1,\"x\"z\n"),
                 QString("t.csv: line 2: unexpected 'z' after a closing quote (a quote inside a quoted "
                         "field is written \"\")"));
        CsvOptions target;
        target.target_column = "z";
        QCOMPARE(csv_error("a,b,y\n1,2,3\n", target),
                 QString("t.csv: no column is named 'z'; the columns are 'a', 'b', 'y'"));
        QCOMPARE(csv_error("1,2,3\n4,5,6\n", target),
                 QString("t.csv: the target column 'z' is chosen by name, but the file has no header row"));
        target.target_column.clear();
        target.target_index = 5;
        QCOMPARE(csv_error("1,2,3\n", target), QString("t.csv: target column index 5 is outside the 3 columns"));
        CsvOptions values;
        values.target = TargetMode::Values;
        QCOMPARE(csv_error("a,b,y\n1,2,3\n4,5,abc\n", values),
                 QString("t.csv: line 3: column 3 ('y'): target 'abc' is not a number (choose class "
                         "targets for text)"));
        QCOMPARE(error_of([] { load_csv("/nonexistent.csv"); }),
                 QString("/nonexistent.csv: cannot open: No such file or directory"));
    }

    void incomplete_rows_can_be_skipped()
    {
        CsvOptions skip;
        skip.skip_incomplete_rows = true;
        const Dataset d = csv("a,b,y\n1,2,3\n4,,6\n7,8,null\n9,10,11\n", skip);
        QCOMPARE(d.size(), 2);
        QCOMPARE(flat(d.targets()), (std::vector<float>{3, 11}));
        QCOMPARE(d.warnings(), (std::vector<std::string>{
                                   "t.csv: line 3: missing value in column 2 ('b'); the row is skipped",
                                   "t.csv: line 4: missing target in column 3 ('y'); the row is skipped"}));
        QCOMPARE(csv_error("a,y\n,1\n2,\n", skip),
                 QString("t.csv: every data row has a missing value; no samples are left"));
    }

    void csv_data_trains_a_model()
    {
        // Two text classes on either side of x0 + x1 = 0, and y = 2x − 1.
        std::string classes = "x0,x1,side\n";
        std::string line = "x,y\n";
        for (int i = 0; i < 80; ++i) {
            const double a = std::sin(i * 1.7) * 2, b = std::cos(i * 0.9) * 2;
            classes += std::to_string(a) + "," + std::to_string(b) + "," + (a + b > 0 ? "up" : "down") + "\n";
            const double x = -1 + i / 40.0;
            line += std::to_string(x) + "," + std::to_string(2 * x - 1) + "\n";
        }
        const test::TrainingRun sides = test::train_mlp(csv(classes), 8, 30, 16, 0.02);
        QVERIFY(sides.epoch_loss.back() < 0.5 * sides.epoch_loss.front());
        QVERIFY(sides.accuracy > 0.9);
        const test::TrainingRun fit = test::train_mlp(csv(line), 8, 30, 16, 0.02);
        QVERIFY(fit.epoch_loss.back() < 0.1 * fit.epoch_loss.front());
    }
};

QTEST_GUILESS_MAIN(TestCsv)
#include "tst_csv.moc"
