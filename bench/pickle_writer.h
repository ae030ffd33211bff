// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace shardscope::bench {

// Emits pickle opcodes the way CPython's C pickler (Python 3.8-3.13) does, so the benchmark's
// files look like the ones PyTorch writes: protocol 2 (torch.save's data.pkl, BINPUT memo) or 4
// (DCP's .metadata, MEMOIZE and 64 KiB FRAMEs). The caller drives it object by object and calls
// save() where CPython's save() starts, because that is where CPython closes a full frame.
// Nothing here is shared with the reader in core/: the benchmark must not test a reader against
// its own assumptions.
class PickleWriter {
public:
    // With `sink`, committed frames are written there as they fill (a .metadata of 800,000 chunks
    // is about 150 MB); without it everything stays in memory for take().
    explicit PickleWriter(int protocol, std::FILE* sink = nullptr);

    // Start of one CPython save() call: closes the frame if it has reached 64 KiB.
    void save();

    void op(char opcode) { m_frame += opcode; }
    void str(std::string_view s); // SHORT_BINUNICODE/BINUNICODE + memo (no save() call)
    void integer(int64_t v);      // BININT1/BININT2/BININT/LONG1 (no save() call)
    void global(std::string_view module, std::string_view name); // protocol 2 GLOBAL + memo
    uint32_t memoize();       // MEMOIZE (4) or BINPUT/LONG_BINPUT (2); the new index
    void get(uint32_t index); // BINGET/LONG_BINGET

    // save() of something CPython memoizes by identity: the first call runs `emit` (which must
    // leave the object memoized last), later calls fetch it with a get. `key` names the object.
    void shared(const std::string& key, const std::function<void()>& emit);
    // save() of a str that is one object wherever it appears (interned names, a reused fqn).
    void sharedStr(std::string_view s);

    // STOP, then the last frame; returns what was not written to the sink.
    std::string finish();

private:
    void commitFrame();
    template <typename T> void little(T v, int bytes);

    int m_protocol;
    std::FILE* m_sink;
    std::string m_out;   // PROTO and committed frames not yet written to the sink
    std::string m_frame; // the open frame (protocol 4) or everything after PROTO (protocol 2)
    uint32_t m_memo = 0;
    std::unordered_map<std::string, uint32_t> m_shared;
};

} // namespace shardscope::bench
