// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "hf_folder.h"

#include "bounded_json.h"
#include "parallel.h"
#include "plan.h"
#include "posix_file.h"
#include "safetensors_reader.h"
#include "scan_support.h"
#include "sharding_info.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

namespace fs = std::filesystem;

namespace shardscope {
namespace {

constexpr const char* kShardingKey = "DCP_SHARDING_INFO";

// What model.safetensors.index.json says: the file of every tensor and the byte total.
struct HfIndex {
    std::map<std::string, std::string> weightMap; // fqn -> file name as written
    std::optional<uint64_t> totalSize;
    std::string totalSizeProblem; // present but not a byte count
};

Error indexError(const fs::path& path, const std::string& tensor, const std::string& message) {
    return Error(ErrorKind::MappingInvalid, path.string(), tensor, message);
}

void readTotalSize(const nlohmann::json& doc, HfIndex& index) {
    const auto meta = doc.find("metadata");
    if (meta == doc.end() || !meta->is_object()) return;
    const auto total = meta->find("total_size");
    if (total == meta->end()) return;
    if (total->is_number_unsigned())
        index.totalSize = total->get<uint64_t>();
    else
        index.totalSizeProblem = std::string("metadata.total_size is a ") + total->type_name() +
                                 ", not a byte count; not checked";
}

HfIndex readIndex(const fs::path& path) {
    const std::string text = readSmallFile(path, kMaxHfIndexBytes, "the index");
    nlohmann::json doc;
    try {
        doc = parseBoundedJson(text);
    } catch (const nlohmann::json::exception& e) {
        throw indexError(path, "", "not valid JSON: " + jsonErrorText(e));
    }
    const auto weightMap = doc.find("weight_map"); // end() when doc is not an object
    if (weightMap == doc.end() || !weightMap->is_object())
        throw indexError(path, "",
                         "has no \"weight_map\" object of tensor names to file names, so which "
                         "file holds which tensor is unknown");
    HfIndex index;
    for (const auto& [fqn, file] : weightMap->items()) {
        if (!file.is_string())
            throw indexError(path, fqn,
                             std::string("weight_map gives a ") + file.type_name() +
                                 " where a file name belongs");
        index.weightMap.emplace(fqn, file.get<std::string>());
    }
    readTotalSize(doc, index);
    return index;
}

// A weight_map file name, normalised, or "" when it would leave the folder (absolute, "..")
// or cannot name a file at all: such a file is never opened.
std::string insideName(const std::string& name) {
    if (name.empty() || name.find('\0') != std::string::npos) return {};
    const fs::path p = fs::path(name).lexically_normal();
    if (p.empty() || p.has_root_path() || p == "." || *p.begin() == "..") return {};
    return p.generic_string();
}

// The files a scan reads (names relative to `directory`, sorted), and why others are not read.
struct FileSet {
    fs::path directory;
    std::vector<std::string> names;
    std::vector<Problem> problems;
};

FileSet oneFile(const fs::path& file) {
    FileSet set;
    set.directory = file.has_parent_path() ? file.parent_path() : fs::path(".");
    set.names = {file.filename().string()};
    return set;
}

// A name of the form PREFIX-<i>-of-<n>.safetensors, as save_pretrained numbers its files.
struct NumberedName {
    std::string prefix;
    uint32_t number = 0, count = 0;
    size_t width = 0; // digits of the number as written
};

std::optional<uint32_t> digitsValue(std::string_view text) {
    if (text.empty() || text.size() > 9) return std::nullopt;
    uint32_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + uint32_t(c - '0');
    }
    return value;
}

std::optional<NumberedName> numberedName(std::string_view name) {
    constexpr std::string_view kSuffix = ".safetensors", kOf = "-of-";
    if (!name.ends_with(kSuffix)) return std::nullopt;
    const std::string_view stem = name.substr(0, name.size() - kSuffix.size());
    const size_t of = stem.rfind(kOf);
    if (of == std::string_view::npos) return std::nullopt;
    const size_t dash = stem.rfind('-', of == 0 ? 0 : of - 1);
    if (dash == std::string_view::npos || dash == 0 || dash >= of) return std::nullopt;
    const auto number = digitsValue(stem.substr(dash + 1, of - dash - 1));
    const auto count = digitsValue(stem.substr(of + kOf.size()));
    if (!number || !count) return std::nullopt;
    return NumberedName{std::string(stem.substr(0, dash)), *number, *count, of - dash - 1};
}

std::string numberedText(const NumberedName& n, uint32_t number) {
    std::string digits = std::to_string(number), count = std::to_string(n.count);
    digits.insert(0, n.width > digits.size() ? n.width - digits.size() : 0, '0');
    count.insert(0, n.width > count.size() ? n.width - count.size() : 0, '0');
    return n.prefix + "-" + digits + "-of-" + count + ".safetensors";
}

// Without an index, files numbered "i of n" are all the checkpoint has to say it is whole: a
// folder holding model-00002-of-00003 alone passed as a complete model.
void addMissingNumberedFiles(FileSet& set) {
    std::map<std::pair<std::string, uint32_t>, std::pair<NumberedName, std::set<uint32_t>>> groups;
    for (const std::string& name : set.names) {
        const auto n = numberedName(name);
        if (!n) continue;
        if (n->number == 0 || n->number > n->count) {
            set.problems.push_back({Severity::Error, name, "",
                                    "numbered " + std::to_string(n->number) + " of " +
                                        std::to_string(n->count) + ", which cannot be",
                                    ErrorKind::MissingDataFile});
            continue;
        }
        auto& group =
            groups.try_emplace({n->prefix, n->count}, *n, std::set<uint32_t>{}).first->second;
        group.second.insert(n->number);
    }
    for (const auto& [key, group] : groups) {
        const auto& [named, present] = group;
        std::vector<uint32_t> missing;
        for (uint32_t i = 1; i <= named.count && missing.size() < 4; ++i)
            if (!present.count(i)) missing.push_back(i);
        if (missing.empty()) continue;
        const uint64_t absent = named.count - present.size();
        std::string which;
        for (size_t i = 0; i < std::min<size_t>(missing.size(), 3); ++i)
            which += (i ? ", " : "") + numberedText(named, missing[i]);
        if (absent > 3) which += " and " + std::to_string(absent - 3) + " more";
        set.problems.push_back({Severity::Error, numberedText(named, missing.front()), "",
                                "missing: the folder holds " + std::to_string(present.size()) +
                                    " of the " + std::to_string(named.count) +
                                    " files numbered \"of " + std::to_string(named.count) +
                                    "\" and no " + kIndexFileName + "; absent: " + which,
                                ErrorKind::MissingDataFile});
    }
}

FileSet plainFolder(const fs::path& directory) {
    FileSet set;
    set.directory = directory;
    for (const fs::path& p : listShardFiles(directory, &set.problems))
        set.names.push_back(p.filename().string());
    if (set.names.empty())
        throw Error(ErrorKind::NoShards, directory.string(), "",
                    "no *.safetensors files in this directory");
    addMissingNumberedFiles(set);
    return set;
}

// Files the index names: those that leave the folder or are missing are reported once each,
// with the first of their tensors and how many there are.
void addIndexedFiles(const HfIndex& index, FileSet& set) {
    std::map<std::string, std::pair<std::string, size_t>> byFile; // as written -> first, count
    for (const auto& [fqn, file] : index.weightMap)
        ++byFile.try_emplace(file, fqn, 0).first->second.second;
    std::set<std::string> names;
    for (const auto& [file, tensors] : byFile) {
        const std::string count = std::to_string(tensors.second) + " tensor(s)";
        const std::string name = insideName(file);
        std::error_code ec;
        if (file.empty())
            set.problems.push_back({Severity::Error, kIndexFileName, tensors.first,
                                    "weight_map gives an empty file name for " + count,
                                    ErrorKind::PathOutsideDirectory});
        else if (name.empty())
            set.problems.push_back({Severity::Error, file, tensors.first,
                                    "weight_map names this file for " + count +
                                        ", but it is outside the folder; not opened",
                                    ErrorKind::PathOutsideDirectory});
        else if (fs::status(set.directory / name, ec).type() == fs::file_type::not_found)
            set.problems.push_back({Severity::Error, name, tensors.first,
                                    "missing: weight_map puts " + count + " in this file",
                                    ErrorKind::MissingDataFile});
        else
            names.insert(name);
    }
    set.names.assign(names.begin(), names.end());
}

// *.safetensors files beside the index that it does not name: warned about, never read.
void addUnindexedWarnings(FileSet& set) {
    std::vector<Problem> skipped;
    const auto listed = listShardFiles(set.directory, &skipped);
    auto named = [&](const std::string& name) {
        return std::binary_search(set.names.begin(), set.names.end(), name);
    };
    for (const fs::path& p : listed)
        if (!named(p.filename().string()))
            set.problems.push_back({Severity::Warning, p.filename().string(), "",
                                    std::string("not named by ") + kIndexFileName + "; not read",
                                    ErrorKind::UnindexedFile});
    for (Problem& p : skipped)
        if (!named(p.file)) set.problems.push_back(std::move(p));
}

FileSet indexedFolder(const fs::path& directory, const HfIndex& index) {
    FileSet set;
    set.directory = directory;
    addIndexedFiles(index, set);
    addUnindexedWarnings(set);
    return set;
}

struct HeaderRead {
    SafetensorsHeader header;
    std::optional<Problem> problem; // why the header was refused
};

std::vector<HeaderRead> readHeaders(const FileSet& set, const ScanOptions& options,
                                    ScanReporter& reporter) {
    reporter.phase(ScanPhase::ReadingHeaders, set.names.size());
    std::vector<HeaderRead> reads(set.names.size());
    parallelFor(set.names.size(), options.threads, [&](size_t i) {
        reporter.checkStop();
        try {
            reads[i].header = readSafetensorsHeader(set.directory / set.names[i]);
        } catch (const Error& e) { // the same problem a shard scan reports for this file
            reads[i].problem =
                Problem{Severity::Error, set.names[i], e.tensor(), e.message(), e.kind()};
        }
        reporter.add(1);
    });
    return reads;
}

// Builds the checkpoint from the headers read, then checks it against the index.
class HfBuilder {
public:
    HfBuilder(Checkpoint& ckpt, ScanReporter& reporter) : m_ckpt(ckpt), m_reporter(reporter) {}

