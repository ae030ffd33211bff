// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace shardscope {

// What went wrong, one value per named check, so callers and tests can branch on the kind
// rather than on message text (as huggingface safetensors' SafeTensorError does).
enum class ErrorKind {
    Other, // not yet classified

    // Files
    Io,             // open, stat, read or write failed
    NotRegularFile, // a directory, FIFO or device where a file was expected

    // The 8-byte length prefix and the header bytes
    HeaderTooSmall,      // the file is shorter than the 8-byte length
    HeaderTooLarge,      // the length exceeds kMaxHeaderSize
    InvalidHeaderLength, // the length runs past the end of the file
    InvalidUtf8,
    InvalidHeaderStart, // the header does not start with '{'

    // JSON, in the header and in DCP_SHARDING_INFO
    JsonSyntax,
    NestingTooDeep, // deeper than serde_json's recursion limit
    NumberOverflow, // a positive integer above 2^64 - 1
    NegativeNumber, // where only non-negative integers are allowed
    NegativeZero,   // -0, which serde_json reads as a float and so refuses as an integer
    NotAnInteger,   // a fraction or exponent, or not a number at all
    DuplicateKey,   // a key twice in one object (an entry's field, a __metadata__ key)

    // Header fields and the data section they describe
    InvalidHeaderField, // a field of the wrong type or length
    MissingField,       // dtype, shape or data_offsets absent
    UnknownDtype,
    DuplicateTensorName,
    InvalidShape,             // the element count overflows
    MisalignedSlice,          // a sub-byte tensor that is not a whole number of bytes
    InvalidOffsets,           // data_offsets end before they begin
    OffsetsOutOfBounds,       // data_offsets end past the data section
    TensorSizeMismatch,       // end - begin differs from numel * itemsize
    DataOverlap,              // two tensors share bytes
    DataHole,                 // bytes in the data section that belong to no tensor
    MetadataIncompleteBuffer, // bytes after the last tensor

    // DCP sharding metadata
    MissingShardingInfo,    // no DCP_SHARDING_INFO in __metadata__
    ShardingInfoSyntax,     // DCP_SHARDING_INFO is not valid JSON
    InvalidShardingInfo,    // valid JSON of the wrong shape (no saved_offsets, not objects)
    DuplicateShardingEntry, // one fqn twice in DCP_SHARDING_INFO

    // Other parts of the program
    MappingInvalid, // the fqn -> file index mapping
    Coverage,       // chunks that do not tile a tensor
    OutputExists,
    OutputLocked,
    NoSpace,
    Usage,           // command-line usage
    ChunkConflict,   // chunks of one tensor disagree on dtype or rank, or lack saved_offsets
    ReplicaConflict, // replicas of one region hold different bytes
    Unmapped,        // tensors the mapping does not name
    NothingToWrite,
    OutputIsInput,  // the output directory is the shard directory
    VerifyFailed,   // written bytes differ from the shards, or the layout is wrong
    PublishFailed,  // renaming the new set into place failed
    SidecarSkipped, // a sidecar that is not a regular file, or one that leaves the checkpoint
    FileTooLarge,   // a mapping or journal over its documented size limit
    NoShards,       // a directory without *.safetensors shard files
    Cancelled,      // the user stopped the run

    // PyTorch DCP checkpoints (.metadata + *.distcp)
    MixedCheckpoint,    // .metadata beside *.safetensors shards, or *.distcp without .metadata
    PickleInvalid,      // truncated pickle, unknown opcode, stack or memo misuse
    PickleLimit,        // a pickle past a size, nesting or count limit
    UnknownClass,       // a class whose value is needed but which the reader does not know
    DcpMetadataInvalid, // .metadata objects of the wrong shape
    MissingDataFile,    // a *.distcp file that .metadata names is absent
    ItemOutOfRange,     // an item's byte range runs past the end of its file
    ZipInvalid,         // a torch.save archive whose records are broken or disagree
    StorageMismatch,    // storage class, size or layout of an item disagrees with .metadata
    StrideOutOfBounds,  // strides that reach outside the stored bytes
    UnknownTransform,   // a transform descriptor other than stream.zstd/1
    DecompressFailed,   // a zstd stream that does not decode
    BigEndian,          // an archive whose byteorder is not little

