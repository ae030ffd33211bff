// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "demo.h"

#include "error.h"
#include "shard_writer.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>

namespace fs = std::filesystem;

namespace shardscope {
namespace {

constexpr int kRanks = 4;
constexpr uint64_t kHidden = 256, kFfn = 688, kVocab = 1024, kLayers = 4;

enum class Split { Rows, Columns, Blocks, Replicated, RankZero };

struct DemoTensor {
    std::string fqn;
    DType dtype;
    Shape shape;
    Split split;
    int file; // output file index in the mapping
};

uint64_t fnv(const std::string& s) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s)
        h = (h ^ c) * 1099511628211ull;
    return h;
}

// Deterministic values that look like weights: small, varied, finite.
std::string fullBytes(const DemoTensor& t) {
    uint64_t numel = 1;
    for (auto d : t.shape)
        numel *= d;
    const unsigned size = dtypeBits(t.dtype) / 8;
    std::string out(numel * size, '\0');
    uint64_t state = fnv(t.fqn) | 1;
    for (uint64_t i = 0; i < numel; ++i) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        const float v = float(int64_t(state % 20001) - 10000) * 2e-6f;
        char* p = out.data() + i * size;
        if (t.dtype == DType::BF16) {
            uint32_t bits;
            std::memcpy(&bits, &v, 4);
            uint16_t half = uint16_t(bits >> 16);
            std::memcpy(p, &half, 2);
        } else if (t.dtype == DType::F32) {
            const float w = t.fqn.find("norm") != std::string::npos ? 1.0f + v : v;
            std::memcpy(p, &w, 4);
        } else if (t.dtype == DType::I64) {
            int64_t x = int64_t(i % (t.shape.empty() ? 1 : t.shape.back()));
            std::memcpy(p, &x, 8);
        } else if (t.dtype == DType::BOOL) {
            const uint64_t cols = t.shape.back();
            *p = char((i % cols) <= (i / cols) ? 1 : 0); // a causal mask
        }
    }
    return out;
}

std::vector<DemoTensor> demoModel() {
    std::vector<DemoTensor> m;
    m.push_back({"model.embed_tokens.weight", DType::BF16, {kVocab, kHidden}, Split::Rows, 1});
    for (uint64_t l = 0; l < kLayers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        const int file = l < kLayers / 2 ? 1 : 2;
        for (const char* proj : {"q_proj", "k_proj", "v_proj"})
            m.push_back({p + "self_attn." + proj + ".weight",
                         DType::BF16,
                         {kHidden, kHidden},
                         Split::Rows,
                         file});
        m.push_back(
            {p + "self_attn.o_proj.weight", DType::BF16, {kHidden, kHidden}, Split::Columns, file});
        m.push_back({p + "self_attn.o_proj.bias", DType::F32, {kHidden}, Split::Replicated, file});
        m.push_back({p + "mlp.gate_proj.weight", DType::BF16, {kFfn, kHidden}, Split::Rows, file});
        m.push_back({p + "mlp.up_proj.weight", DType::BF16, {kFfn, kHidden}, Split::Rows, file});
        m.push_back(
            {p + "mlp.down_proj.weight", DType::BF16, {kHidden, kFfn}, Split::Columns, file});
        m.push_back({p + "input_layernorm.weight", DType::F32, {kHidden}, Split::Replicated, file});
        m.push_back({p + "post_attention_layernorm.weight",
                     DType::F32,
                     {kHidden},
                     Split::Replicated,
                     file});
    }
    m.push_back({"model.layers.0.self_attn.causal_mask", DType::BOOL, {64, 64}, Split::Rows, 1});
    m.push_back({"model.norm.weight", DType::F32, {kHidden}, Split::Rows, 3});
    m.push_back({"model.rotary_emb.position_ids", DType::I64, {1, 128}, Split::RankZero, 3});
    m.push_back({"model.logit_scale", DType::F32, {}, Split::Replicated, 3});
    m.push_back({"lm_head.weight", DType::BF16, {kVocab, kHidden}, Split::Blocks, 3});
    return m;
}

// The chunk rank r holds, or nothing.
bool chunkFor(const DemoTensor& t, int r, Shape& offsets, Shape& shape) {
    offsets.assign(t.shape.size(), 0);
    shape = t.shape;
    switch (t.split) {
    case Split::Replicated:
        return true;
    case Split::RankZero:
        return r == 0;
    case Split::Rows:
        shape[0] = t.shape[0] / kRanks;
        offsets[0] = shape[0] * r;
        return true;
    case Split::Columns:
        shape[1] = t.shape[1] / kRanks;
        offsets[1] = shape[1] * r;
        return true;
    case Split::Blocks: // a 2 x 2 grid of blocks
        shape[0] = t.shape[0] / 2, shape[1] = t.shape[1] / 2;
        offsets[0] = shape[0] * (r / 2), offsets[1] = shape[1] * (r % 2);
        return true;
    }
    return false;
}

