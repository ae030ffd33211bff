// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

// Test-side shard writing and output reading, kept independent of the core's own writer and
// parser so that a bug there cannot cancel itself out in a test.

#include <QJsonDocument>
#include <QJsonObject>
#include <QStringList>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace testing {

using Dims = std::vector<uint64_t>;

unsigned bitsOf(const std::string& dtype);
uint64_t numel(const Dims& shape);

// Deterministic bytes for a whole tensor: distinct per tensor name and per byte.
std::string pattern(const std::string& fqn, uint64_t bytes);
// The sub-box offsets+shape of a full row-major tensor (whole-byte element sizes).
std::string slice(const std::string& full, const Dims& fullShape, const Dims& offsets,
                  const Dims& shape, unsigned elementBytes);

struct TestChunk {
    std::string fqn;
    std::string dtype;
    Dims offsets;
    Dims shape;
    std::string bytes;
};

struct ShardOptions {
    bool withShardingInfo = true;
    std::string shardingInfoOverride; // replaces the generated DCP_SHARDING_INFO string if set
    bool metadataLast = false;        // put __metadata__ after the tensors
    std::map<std::string, std::string> extraMetadata;
};

// Writes one DCP shard file from chunks, byte by byte.
void writeShard(const std::filesystem::path& path, const std::vector<TestChunk>& chunks,
                const ShardOptions& options = {});
// A whole tensor of a consolidated (Hugging Face) file.
struct WholeTensor {
    std::string fqn;
    std::string dtype;
    Dims shape;
};
// Writes a consolidated safetensors file, tensors back to back in the order given, with no
// DCP_SHARDING_INFO (__metadata__ is {"format": "pt"}); each tensor's bytes are
// pattern(fqn, size). Returns fqn -> bytes.
std::map<std::string, std::string> writeWholeFile(const std::filesystem::path& path,
                                                  const std::vector<WholeTensor>& tensors);
// Writes any bytes under an explicit header (for broken files); length = header size by default.
void writeRaw(const std::filesystem::path& path, const std::string& header, const std::string& data,
              int64_t lengthOverride = -1);
std::string jsonString(const std::string& text);

// A tensor split over ranks: each rank file gets the chunks listed for it.
struct SplitTensor {
    std::string fqn;
    std::string dtype;
    Dims shape;
    std::vector<std::pair<Dims, Dims>> chunks; // (offsets, shape); chunk i goes to rank i % ranks
};

// Writes `ranks` shard files for the tensors and returns each tensor's full expected bytes.
std::map<std::string, std::string> writeCheckpoint(const std::filesystem::path& dir,
                                                   const std::vector<SplitTensor>& tensors,
                                                   int ranks);

// Even splits along one dim into n parts.
std::vector<std::pair<Dims, Dims>> splitDim(const Dims& shape, size_t dim, uint64_t parts);

// Reads a consolidated output with Qt's JSON parser: fqn -> (dtype, shape, bytes).
struct OutputTensor {
    std::string file;
    std::string dtype;
    Dims shape;
    std::string bytes;
};
std::map<std::string, OutputTensor> readOutput(const std::filesystem::path& dir,
                                               QJsonObject* index = nullptr);

// model-*.safetensors, the index and partial files present in dir.
std::vector<std::string> outputLeftovers(const std::filesystem::path& dir);

std::string readFile(const std::filesystem::path& path);
std::string joined(const std::vector<std::string>& names);

// Runs `call` on a thread of its own; nullopt when it has not finished within `seconds`, so a
// regression that blocks (in open() on a FIFO, say) fails the test instead of hanging the suite
// (the stuck thread is abandoned). Otherwise the Error's text (any other exception's prefixed
// "not an Error: "), or "" when it returned. A hang
// guard, not a speed check.
std::optional<std::string> finishWithin(std::function<void()> call, int seconds = 20);

// shardscope-cli (the path in $SHARDSCOPE_CLI, set by ctest) run in `workDir`, as users run it.
// code: the exit code, -1 when it did not finish in time (it is killed), -2 when it died.
struct CliResult {
    int code = -1;
    QString out, err;
};
CliResult runCli(const QStringList& args, const QString& workDir, int timeoutMs = 120000);

// A Unix socket at path, for "not a regular file" cases.
bool makeSocket(const std::filesystem::path& path);

} // namespace testing