    // Values (statistics and check)
    ValueNaN,       // NaN elements in a tensor
    ValueInf,       // +Inf or -Inf elements
    AllZeros,       // every element of a tensor is zero: the silent-zero failure
    ConstantTensor, // every element holds one nonzero value
    ZeroChunk,      // one chunk is all zeros inside a tensor that is not: a dropped shard
    NormSpread,     // chunks of one tensor whose RMS differs by more than the threshold
    ValuesDiffer,   // a diff found tensors that differ

    // Consolidated Hugging Face folders (model.safetensors.index.json + *.safetensors)
    IndexMismatch,        // the index and the headers disagree (tensors, metadata.total_size)
    UnindexedFile,        // a *.safetensors file the index does not name; not read
    PathOutsideDirectory, // a file name that leaves the checkpoint directory (.., absolute)
    PartialTensor,        // DCP_SHARDING_INFO puts a tensor of a consolidated file off the origin

    // Export transforms (cast, rename, selection, tied weights)
    RuleInvalid,        // a rename, include, exclude or keep rule that does not parse
    NameCollision,      // two tensors exported under one name, or an empty exported name
    CastUnsupported,    // a cast into or out of a dtype that cannot be cast (FP8, integers)
    CastOverflow,       // finite values that became Inf (or nonzero ones 0) in a cast
    NothingSelected,    // include/exclude rules that leave no tensor to export
    RuleMatchesNothing, // a keep, include or exclude pattern that matches no tensor
    TiedWeights,        // two tensors with identical dtype, shape and bytes
    TieConfigMismatch,  // config.json's tie_word_embeddings disagrees with the weights
};