    void addFiles(const FileSet& set, std::vector<HeaderRead>& reads, bool singleFile);
    void checkIndex(const HfIndex& index, bool everyFileRead);
    void finish(const ScanOptions& options);

private:
    void addFile(uint32_t f, HeaderRead& read);
    void addTensor(uint32_t f, TensorEntry& entry);
    void checkShardingInfo(uint32_t f, const SafetensorsHeader& header);
    void checkListed(const std::string& fqn, uint32_t f);
    void checkTotalSize(const HfIndex& index);
    void problem(Severity severity, uint32_t f, const std::string& tensor,
                 const std::string& message, ErrorKind kind) {
        m_ckpt.problems.push_back({severity, m_ckpt.files[f].name, tensor, message, kind});
    }
    uint32_t fileOf(size_t tensor) const { return m_ckpt.tensors[tensor].chunks.front().file; }

    Checkpoint& m_ckpt;
    ScanReporter& m_reporter;
    std::vector<bool> m_invalid;
    std::unordered_map<std::string, size_t> m_byName; // fqn -> index into m_ckpt.tensors
};

void HfBuilder::addFiles(const FileSet& set, std::vector<HeaderRead>& reads, bool singleFile) {
    uint64_t tensors = 0;
    for (const HeaderRead& read : reads)
        tensors += read.header.tensors.size();
    m_reporter.phase(ScanPhase::Merging, tensors);
    for (size_t f = 0; f < reads.size(); ++f) {
        ShardFile file;
        file.name = set.names[f];
        file.path = set.directory / set.names[f];
        file.size = reads[f].header.fileSize;
        file.dataStart = reads[f].header.dataStart();
        file.tensorCount = reads[f].header.tensors.size();
        file.valid = !reads[f].problem;
        m_ckpt.files.push_back(std::move(file));
        addFile(uint32_t(f), reads[f]);
        // One rank's file of a sharded save has slices at offsets zero too: only its directory
        // can tell them from whole tensors.
        if (singleFile && reads[f].header.metadata.count(kShardingKey))
            problem(Severity::Warning, uint32_t(f), "",
                    std::string("written by PyTorch DCP (it has ") + kShardingKey +
                        "): if it is one rank's shard, its tensors are slices; open its "
                        "directory to merge them",
                    ErrorKind::PartialTensor);
        reads[f] = HeaderRead{}; // release header memory early
    }
}

void HfBuilder::addFile(uint32_t f, HeaderRead& read) {
    if (read.problem) {
        m_ckpt.problems.push_back(std::move(*read.problem));
        return;
    }
    auto& entries = read.header.tensors;
    for (size_t i = 0; i < entries.size(); ++i) {
        if (i % 4096 == 4095) {
            m_reporter.checkStop();
            m_reporter.add(4096);
        }
        addTensor(f, entries[i]);
    }
    m_reporter.add(entries.size() % 4096);
    checkShardingInfo(f, read.header);
}

void HfBuilder::addTensor(uint32_t f, TensorEntry& entry) {
    const auto [it, inserted] = m_byName.try_emplace(entry.name, m_ckpt.tensors.size());
    if (!inserted) { // which copy is meant is unknowable
        rejectTensor(m_ckpt, m_invalid, it->second, m_ckpt.files[f].name,
                     "also in " + m_ckpt.files[fileOf(it->second)].name +
                         "; a tensor must be in one file only",
                     ErrorKind::DuplicateTensorName);
        return;
    }
    const uint64_t dataStart = m_ckpt.files[f].dataStart;
    Chunk c;
    c.file = f;
    c.offsets = Shape(entry.shape.size(), 0);
    c.shape = entry.shape;
    c.begin = dataStart + entry.begin;
    c.end = dataStart + entry.end;
    TensorInfo t;
    t.fqn = entry.name;
    t.dtype = entry.dtype;
    t.shape = std::move(entry.shape);
    t.bytes = c.bytes();
    t.chunks.push_back(std::move(c));
    m_ckpt.tensors.push_back(std::move(t));
    m_invalid.push_back(false);
}

// PyTorch's rank-0 save in HF format writes DCP_SHARDING_INFO with zero offsets beside an index;
// any other offset means the file holds a slice, which must not pass for a whole tensor.
void HfBuilder::checkShardingInfo(uint32_t f, const SafetensorsHeader& header) {
    const auto info = header.metadata.find(kShardingKey);
    if (info == header.metadata.end()) return;
    std::vector<ShardingEntry> entries;
    try {
        entries = parseShardingInfo(info->second);
    } catch (const JsonError& e) {
        problem(Severity::Error, f, e.tensor(), e.what(), e.kind());
        return;
    }
    for (const ShardingEntry& s : entries) {
        const auto t = m_byName.find(s.fqn);
        const bool atOrigin =
            std::all_of(s.offsets.begin(), s.offsets.end(), [](uint64_t o) { return o == 0; });
        if (atOrigin || t == m_byName.end() || fileOf(t->second) != f) continue;
        rejectTensor(m_ckpt, m_invalid, t->second, m_ckpt.files[f].name,
                     std::string(kShardingKey) + " puts it at saved_offsets " +
                         formatShape(s.offsets) +
                         ": the file holds a slice of a larger tensor; open the DCP shard "
                         "directory to merge the slices",
                     ErrorKind::PartialTensor);
    }
}

void HfBuilder::checkIndex(const HfIndex& index, bool everyFileRead) {
    std::unordered_map<std::string, uint32_t> readFiles; // name -> file, headers read only
    for (uint32_t f = 0; f < m_ckpt.files.size(); ++f)
        if (m_ckpt.files[f].valid) readFiles.emplace(m_ckpt.files[f].name, f);
    for (const auto& [fqn, file] : index.weightMap) {
        const auto f = readFiles.find(insideName(file));
        // A file missing, outside or unreadable was reported once, not per tensor.
        if (f != readFiles.end()) checkListed(fqn, f->second);
    }
    for (size_t t = 0; t < m_ckpt.tensors.size(); ++t)
        if (!index.weightMap.count(m_ckpt.tensors[t].fqn))
            problem(Severity::Error, fileOf(t), m_ckpt.tensors[t].fqn,
                    std::string("in this file's header but not in ") + kIndexFileName +
                        "'s weight_map",
                    ErrorKind::IndexMismatch);
    if (!index.totalSizeProblem.empty())
        m_ckpt.problems.push_back({Severity::Warning, kIndexFileName, "", index.totalSizeProblem,
                                   ErrorKind::IndexMismatch});
    if (everyFileRead) checkTotalSize(index); // else the sum is short for a reason reported
}

void HfBuilder::checkListed(const std::string& fqn, uint32_t f) {
    const auto t = m_byName.find(fqn);
    if (t == m_byName.end())
        problem(Severity::Error, f, fqn, "weight_map puts it in this file, but no header has it",
                ErrorKind::IndexMismatch);
    else if (fileOf(t->second) != f && !m_invalid[t->second])
        problem(Severity::Error, f, fqn,
                "weight_map puts it in this file, but it is in " +
                    m_ckpt.files[fileOf(t->second)].name,
                ErrorKind::IndexMismatch);
}

// Loaders ignore total_size, and some published indexes get it wrong: a warning, not an error.
void HfBuilder::checkTotalSize(const HfIndex& index) {
    if (!index.totalSize) return;
    uint64_t sum = 0;
    for (const TensorInfo& t : m_ckpt.tensors)
        sum += t.chunks.front().bytes();
    if (sum == *index.totalSize) return;
    m_ckpt.problems.push_back({Severity::Warning, kIndexFileName, "",
                               "metadata.total_size is " + std::to_string(*index.totalSize) +
                                   " bytes, but the tensors hold " + std::to_string(sum),
                               ErrorKind::IndexMismatch});
}

void HfBuilder::finish(const ScanOptions& options) {
    proveCoverage(m_ckpt, m_invalid, options, m_reporter, true);
    std::sort(m_ckpt.tensors.begin(), m_ckpt.tensors.end(),
              [](const TensorInfo& a, const TensorInfo& b) { return a.fqn < b.fqn; });
}

bool hasIndex(const fs::path& directory) {
    std::error_code ec;
    return fs::exists(fs::symlink_status(directory / kIndexFileName, ec));
}

} // namespace