void setBf16(std::string& bytes, uint64_t element, uint16_t bits) {
    std::memcpy(bytes.data() + 2 * element, &bits, 2);
}

// Rows [from, to) of a row-major BF16 matrix with `cols` columns, multiplied by `factor`.
void scaleBf16Rows(std::string& bytes, uint64_t cols, uint64_t from, uint64_t to, float factor) {
    for (uint64_t e = from * cols; e < to * cols; ++e) {
        uint16_t half;
        std::memcpy(&half, bytes.data() + 2 * e, 2);
        const float v = std::bit_cast<float>(uint32_t(half) << 16) * factor;
        setBf16(bytes, e, uint16_t(std::bit_cast<uint32_t>(v) >> 16));
    }
}

// The failures of real runs, planted where `check` names them: see writeDemoCheckpoint.
void plantValueFaults(std::map<std::string, std::string>& full) {
    const uint64_t quarter = kFfn / kRanks;
    auto& up = full.at("model.layers.1.mlp.up_proj.weight"); // rank 2 never wrote its rows
    std::fill(up.begin() + std::ptrdiff_t(2 * quarter * kHidden * 2),
              up.begin() + std::ptrdiff_t(3 * quarter * kHidden * 2), '\0');
    auto& bias = full.at("model.layers.2.self_attn.o_proj.bias"); // saved before it was filled
    std::fill(bias.begin(), bias.end(), '\0');
    setBf16(full.at("model.layers.3.mlp.down_proj.weight"), 1234, 0x7FC0); // NaN
    const float inf = std::numeric_limits<float>::infinity();
    std::memcpy(full.at("model.layers.1.post_attention_layernorm.weight").data() + 4 * 7, &inf, 4);
    scaleBf16Rows(full.at("model.layers.0.self_attn.v_proj.weight"), kHidden,
                  3 * kHidden / kRanks, kHidden, 1000.0f); // rank 3 scaled by mistake
}

void writeText(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw Error(ErrorKind::Io, path.string(), "", "cannot write");
}

} // namespace

void writeDemoCheckpoint(const fs::path& directory, bool valueFaults) {
    std::error_code ec;
    fs::create_directories(directory / ".hf_metadata", ec);
    if (ec) throw Error(ErrorKind::Io, directory.string(), "", "cannot create: " + ec.message());
    const auto model = demoModel();
    std::map<std::string, std::string> full;
    for (const auto& t : model)
        full[t.fqn] = fullBytes(t);
    if (valueFaults) plantValueFaults(full);

    for (int r = 0; r < kRanks; ++r) {
        std::vector<ShardChunkSpec> specs;
        std::vector<const DemoTensor*> owners;
        for (const auto& t : model) {
            ShardChunkSpec spec{t.fqn, t.dtype, {}, {}};
            if (!chunkFor(t, r, spec.offsets, spec.shape)) continue;
            specs.push_back(spec);
            owners.push_back(&t);
        }
        char name[80];
        std::snprintf(name, sizeof name, "shard-%05d-model-00001-of-00001.safetensors", r + 1);
        fs::remove(directory / name, ec);
        writeShardFile(directory / name, specs, [&](size_t i, std::string& bytes) {
            const DemoTensor& t = *owners[i];
            bytes = sliceChunk(full[t.fqn], t.shape, specs[i].offsets, specs[i].shape,
                               dtypeBits(t.dtype) / 8);
        });
    }

    std::string mapping = "{\n";
    for (size_t i = 0; i < model.size(); ++i)
        mapping += "  \"" + model[i].fqn + "\": " + std::to_string(model[i].file) +
                   (i + 1 < model.size() ? ",\n" : "\n");
    mapping += "}\n";
    writeText(directory / ".hf_metadata" / "fqn_to_file_index_mapping.json", mapping);
    writeText(directory / ".hf_metadata" / "config.json",
              "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"model_type\": \"llama\",\n"
              "  \"hidden_size\": " +
                  std::to_string(kHidden) + ",\n  \"intermediate_size\": " + std::to_string(kFfn) +
                  ",\n  \"num_hidden_layers\": " + std::to_string(kLayers) +
                  ",\n  \"num_attention_heads\": 4,\n  \"vocab_size\": " + std::to_string(kVocab) +
                  ",\n  \"tie_word_embeddings\": false,\n  \"torch_dtype\": \"bfloat16\"\n}\n");
    writeText(directory / ".hf_metadata" / "generation_config.json",
              "{\n  \"bos_token_id\": 1,\n  \"eos_token_id\": 2\n}\n");
}

} // namespace shardscope