// The enumerator's own spelling: stable, for logs, JSON output and tests.
constexpr const char* errorKindName(ErrorKind kind) {
    switch (kind) {
    case ErrorKind::Other:
        return "Other";
    case ErrorKind::Io:
        return "Io";
    case ErrorKind::NotRegularFile:
        return "NotRegularFile";
    case ErrorKind::HeaderTooSmall:
        return "HeaderTooSmall";
    case ErrorKind::HeaderTooLarge:
        return "HeaderTooLarge";
    case ErrorKind::InvalidHeaderLength:
        return "InvalidHeaderLength";
    case ErrorKind::InvalidUtf8:
        return "InvalidUtf8";
    case ErrorKind::InvalidHeaderStart:
        return "InvalidHeaderStart";
    case ErrorKind::JsonSyntax:
        return "JsonSyntax";
    case ErrorKind::NestingTooDeep:
        return "NestingTooDeep";
    case ErrorKind::NumberOverflow:
        return "NumberOverflow";
    case ErrorKind::NegativeNumber:
        return "NegativeNumber";
    case ErrorKind::NegativeZero:
        return "NegativeZero";
    case ErrorKind::NotAnInteger:
        return "NotAnInteger";
    case ErrorKind::DuplicateKey:
        return "DuplicateKey";
    case ErrorKind::InvalidHeaderField:
        return "InvalidHeaderField";
    case ErrorKind::MissingField:
        return "MissingField";
    case ErrorKind::UnknownDtype:
        return "UnknownDtype";
    case ErrorKind::DuplicateTensorName:
        return "DuplicateTensorName";
    case ErrorKind::InvalidShape:
        return "InvalidShape";
    case ErrorKind::MisalignedSlice:
        return "MisalignedSlice";
    case ErrorKind::InvalidOffsets:
        return "InvalidOffsets";
    case ErrorKind::OffsetsOutOfBounds:
        return "OffsetsOutOfBounds";
    case ErrorKind::TensorSizeMismatch:
        return "TensorSizeMismatch";
    case ErrorKind::DataOverlap:
        return "DataOverlap";
    case ErrorKind::DataHole:
        return "DataHole";
    case ErrorKind::MetadataIncompleteBuffer:
        return "MetadataIncompleteBuffer";
    case ErrorKind::MissingShardingInfo:
        return "MissingShardingInfo";
    case ErrorKind::ShardingInfoSyntax:
        return "ShardingInfoSyntax";
    case ErrorKind::InvalidShardingInfo:
        return "InvalidShardingInfo";
    case ErrorKind::DuplicateShardingEntry:
        return "DuplicateShardingEntry";
    case ErrorKind::MappingInvalid:
        return "MappingInvalid";
    case ErrorKind::Coverage:
        return "Coverage";
    case ErrorKind::OutputExists:
        return "OutputExists";
    case ErrorKind::OutputLocked:
        return "OutputLocked";
    case ErrorKind::NoSpace:
        return "NoSpace";
    case ErrorKind::Usage:
        return "Usage";
    case ErrorKind::ChunkConflict:
        return "ChunkConflict";
    case ErrorKind::ReplicaConflict:
        return "ReplicaConflict";
    case ErrorKind::Unmapped:
        return "Unmapped";
    case ErrorKind::NothingToWrite:
        return "NothingToWrite";
    case ErrorKind::OutputIsInput:
        return "OutputIsInput";
    case ErrorKind::VerifyFailed:
        return "VerifyFailed";
    case ErrorKind::PublishFailed:
        return "PublishFailed";
    case ErrorKind::SidecarSkipped:
        return "SidecarSkipped";
    case ErrorKind::FileTooLarge:
        return "FileTooLarge";
    case ErrorKind::NoShards:
        return "NoShards";
    case ErrorKind::Cancelled:
        return "Cancelled";
    case ErrorKind::MixedCheckpoint:
        return "MixedCheckpoint";
    case ErrorKind::PickleInvalid:
        return "PickleInvalid";
    case ErrorKind::PickleLimit:
        return "PickleLimit";
    case ErrorKind::UnknownClass:
        return "UnknownClass";
    case ErrorKind::DcpMetadataInvalid:
        return "DcpMetadataInvalid";
    case ErrorKind::MissingDataFile:
        return "MissingDataFile";
    case ErrorKind::ItemOutOfRange:
        return "ItemOutOfRange";
    case ErrorKind::ZipInvalid:
        return "ZipInvalid";
    case ErrorKind::StorageMismatch:
        return "StorageMismatch";
    case ErrorKind::StrideOutOfBounds:
        return "StrideOutOfBounds";
    case ErrorKind::UnknownTransform:
        return "UnknownTransform";
    case ErrorKind::DecompressFailed:
        return "DecompressFailed";
    case ErrorKind::BigEndian:
        return "BigEndian";
    case ErrorKind::ValueNaN:
        return "ValueNaN";
    case ErrorKind::ValueInf:
        return "ValueInf";
    case ErrorKind::AllZeros:
        return "AllZeros";
    case ErrorKind::ConstantTensor:
        return "ConstantTensor";
    case ErrorKind::ZeroChunk:
        return "ZeroChunk";
    case ErrorKind::NormSpread:
        return "NormSpread";
    case ErrorKind::ValuesDiffer:
        return "ValuesDiffer";
    case ErrorKind::IndexMismatch:
        return "IndexMismatch";
    case ErrorKind::UnindexedFile:
        return "UnindexedFile";
    case ErrorKind::PathOutsideDirectory:
        return "PathOutsideDirectory";
    case ErrorKind::PartialTensor:
        return "PartialTensor";
    case ErrorKind::RuleInvalid:
        return "RuleInvalid";
    case ErrorKind::NameCollision:
        return "NameCollision";
    case ErrorKind::CastUnsupported:
        return "CastUnsupported";
    case ErrorKind::CastOverflow:
        return "CastOverflow";
    case ErrorKind::NothingSelected:
        return "NothingSelected";
    case ErrorKind::RuleMatchesNothing:
        return "RuleMatchesNothing";
    case ErrorKind::TiedWeights:
        return "TiedWeights";
    case ErrorKind::TieConfigMismatch:
        return "TieConfigMismatch";
    }
    return "?";
}

