// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <QObject>

#include <utility>
#include <vector>

class QTableView;

namespace shardscope {

// Shares a table's width among some of its columns by weight as the table is resized (the
// others keep their widths), until the user drags a column edge: from then on the widths are
// the user's. A narrow dock then still shows each column in part, where fixed widths left the
// last one (the problems' message) nothing.
class ProportionalColumns : public QObject {
    Q_OBJECT

public:
    // `weights`: column and its share; `least`: the narrowest any of them is made.
    ProportionalColumns(QTableView* view, std::vector<std::pair<int, int>> weights, int least);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void apply();

    QTableView* m_view;
    std::vector<std::pair<int, int>> m_weights;
    int m_least;
    bool m_applying = false;
    bool m_userSized = false;
};

} // namespace shardscope