bool isHfFolder(const fs::path& directory, std::stop_token stop) {
    if (hasIndex(directory)) return true;
    bool plain = false;
    for (const fs::path& path : listShardFiles(directory)) {
        if (stop.stop_requested()) throw Cancelled();
        try {
            if (headerMetadataHas(path, kShardingKey)) return false;
            plain = true;
        } catch (const Error&) { // unreadable: says nothing either way; the scan reports it
        }
    }
    return plain;
}

Checkpoint scanHfFolder(const fs::path& pathOrDir, const ScanOptions& options) {
    std::error_code ec;
    const bool singleFile = !fs::is_directory(pathOrDir, ec);
    if (singleFile && !fs::is_regular_file(pathOrDir, ec))
        throw Error(ErrorKind::Io, pathOrDir.string(), "",
                    "not a directory or a *.safetensors file");
    std::optional<HfIndex> index;
    if (!singleFile && hasIndex(pathOrDir)) index = readIndex(pathOrDir / kIndexFileName);
    FileSet set = singleFile ? oneFile(pathOrDir)
                  : index    ? indexedFolder(pathOrDir, *index)
                             : plainFolder(pathOrDir);
    Checkpoint ckpt;
    ckpt.directory = set.directory;
    if (singleFile) ckpt.singleFile = pathOrDir;
    ckpt.format = CheckpointFormat::HfFolder;
    ckpt.problems = set.problems;
    ScanReporter reporter(options);
    std::vector<HeaderRead> reads = readHeaders(set, options, reporter);
    const bool everyFileRead =
        std::none_of(set.problems.begin(), set.problems.end(),
                     [](const Problem& p) { return p.severity == Severity::Error; }) &&
        std::none_of(reads.begin(), reads.end(), [](const HeaderRead& r) { return r.problem; });
    HfBuilder builder(ckpt, reporter);
    builder.addFiles(set, reads, singleFile);
    if (index) builder.checkIndex(*index, everyFileRead);
    builder.finish(options);
    return ckpt;
}

} // namespace shardscope
