// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "value_format.h"

#include <QCoreApplication>

namespace shardscope {
namespace {

QString tr(const char* text) {
    return QCoreApplication::translate("shardscope::ValueFormat", text);
}

} // namespace

QString diffStatusText(DiffStatus status) {
    switch (status) {
    case DiffStatus::Identical:
        return tr("Identical");
    case DiffStatus::WithinTolerance:
        return tr("Within tolerance");
    case DiffStatus::Differs:
        return tr("Differs");
    case DiffStatus::OnlyInA:
        return tr("Only here");
    case DiffStatus::OnlyInB:
        return tr("Only in other");
    case DiffStatus::DtypeChanged:
        return tr("DType differs");
    case DiffStatus::ShapeChanged:
        return tr("Shape differs");
    case DiffStatus::NotCompared:
        return tr("Not compared");
    case DiffStatus::SameLayout:
        return tr("Same layout");
    case DiffStatus::NotExported:
        return tr("Not exported");
    }
    return {};
}

QColor diffStatusColor(DiffStatus status) {
    switch (status) {
    case DiffStatus::Identical:
        return QColor(0x2e, 0x7d, 0x32);
    case DiffStatus::WithinTolerance:
    case DiffStatus::SameLayout:
        return QColor(0x55, 0x8b, 0x2f);
    case DiffStatus::NotCompared:
    case DiffStatus::NotExported:
        return QColor(0x75, 0x75, 0x75);
    default:
        return QColor(0xc6, 0x28, 0x28);
    }
}

} // namespace shardscope
