// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "shard_builder.h"

#include <QProcess>

#include "error.h"

#include <QJsonArray>

#include <cstring>
#include <fstream>
#include <future>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;

namespace testing {

unsigned bitsOf(const std::string& d) {
    static const std::map<std::string, unsigned> bits = {
        {"BOOL", 8},    {"U8", 8},          {"I8", 8},          {"F8_E4M3", 8}, {"F8_E5M2", 8},
        {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8}, {"F8_E5M2FNUZ", 8}, {"I16", 16},    {"U16", 16},
        {"F16", 16},    {"BF16", 16},       {"I32", 32},        {"U32", 32},    {"F32", 32},
        {"I64", 64},    {"U64", 64},        {"F64", 64},        {"C64", 64},    {"F4", 4},
        {"F6_E2M3", 6}, {"F6_E3M2", 6}};
    return bits.at(d);
}

uint64_t numel(const Dims& shape) {
    uint64_t n = 1;
    for (auto d : shape)
        n *= d;
    return n;
}

std::string pattern(const std::string& fqn, uint64_t bytes) {
    uint32_t h = 2166136261u;
    for (unsigned char c : fqn)
        h = (h ^ c) * 16777619u;
    std::string out(bytes, '\0');
    for (uint64_t i = 0; i < bytes; ++i) {
        h ^= h << 13, h ^= h >> 17, h ^= h << 5;
        out[i] = char(h & 0xFF);
    }
    return out;
}

std::string slice(const std::string& full, const Dims& fullShape, const Dims& offsets,
                  const Dims& shape, unsigned elementBytes) {
    std::string out;
    const uint64_t n = numel(shape);
    const size_t rank = shape.size();
    for (uint64_t i = 0; i < n; ++i) { // element by element: slow and obviously right
        uint64_t rest = i, linear = 0, stride = 1;
        for (size_t d = rank; d-- > 0;) {
            uint64_t idx = rest % shape[d] + offsets[d];
            rest /= shape[d];
            linear += idx * stride;
            stride *= fullShape[d];
        }
        out.append(full, linear * elementBytes, elementBytes);
    }
    return out;
}

std::string jsonString(const std::string& text) {
    return QJsonDocument(QJsonArray{QString::fromStdString(text)})
        .toJson(QJsonDocument::Compact)
        .mid(1)
        .chopped(1)
        .toStdString();
}

static std::string dims(const Dims& d) {
    std::string out = "[";
    for (size_t i = 0; i < d.size(); ++i)
        out += (i ? "," : "") + std::to_string(d[i]);
    return out + "]";
}

void writeRaw(const fs::path& path, const std::string& header, const std::string& data,
              int64_t lengthOverride) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    uint64_t n = lengthOverride >= 0 ? uint64_t(lengthOverride) : header.size();
    for (int i = 0; i < 8; ++i)
        out.put(char((n >> (8 * i)) & 0xFF));
    out << header << data;
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

void writeShard(const fs::path& path, const std::vector<TestChunk>& chunks,
                const ShardOptions& options) {
    std::string info = "{";
    std::string entries, data;
    for (size_t i = 0; i < chunks.size(); ++i) {
        const auto& c = chunks[i];
        info += (i ? "," : "") + jsonString(c.fqn) + ":{\"saved_offsets\":" + dims(c.offsets) + "}";
        entries += (i ? "," : "") + jsonString(c.fqn) + ":{\"dtype\":\"" + c.dtype +
                   "\",\"shape\":" + dims(c.shape) + ",\"data_offsets\":[" +
                   std::to_string(data.size()) + "," +
                   std::to_string(data.size() + c.bytes.size()) + "]}";
        data += c.bytes;
    }
    info += "}";
    std::string meta = "\"__metadata__\":{\"format\":\"pt\"";
    if (options.withShardingInfo)
        meta +=
            ",\"DCP_SHARDING_INFO\":" +
            jsonString(options.shardingInfoOverride.empty() ? info : options.shardingInfoOverride);
    for (const auto& [k, v] : options.extraMetadata)
        meta += "," + jsonString(k) + ":" + jsonString(v);
    meta += "}";
    std::string header = "{";
    if (options.metadataLast)
        header += entries + (entries.empty() ? "" : ",") + meta;
    else
        header += meta + (entries.empty() ? "" : ",") + entries;
    header += "}";
    while (header.size() % 8)
        header += ' ';
    writeRaw(path, header, data);
}

std::map<std::string, std::string> writeWholeFile(const fs::path& path,
                                                  const std::vector<WholeTensor>& tensors) {
    std::map<std::string, std::string> bytes;
    std::vector<TestChunk> chunks;
    for (const auto& t : tensors) {
        const std::string data = pattern(t.fqn, numel(t.shape) * bitsOf(t.dtype) / 8);
        bytes[t.fqn] = data;
        chunks.push_back({t.fqn, t.dtype, Dims(t.shape.size(), 0), t.shape, data});
    }
    ShardOptions o;
    o.withShardingInfo = false;
    writeShard(path, chunks, o);
    return bytes;
}

std::vector<std::pair<Dims, Dims>> splitDim(const Dims& shape, size_t dim, uint64_t parts) {
    std::vector<std::pair<Dims, Dims>> out;
    uint64_t step = shape[dim] / parts;
    for (uint64_t p = 0; p < parts; ++p) {
        Dims off(shape.size(), 0), sh = shape;
        off[dim] = p * step;
        sh[dim] = p + 1 == parts ? shape[dim] - p * step : step;
        out.push_back({off, sh});
    }
    return out;
}

std::map<std::string, std::string>
writeCheckpoint(const fs::path& dir, const std::vector<SplitTensor>& tensors, int ranks) {
    fs::create_directories(dir);
    std::map<std::string, std::string> expected;
    std::vector<std::vector<TestChunk>> files(ranks);
    for (const auto& t : tensors) {
        const unsigned bits = bitsOf(t.dtype);
        const uint64_t bytes = numel(t.shape) * bits / 8;
        std::string full = pattern(t.fqn, bytes);
        expected[t.fqn] = full;
        for (size_t i = 0; i < t.chunks.size(); ++i) {
            const auto& [off, sh] = t.chunks[i];
            std::string piece;
            if (bits % 8 == 0) {
                piece = slice(full, t.shape, off, sh, bits / 8);
            } else { // sub-byte: tests only split these along whole-byte rows
                uint64_t rowBits = numel(Dims(sh.begin() + 1, sh.end())) * bits;
                uint64_t start = off.empty() ? 0 : off[0] * rowBits / 8;
                piece = full.substr(start, numel(sh) * bits / 8);
            }
            auto& file = files[i % ranks];
            for (const auto& existing : file)
                if (existing.fqn == t.fqn) // a rank file holds at most one chunk of a tensor
                    throw std::runtime_error("test bug: two chunks of " + t.fqn + " in one rank");
            file.push_back({t.fqn, t.dtype, off, sh, piece});
        }
    }
    for (int r = 0; r < ranks; ++r) {
        char name[64];
        std::snprintf(name, sizeof name, "shard-%05d-model-00001-of-00001.safetensors", r + 1);
        writeShard(dir / name, files[r]);
    }
    return expected;
}

std::string joined(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names)
        out += (out.empty() ? "" : ", ") + n;
    return out;
}

