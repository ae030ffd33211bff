// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "proportional_columns.h"

#include <QEvent>
#include <QHeaderView>
#include <QTableView>

#include <algorithm>

namespace shardscope {

ProportionalColumns::ProportionalColumns(QTableView* view, std::vector<std::pair<int, int>> weights,
                                         int least)
    : QObject(view), m_view(view), m_weights(std::move(weights)), m_least(least) {
    QHeaderView* header = view->horizontalHeader();
    header->setStretchLastSection(false); // the last shared column takes what rounding leaves
    connect(header, &QHeaderView::sectionResized, this, [this] {
        if (!m_applying) m_userSized = true;
    });
    view->viewport()->installEventFilter(this);
}

bool ProportionalColumns::eventFilter(QObject* watched, QEvent* event) {
    if (event->type() == QEvent::Resize && !m_userSized) apply();
    return QObject::eventFilter(watched, event);
}

void ProportionalColumns::apply() {
    const QHeaderView* header = m_view->horizontalHeader();
    int fixed = 0, total = 0;
    for (int c = 0; c < header->count(); ++c) {
        const bool shared = std::any_of(m_weights.begin(), m_weights.end(),
                                        [c](const auto& w) { return w.first == c; });
        if (!shared && !header->isSectionHidden(c)) fixed += header->sectionSize(c);
    }
    for (const auto& [column, weight] : m_weights)
        total += weight;
    if (total == 0) return;
    int left = std::max(0, m_view->viewport()->width() - fixed);
    m_applying = true;
    for (size_t i = 0; i < m_weights.size(); ++i) {
        const auto [column, weight] = m_weights[i];
        const bool last = i + 1 == m_weights.size();
        const int width = last ? left : left * weight / total;
        m_view->horizontalHeader()->resizeSection(column, std::max(m_least, width));
        if (!last) left -= width, total -= weight;
    }
    m_applying = false;
}

} // namespace shardscope