// One error type for the whole core, so every message a user sees names the file and tensor.
class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, std::string file, std::string tensor, const std::string& message)
        : std::runtime_error(compose(file, tensor, message)), m_kind(kind), m_file(std::move(file)),
          m_tensor(std::move(tensor)), m_message(message) {}
    // Unclassified; kept while callers move to the form with a kind.
    Error(std::string file, std::string tensor, const std::string& message)
        : Error(ErrorKind::Other, std::move(file), std::move(tensor), message) {}

    ErrorKind kind() const { return m_kind; }
    const std::string& file() const { return m_file; }
    const std::string& tensor() const { return m_tensor; }
    const std::string& message() const { return m_message; }

    static std::string compose(const std::string& file, const std::string& tensor,
                               const std::string& message) {
        std::string out;
        if (!file.empty()) out += printable(file) + ": ";
        if (!tensor.empty()) out += "tensor '" + printable(tensor) + "': ";
        return out + message;
    }

    // `text` with its control characters written as escapes (\n, \t, \x1b, \u2028, ...): a
    // name from a checkpoint must not break a table line, send escape sequences to a terminal or
    // reorder the line (bidi controls). The backslash is escaped too, so that two names never
    // print alike ("a\n" typed out and "a" with a newline).
    static std::string printable(std::string_view text) {
        size_t i = 0;
        while (i < text.size() && escapeLength(text, i) == 0)
            ++i;
        if (i == text.size()) return std::string(text);
        std::string out(text.substr(0, i));
        static const char* hex = "0123456789abcdef";
        while (i < text.size()) {
            const unsigned char c = static_cast<unsigned char>(text[i]);
            const size_t n = escapeLength(text, i);
            if (n == 0) {
                out += char(c);
            } else if (c == '\\') {
                out += "\\\\";
            } else if (c == '\n' || c == '\t' || c == '\r') {
                out += c == '\n' ? "\\n" : c == '\t' ? "\\t" : "\\r";
            } else if (n == 1) {
                out += "\\x";
                out += hex[c >> 4];
                out += hex[c & 15];
            } else { // a code point from U+0080 on, in 2 or 3 UTF-8 bytes
                uint32_t cp = n == 2 ? (c & 0x1fu) : (c & 0x0fu);
                for (size_t k = 1; k < n; ++k)
                    cp = cp << 6 | (static_cast<unsigned char>(text[i + k]) & 0x3fu);
                out += "\\u";
                for (int shift = 12; shift >= 0; shift -= 4)
                    out += hex[(cp >> shift) & 15];
            }
            i += n == 0 ? 1 : n;
        }
        return out;
    }

private:
    // How many bytes at text[i] printable() escapes: 1 for a backslash, C0 control or DEL, 2
    // for a C1 control (U+0080..U+009F), 3 for U+2028/U+2029 and the bidi controls
    // U+202A..U+202E and U+2066..U+2069; 0 for anything else.
    static size_t escapeLength(std::string_view text, size_t i) {
        const auto byte = [&](size_t k) {
            return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0u;
        };
        const unsigned c = byte(0);
        if (c == '\\' || c < 0x20 || c == 0x7f) return 1;
        if (c == 0xc2 && byte(1) >= 0x80 && byte(1) <= 0x9f) return 2;
        if (c == 0xe2 && byte(1) == 0x80 && byte(2) >= 0xa8 && byte(2) <= 0xae) return 3;
        if (c == 0xe2 && byte(1) == 0x81 && byte(2) >= 0xa6 && byte(2) <= 0xa9) return 3;
        return 0;
    }

    ErrorKind m_kind;
    std::string m_file;
    std::string m_tensor;
    std::string m_message;
};

// A JSON problem at a byte position: bad syntax, too deep, or a value of the wrong shape. The
// JSON cursor and the DCP_SHARDING_INFO parser throw it; callers that know the file turn it
// into an Error naming that file.
class JsonError : public std::runtime_error {
public:
    JsonError(ErrorKind kind, size_t position, std::string tensor, const std::string& message)
        : std::runtime_error(message), m_kind(kind), m_position(position),
          m_tensor(std::move(tensor)) {}

    ErrorKind kind() const { return m_kind; }
    size_t position() const { return m_position; }
    const std::string& tensor() const { return m_tensor; } // empty when not known
    std::string message() const { return what(); }

private:
    ErrorKind m_kind;
    size_t m_position;
    std::string m_tensor;
};

// Thrown when the user cancels; not a failure of the input.
class Cancelled : public std::runtime_error {
public:
    Cancelled() : std::runtime_error("cancelled") {}
};

enum class Severity { Warning, Error };

// A finding that does not stop the scan: shown in inspect output and the GUI's problems panel.
struct Problem {
    Severity severity = Severity::Error;
    std::string file;
    std::string tensor;
    std::string message;
    ErrorKind kind = ErrorKind::Other; // last, so {severity, file, tensor, message} still works

    std::string text() const { return Error::compose(file, tensor, message); }
};

} // namespace shardscope