std::string readFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::map<std::string, OutputTensor> readOutput(const fs::path& dir, QJsonObject* indexOut) {
    std::map<std::string, OutputTensor> out;
    QJsonObject index = QJsonDocument::fromJson(QByteArray::fromStdString(
                                                    readFile(dir / "model.safetensors.index.json")))
                            .object();
    if (indexOut) *indexOut = index;
    const QJsonObject weightMap = index.value("weight_map").toObject();
    std::map<std::string, bool> seen;
    for (auto it = weightMap.begin(); it != weightMap.end(); ++it) {
        const std::string file = it.value().toString().toStdString();
        if (seen[file]) continue;
        seen[file] = true;
        const std::string bytes = readFile(dir / file);
        if (bytes.size() < 8) throw std::runtime_error(file + " too short");
        uint64_t n = 0;
        for (int i = 7; i >= 0; --i)
            n = (n << 8) | uint8_t(bytes[i]);
        const QJsonObject header =
            QJsonDocument::fromJson(QByteArray::fromStdString(bytes.substr(8, n))).object();
        for (auto h = header.begin(); h != header.end(); ++h) {
            if (h.key() == "__metadata__") continue;
            const QJsonObject e = h.value().toObject();
            OutputTensor t;
            t.file = file;
            t.dtype = e.value("dtype").toString().toStdString();
            for (const auto& d : e.value("shape").toArray())
                t.shape.push_back(uint64_t(d.toInteger()));
            const QJsonArray offs = e.value("data_offsets").toArray();
            const uint64_t b = uint64_t(offs.at(0).toInteger()),
                           en = uint64_t(offs.at(1).toInteger());
            t.bytes = bytes.substr(8 + n + b, en - b);
            out[h.key().toStdString()] = t;
        }
    }
    return out;
}

std::vector<std::string> outputLeftovers(const fs::path& dir) {
    std::vector<std::string> found;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return found;
    for (const auto& e : fs::directory_iterator(dir)) {
        const std::string name = e.path().filename().string();
        // Output files, and anything of ShardScope's own: staging, the set moved aside, the lock.
        if (name.rfind("model", 0) == 0 || name.rfind(".shardscope", 0) == 0 ||
            name.find("shardscope-partial") != std::string::npos)
            found.push_back(name);
    }
    return found;
}

std::optional<std::string> finishWithin(std::function<void()> call, int seconds) {
    auto done = std::make_shared<std::promise<std::string>>();
    std::future<std::string> future = done->get_future();
    std::thread([call = std::move(call), done] {
        try {
            call();
            done->set_value("");
        } catch (const shardscope::Error& e) {
            done->set_value(e.what());
        } catch (const std::exception& e) { // input problems must be Errors: make it visible
            done->set_value(std::string("not an Error: ") + e.what());
        }
    }).detach();
    if (future.wait_for(std::chrono::seconds(seconds)) != std::future_status::ready)
        return std::nullopt;
    return future.get();
}

bool makeSocket(const std::filesystem::path& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return bound;
}

CliResult runCli(const QStringList& args, const QString& workDir, int timeoutMs) {
    QProcess p;
    p.setWorkingDirectory(workDir); // relative paths in usage tests stay in the sandbox
    p.start(QString::fromLocal8Bit(qgetenv("SHARDSCOPE_CLI")), args);
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        return {};
    }
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2,
            QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError())};
}

} // namespace testing
