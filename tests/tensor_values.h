// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"

#include <string>

namespace testing {

// A scanned-looking F32 tensor, built as a value (no files): for tests of what is derived from
// a Checkpoint's tensor list, such as the module tree.
inline shardscope::TensorInfo
tensorValue(std::string fqn, shardscope::Shape shape = {4, 4},
            shardscope::CoverageStatus status = shardscope::CoverageStatus::Complete) {
    shardscope::TensorInfo t;
    t.fqn = std::move(fqn);
    t.dtype = shardscope::DType::F32;
    t.bytes = shardscope::checkedNumel(shape).value_or(0) * 4;
    t.shape = std::move(shape);
    t.status = status;
    return t;
}

} // namespace testing
