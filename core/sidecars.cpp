// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "sidecars.h"

#include "posix_file.h"

#include <algorithm>
#include <string>

namespace fs = std::filesystem;

namespace shardscope {

namespace {

bool isWithin(const fs::path& path, const fs::path& root) {
    auto [rootEnd, pathEnd] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
    return rootEnd == root.end();
}

} // namespace

SidecarList collectSidecars(const fs::path& hfMetadataDir, const fs::path& checkpointDir) {
    SidecarList out;
    if (hfMetadataDir.empty()) return out;
    const std::string folder = hfMetadataDir.filename().string();
    auto warn = [&](const std::string& name, const std::string& message) {
        out.warnings.push_back(
            {Severity::Warning, folder + "/" + name, "", message, ErrorKind::SidecarSkipped});
    };

    std::error_code ec;
    std::vector<fs::directory_entry> entries;
    for (const auto& entry : fs::directory_iterator(hfMetadataDir, ec))
        entries.push_back(entry);
    if (ec) {
        out.warnings.push_back({Severity::Warning, hfMetadataDir.string(), "",
                                "cannot list: " + ec.message() + "; no sidecar file is copied",
                                ErrorKind::SidecarSkipped});
        return out;
    }
    std::sort(entries.begin(), entries.end(),
              [](const fs::directory_entry& a, const fs::directory_entry& b) {
                  return a.path().filename() < b.path().filename();
              });

    // Canonical, so a checkpoint reached through a link still contains its own files.
    fs::path root = fs::weakly_canonical(checkpointDir, ec);
    if (!root.has_filename() && root.has_relative_path()) root = root.parent_path(); // "dir/"
    for (const auto& entry : entries) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("fqn_to_", 0) == 0) continue; // ShardScope's input, not the model's
        std::error_code linkEc, fileEc;
        const bool isLink = entry.is_symlink(linkEc);
        const fs::file_status status = entry.status(fileEc);
        if (status.type() == fs::file_type::not_found && isLink) {
            warn(name, "is a symbolic link to a missing file; not copied");
            continue;
        }
        if (status.type() == fs::file_type::none) {
            warn(name, "cannot be examined: " + fileEc.message() + "; not copied");
            continue;
        }
        if (status.type() != fs::file_type::regular) {
            warn(name, std::string("is ") + fileKindName(status.type()) +
                           ", not a regular file; not copied");
            continue;
        }
        out.files.push_back(entry.path());
        std::error_code canonicalEc;
        const fs::path target = fs::canonical(entry.path(), canonicalEc);
        if (canonicalEc || root.empty() || isWithin(target, root)) continue;
        warn(name, std::string(isLink ? "links to " : "resolves to ") + target.string() +
                       ", outside the checkpoint; copied as its target's contents");
    }
    return out;
}

SidecarList collectHfAssets(const fs::path& dir) {
    static const char* const kAssets[] = {
        "config.json",           "generation_config.json", "tokenizer.json",
        "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
        "vocab.json",            "vocab.txt",               "merges.txt",
        "added_tokens.json",     "chat_template.jinja",     "chat_template.json",
        "preprocessor_config.json",
    };
    SidecarList out;
    std::error_code ec;
    for (const char* name : kAssets) {
        const fs::path p = dir / name;
        if (!fs::exists(fs::symlink_status(p, ec))) continue;
        const auto status = fs::status(p, ec);
        if (status.type() == fs::file_type::regular)
            out.files.push_back(p);
        else
            out.warnings.push_back({Severity::Warning, p.string(), "",
                                    std::string("is ") + fileKindName(status.type()) +
                                        ", not a regular file; not copied",
                                    ErrorKind::SidecarSkipped});
    }
    return out;
}

} // namespace shardscope
