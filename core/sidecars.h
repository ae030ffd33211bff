// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "error.h"

#include <filesystem>
#include <vector>

namespace shardscope {

// The .hf_metadata/ files a consolidation copies next to its output.
struct SidecarList {
    std::vector<std::filesystem::path> files; // regular files (links to them included), by name
    std::vector<Problem> warnings;            // entries left out, and links leaving the checkpoint
};

// Every entry of `hfMetadataDir` except the fqn_to_* files (ShardScope's own input). A FIFO,
// socket, device, directory or dangling link is not listed but warned about, so nothing is lost
// silently and nothing that could block is opened. A link that resolves outside `checkpointDir`
// is listed with a warning naming its target. Only file types are examined; nothing is opened.
SidecarList collectSidecars(const std::filesystem::path& hfMetadataDir,
                            const std::filesystem::path& checkpointDir);

// The files of a Hugging Face model folder an export copies beside a DCP checkpoint's weights:
// config, generation config, tokenizer files and chat template, those present. Links are
// followed (the Hub's cache links every file to a blob); anything not a regular file is warned
// about and left out.
SidecarList collectHfAssets(const std::filesystem::path& hfAssetsDir);

} // namespace shardscope
