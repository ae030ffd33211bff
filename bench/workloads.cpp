// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "workloads.h"

#include "dcp_writer.h"
#include "parallel.h"
#include "shard_writer.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>

namespace fs = std::filesystem;

namespace shardscope::bench {
namespace {

constexpr int kVersion = 2; // bump when a generator changes, so caches regenerate

enum class Split { Rows, Columns, Replicated };

struct TensorSpec {
    std::string fqn;
    Shape shape;
    Split split;
    int file; // output file index in the mapping
};

// A Llama-like model: `layers` blocks of four hidden x hidden and three hidden x ffn matrices,
// two norms each, a final norm, the embedding and lm_head (vocab x hidden).
std::vector<TensorSpec> llama(uint64_t hidden, uint64_t ffn, int layers, Split matrices,
                              Split norms, int files) {
    std::vector<TensorSpec> out;
    const uint64_t vocab = 32000;
    auto fileOf = [&](int layer) { return 1 + layer * files / (layers + 1); };
    out.push_back({"model.embed_tokens.weight", {vocab, hidden}, matrices, 1});
    for (int l = 0; l < layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        for (const char* m :
             {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"})
            out.push_back({p + m + ".weight", {hidden, hidden}, matrices, fileOf(l)});
        for (const char* m : {"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"})
            out.push_back({p + m + ".weight", {hidden, ffn}, matrices, fileOf(l)});
        out.push_back({p + "input_layernorm.weight", {hidden}, norms, fileOf(l)});
        out.push_back({p + "post_attention_layernorm.weight", {hidden}, norms, fileOf(l)});
    }
    out.push_back({"model.norm.weight", {hidden}, norms, files});
    out.push_back({"lm_head.weight", {vocab, hidden}, matrices, files});
    return out;
}

// `count` tensors named as a mixture-of-experts model names them, layer by layer: attention
// projections, the router and `experts` x {gate,up,down}_proj, all of shape `matrix`, and with
// `norms` two norms of matrix[0] elements (rows only: a norm has no columns). Every name is
// unique; the mapping spreads them in order over `files` output files.
std::vector<TensorSpec> moe(size_t count, int experts, const Shape& matrix, Split split, bool norms,
                            int files) {
    std::vector<std::pair<std::string, Shape>> layer; // name after "model.layers.N.", shape
    for (const char* m : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                          "self_attn.o_proj", "mlp.gate"})
        layer.push_back({std::string(m) + ".weight", matrix});
    if (norms)
        for (const char* n : {"input_layernorm", "post_attention_layernorm"})
            layer.push_back({std::string(n) + ".weight", {matrix[0]}});
    for (int e = 0; e < experts; ++e)
        for (const char* p : {"gate_proj", "up_proj", "down_proj"})
            layer.push_back({"mlp.experts." + std::to_string(e) + "." + p + ".weight", matrix});
    std::vector<TensorSpec> out;
    out.reserve(count);
    for (size_t t = 0; t < count; ++t) {
        const auto& [suffix, shape] = layer[t % layer.size()];
        out.push_back({"model.layers." + std::to_string(t / layer.size()) + "." + suffix, shape,
                       split, int(1 + t * size_t(files) / count)});
    }
    return out;
}

// Cheap bytes that are not all alike (so a wrong copy shows in verify).
void fillBytes(std::string& bytes, uint64_t size, uint64_t seed) {
    bytes.resize(size);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull | 1;
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        std::memcpy(bytes.data() + i, &s, 8);
    }
    for (; i < size; ++i)
        bytes[i] = char(s >> (i % 8));
}

// F32 weights as training leaves them: small normal values of either sign (random bits would
// be mostly huge, tiny or NaN, which no model holds).
void fillWeights(std::string& bytes, uint64_t size, uint64_t seed) {
    fillBytes(bytes, size, seed);
    for (uint64_t i = 0; i + 4 <= size; i += 4) {
        uint32_t v;
        std::memcpy(&v, bytes.data() + i, 4);
        v = (v & 0x807FFFFFu) | ((0x78u + ((v >> 23) & 7u)) << 23); // |v| in [2^-7, 2^1)
        std::memcpy(bytes.data() + i, &v, 4);
    }
}

// BF16 weights as training leaves them: the upper halves of fillWeights' F32 values (2,048 bit
// patterns; random bits spread over all 65,536, which the statistics count more slowly).
void fillWeightsBf16(std::string& bytes, uint64_t size, uint64_t seed) {
    fillBytes(bytes, size, seed);
    for (uint64_t i = 0; i + 2 <= size; i += 2) {
        uint16_t v;
        std::memcpy(&v, bytes.data() + i, 2);
        v = uint16_t((v & 0x807Fu) | ((0x78u + ((v >> 7) & 7u)) << 7)); // |v| in [2^-7, 2^1)
        std::memcpy(bytes.data() + i, &v, 2);
    }
}

// Replicas must be byte-identical; other chunks just differ. The DCP workloads use the same
// seeds, so their chunks hold the same bytes as W1's and W2's.
uint64_t chunkSeed(const std::string& fqn, const std::vector<uint64_t>& offsets) {
    return std::hash<std::string>{}(fqn) +
           (offsets.empty() ? 0 : offsets[0] * 31 + (offsets.size() > 1 ? offsets[1] : 0));
}

void writeMapping(const fs::path& dir, const std::map<std::string, int>& mapping) {
    fs::create_directories(dir / ".hf_metadata");
    std::ofstream out(dir / ".hf_metadata" / "fqn_to_file_index_mapping.json");
    out << "{\n";
    size_t i = 0;
    for (const auto& [fqn, index] : mapping)
        out << "  \"" << fqn << "\": " << index << (++i < mapping.size() ? ",\n" : "\n");
    out << "}\n";
}

// The chunk rank `r` of `ranks` saves of `t`: an even split of rows or columns (the last rank
// takes the rest), or the whole tensor when it is replicated.
ShardChunkSpec chunkOf(const TensorSpec& t, size_t r, size_t ranks, DType dtype) {
    ShardChunkSpec c{t.fqn, dtype, Shape(t.shape.size(), 0), t.shape};
    if (t.split == Split::Replicated) return c;
    const size_t dim = t.split == Split::Rows ? 0 : 1;
    const uint64_t step = t.shape[dim] / ranks;
    c.offsets[dim] = step * r;
    c.shape[dim] = r + 1 == ranks ? t.shape[dim] - step * r : step;
    return c;
}

uint64_t chunkBytes(const ShardChunkSpec& c) {
    uint64_t n = dtypeBits(c.dtype) / 8;
    for (auto d : c.shape)
        n *= d;
    return n;
}

std::string shardName(size_t r) {
    char name[80];
    std::snprintf(name, sizeof name, "shard-%05zu-model-00001-of-00001.safetensors", r + 1);
    return name;
}

// Only the header is written; the data section becomes a hole of its full length, for loads
// that time reading headers (no data to make, and next to nothing on disk).
void writeSparseShard(const fs::path& path, const std::vector<ShardChunkSpec>& chunks) {
    uint64_t dataBytes = 0;
    for (const auto& c : chunks)
        dataBytes += chunkBytes(c);
    writeShardFile(path, chunks, [](size_t, std::string&) {}); // no bytes: the header alone
    fs::resize_file(path, fs::file_size(path) + dataBytes);
}

// Splits every tensor over `ranks` files and writes them; chunk data is generated per chunk.
// Each rank's chunk list is made inside its own job, so memory stays at two ranks' headers
// however many chunks there are (W6 has 23 million).
void writeSharded(const fs::path& dir, const std::vector<TensorSpec>& tensors, int ranks,
                  DType dtype = DType::BF16, bool sparse = false, bool weights = false) {
    parallelFor(size_t(ranks), 0, [&](size_t r) {
        std::vector<ShardChunkSpec> chunks;
        chunks.reserve(tensors.size());
        for (const auto& t : tensors)
            chunks.push_back(chunkOf(t, r, size_t(ranks), dtype));
        if (sparse) return writeSparseShard(dir / shardName(r), chunks);
        writeShardFile(dir / shardName(r), chunks, [&](size_t i, std::string& bytes) {
            const auto& c = chunks[i];
            const uint64_t seed = chunkSeed(c.fqn, {c.offsets.begin(), c.offsets.end()});
            if (dtype == DType::F32)
                fillWeights(bytes, chunkBytes(c), seed);
            else if (weights)
                fillWeightsBf16(bytes, chunkBytes(c), seed);
            else
                fillBytes(bytes, chunkBytes(c), seed);
        });
    });
}

// Many small tensors, each split by rows over `per` of `ranks` files.
void writeSmall(const fs::path& dir, uint64_t count, const Shape& shape, DType dtype, int ranks,
                int per, int outputFiles) {
    std::vector<std::vector<ShardChunkSpec>> files(ranks);
    std::map<std::string, int> mapping;
    char name[64];
    for (uint64_t t = 0; t < count; ++t) {
        std::snprintf(name, sizeof name, "model.blocks.%llu.weight",
                      static_cast<unsigned long long>(t));
        mapping[name] = int(1 + t * uint64_t(outputFiles) / count);
        for (int k = 0; k < per; ++k) {
            const int rank = int((t * uint64_t(per) + uint64_t(k)) % uint64_t(ranks));
            ShardChunkSpec c{name, dtype, Shape(shape.size(), 0), shape};
            c.shape[0] = shape[0] / per;
            c.offsets[0] = c.shape[0] * k;
            files[rank].push_back(c);
        }
    }
    parallelFor(files.size(), 0, [&](size_t r) {
        char file[80];
        std::snprintf(file, sizeof file, "shard-%05zu-model-00001-of-00001.safetensors", r + 1);
        writeShardFile(dir / file, files[r], [&](size_t i, std::string& bytes) {
            const auto& c = files[r][i];
            uint64_t n = dtypeBits(c.dtype) / 8;
            for (auto d : c.shape)
                n *= d;
            fillBytes(bytes, n, r * 1000003 + i);
        });
    });
    writeMapping(dir, mapping);
}

void writeMapping(const fs::path& dir, const std::vector<TensorSpec>& tensors) {
    std::map<std::string, int> mapping;
    for (const auto& t : tensors)
        mapping[t.fqn] = t.file;
    writeMapping(dir, mapping);
}

void writeLlama(const fs::path& dir, uint64_t hidden, uint64_t ffn, int layers, Split matrices,
                Split norms, DType dtype = DType::BF16, bool weights = false) {
    auto tensors = llama(hidden, ffn, layers, matrices, norms, 4);
    writeSharded(dir, tensors, 8, dtype, false, weights);
    writeMapping(dir, tensors);
}

// W5, W6 and W7: BF16 MoE tensors over 256 ranks; `sparse` leaves every data section a hole.
void writeMoe(const fs::path& dir, size_t count, int experts, const Shape& matrix, Split split,
              bool sparse, int files) {
    const auto tensors = moe(count, experts, matrix, split, split == Split::Rows, files);
    writeSharded(dir, tensors, 256, DType::BF16, sparse);
    writeMapping(dir, tensors);
}

std::vector<uint64_t> dims(const Shape& s) {
    return {s.begin(), s.end()};
}

// A model as torch 2.x's DCP saves it from `ranks` ranks. A replicated tensor is written once:
// dedup_save_plans gives it to the plan with the fewest bytes so far while it walks rank 0's
// items (which list every tensor), so the norms go round ranks 1..7.
dcp::Checkpoint dcpPlan(const std::vector<TensorSpec>& tensors, int ranks) {
    dcp::Checkpoint ckpt;
    ckpt.ranks.resize(size_t(ranks));
    std::vector<uint64_t> planned(size_t(ranks), 0);
    for (size_t t = 0; t < tensors.size(); ++t) {
        const TensorSpec& spec = tensors[t];
        ckpt.tensors.push_back({spec.fqn, dcp::DType::BF16, dims(spec.shape)});
        const dcp::Chunk whole{t, std::vector<uint64_t>(spec.shape.size(), 0), dims(spec.shape)};
        if (spec.split == Split::Replicated) {
            const auto r =
                size_t(std::min_element(planned.begin(), planned.end()) - planned.begin());
            ckpt.ranks[r].push_back(whole);
            planned[r] += dcp::chunkBytes(ckpt, whole);
            continue;
        }
        const size_t dim = spec.split == Split::Rows ? 0 : 1;
        const uint64_t step = spec.shape[dim] / uint64_t(ranks);
        for (size_t r = 0; r < size_t(ranks); ++r) {
            dcp::Chunk c = whole;
            c.offsets[dim] = step * r;
            c.sizes[dim] = r + 1 == size_t(ranks) ? spec.shape[dim] - step * r : step;
            ckpt.ranks[r].push_back(std::move(c));
        }
        planned[0] += dcp::chunkBytes(ckpt, ckpt.ranks[0].back());
    }
    return ckpt;
}

// W1 or W2 as a DCP folder: the same tensors, chunks and chunk bytes, and the same mapping.
void writeLlamaDcp(const fs::path& dir, Split matrices, Split norms) {
    const auto tensors = llama(2048, 5504, 24, matrices, norms, 4);
    const dcp::Checkpoint ckpt = dcpPlan(tensors, 8);
    auto fill = [&](size_t rank, size_t i, std::string& bytes) {
        const dcp::Chunk& c = ckpt.ranks[rank][i];
        fillBytes(bytes, dcp::chunkBytes(ckpt, c),
                  chunkSeed(ckpt.tensors[c.tensor].fqn, c.offsets));
    };
    dcp::writeCheckpoint(dir, ckpt, fill, {});
    writeMapping(dir, tensors);
}

// 20,000 MoE-style tensors of [160, 64] BF16, rows over 40 ranks: 800,000 chunks, each a real
// torch.save archive (inspect reads every archive's records, as it reads every shard header).
void writeDcpMetadataOnly(const fs::path& dir) {
    constexpr size_t kTensors = 20000, kRanks = 40, kOutputFiles = 5;
    static const char* const kProj[] = {"gate_proj", "up_proj", "down_proj"};
    dcp::Checkpoint ckpt;
    ckpt.ranks.resize(kRanks);
    std::map<std::string, int> mapping;
    char name[96];
    for (size_t t = 0; t < kTensors; ++t) {
        std::snprintf(name, sizeof name, "model.layers.%zu.mlp.experts.%zu.%s.weight", t / 192,
                      t % 192 / 3, kProj[t % 3]);
        ckpt.tensors.push_back({name, dcp::DType::BF16, {160, 64}});
        mapping[name] = int(1 + t * kOutputFiles / kTensors);
        for (size_t r = 0; r < kRanks; ++r)
            ckpt.ranks[r].push_back({t, {4 * r, 0}, {4, 64}});
    }
    auto fill = [&](size_t rank, size_t i, std::string& bytes) {
        bytes.assign(dcp::chunkBytes(ckpt, ckpt.ranks[rank][i]), '\x3c');
    };
    dcp::writeCheckpoint(dir, ckpt, fill, {});
    writeMapping(dir, mapping);
}

} // namespace

const std::vector<Workload>& workloads() {
    static const std::vector<Workload> list = {
        {"W1",
         "FSDP: ~2.5 GiB BF16 Llama-like, every tensor split by rows over 8 ranks, 4 output files",
         {.maxRatio = 1.1, .maxRssMiB = 256},
         Mode::Consolidate,
         {},
         {}},
        {"W2",
         "TP: the same model, matrices split by columns over 8 ranks, norms replicated",
         {.maxRatio = 1.25, .maxRssMiB = 256},
         Mode::Consolidate,
         {},
         {}},
        {"W3",
         "many small: 20,000 tensors of 4 KiB, rows over 8 ranks (160,000 chunks), 5 files",
         {.maxSeconds = 0.15},
         Mode::Consolidate,
         {},
         {}},
        {"W4",
         "inspect: 100,000 tensors, rows over 8 of 64 ranks (800,000 chunks)",
         {.maxSeconds = 2},
         Mode::Inspect,
         {"--json"},
         {}},
        {"W1x2",
         "W1 at 2x width (hidden 4096, ffn 11008, 6 layers): the largest tensor doubles",
         {},
         Mode::Consolidate,
         {},
         {}},
        {"W1w",
         "W1 with weight-like BF16 values; generated for STATSw, consolidated like W1",
         {.maxRatio = 1.1, .maxRssMiB = 256},
         Mode::Consolidate,
         {},
         {}},
        {"W1f",
         "cast: W1 in F32 (4.8 GiB) exported as BF16 (--cast bf16), against the same export "
         "without the cast",
         {.maxRatio = 1.2, .maxRssMiB = 256, .againstExport = true},
         Mode::Consolidate,
         {"--cast", "bf16"},
         {}},
        {"W1d",
         "W1 as a PyTorch 2.x DCP folder: .metadata + 8 __<rank>_0.distcp of torch.save "
         "archives",
         {.maxRatio = 1.1, .maxRssMiB = 256},
         Mode::Consolidate,
         {},
         {}},
        {"W2d",
         "W2 as a PyTorch 2.x DCP folder (each replicated norm saved once, by one rank)",
         {.maxRatio = 1.25, .maxRssMiB = 256},
         Mode::Consolidate,
         {},
         {}},
        {"DCPMETA",
         "inspect a DCP checkpoint of 800,000 chunks (20,000 tensors x 40 ranks, 800,000 archives)",
         {.maxSeconds = 2},
         Mode::Inspect,
         {},
         {}},
        {"STATS",
         "stats of W1: every value of its 2.38 GiB of BF16 shards read and reduced",
         {.maxRatio = 1.5, .maxRssMiB = 256, .againstCat = true},
         Mode::Values,
         {"stats", "--json"},
         "W1"},
        {"STATSw",
         "stats of W1w: W1 with weight-like BF16 values (2,048 bit patterns, where W1's random "
         "bits hit all 65,536)",
         {.maxRatio = 1.5, .maxRssMiB = 256, .againstCat = true},
         Mode::Values,
         {"stats", "--json"},
         "W1w"},
        {"STATSf",
         "stats of W1f: W1 in F32 with weight-like values (4.8 GiB); keys span histogram bin "
         "edges, so each tensor is read a second time to bin those elements by value",
         {.maxRssMiB = 256, .againstCat = true},
         Mode::Values,
         {"stats", "--json"},
         "W1f"},
        {"DIFF",
         "diff of W1's shards against their consolidated export (both read in full)",
         {.maxRatio = 2, .maxRssMiB = 256, .againstCat = true},
         Mode::Values,
         {"diff"},
         "W1"},
        {"W5",
         "scale, FSDP: 20,000 MoE tensors of [256, 256] BF16 (2.43 GiB), rows over 256 ranks "
         "(5.12 M chunks of 512 bytes), 8 files",
         {.maxRatio = 1.5, .maxRssMiB = 512},
         Mode::Consolidate,
         {},
         {}},
        {"W5i",
         "inspect W5: 5.12 M chunks, text output",
         {.maxSeconds = 2, .maxRssMiB = 512},
         Mode::Inspect,
         {},
         "W5"},
        {"W6",
         "inspect: 90,000 MoE tensors of [256, 8] BF16, rows over 256 ranks (23 M chunks), "
         "headers only (data sections are holes)",
         {.maxSeconds = 10, .maxRssMiB = 2048},
         Mode::Inspect,
         {},
         {}},
        {"W7",
         "TP: 2,000 tensors of [64, 2048] BF16 (500 MiB), columns over 256 ranks (512,000 "
         "chunks of [64, 8]), 5 files",
         {.maxRssMiB = 512}, // reported; the coverage proof is what W7i checks
         Mode::Consolidate,
         {},
         {}},
        {"W7i",
         "inspect W7: every chunk starts at row 0, so the coverage proof must not go quadratic",
         {.maxSeconds = 1, .maxRssMiB = 512},
         Mode::Inspect,
         {},
         "W7"},
    };
    return list;
}

// Values workloads, W5i and W7i read another workload's files and have none of their own.
const Workload& dataWorkload(const Workload& w) {
    if (w.dataOf.empty()) return w;
    for (const Workload& other : workloads())
        if (other.name == w.dataOf) return other;
    return w;
}

bool isGenerated(const Workload& wanted, const fs::path& cache) {
    const Workload& w = dataWorkload(wanted);
    std::ifstream in(cache / (w.name + ".complete"));
    int version = 0;
    return in >> version && version == kVersion;
}

fs::path ensureWorkload(const Workload& wanted, const fs::path& cache) {
    const Workload& w = dataWorkload(wanted);
    const fs::path dir = cache / w.name;
    const fs::path marker = cache / (w.name + ".complete");
    if (isGenerated(w, cache)) return dir;
    std::fprintf(stderr, "generating %s into %s …\n", w.name.c_str(), dir.c_str());
    fs::remove_all(dir);
    fs::create_directories(dir);
    if (w.name == "W1")
        writeLlama(dir, 2048, 5504, 24, Split::Rows, Split::Rows);
    else if (w.name == "W2")
        writeLlama(dir, 2048, 5504, 24, Split::Columns, Split::Replicated);
    else if (w.name == "W3")
        writeSmall(dir, 20000, {16, 128}, DType::BF16, 8, 8, 5);
    else if (w.name == "W4")
        writeSmall(dir, 100000, {8, 4}, DType::F32, 64, 8, 5);
    else if (w.name == "W1x2")
        writeLlama(dir, 4096, 11008, 6, Split::Rows, Split::Rows);
    else if (w.name == "W1f")
        writeLlama(dir, 2048, 5504, 24, Split::Rows, Split::Rows, DType::F32);
    else if (w.name == "W1w")
        writeLlama(dir, 2048, 5504, 24, Split::Rows, Split::Rows, DType::BF16, true);
    else if (w.name == "W1d")
        writeLlamaDcp(dir, Split::Rows, Split::Rows);
    else if (w.name == "W2d")
        writeLlamaDcp(dir, Split::Columns, Split::Replicated);
    else if (w.name == "DCPMETA")
        writeDcpMetadataOnly(dir);
    else if (w.name == "W5")
        writeMoe(dir, 20000, 128, {256, 256}, Split::Rows, false, 8);
    else if (w.name == "W6")
        writeMoe(dir, 90000, 256, {256, 8}, Split::Rows, true, 10);
    else if (w.name == "W7")
        writeMoe(dir, 2000, 128, {64, 2048}, Split::Columns, false, 5);
    std::ofstream(marker) << kVersion;
    return dir;
}

} // namespace shardscope::bench
