#pragma once

// Shared by the ShardScope fuzz targets: what counts as an accepted outcome, and scratch files.

#include "error.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>

namespace fuzzing {

// A rejected input must surface as shardscope::Error or JsonError (or Cancelled); any other
// exception is a finding, so name it and abort to make libFuzzer keep the input.
template <class F> void expectOnlyErrors(F&& body) {
    try {
        body();
    } catch (const shardscope::Error&) {
    } catch (const shardscope::Cancelled&) {
    } catch (const shardscope::JsonError&) { // the JSON parsers' own error, with a position
    } catch (const std::exception& e) {
        std::fprintf(stderr, "FINDING: unexpected exception (not shardscope::Error): %s\n",
                     e.what());
        std::abort();
    } catch (...) {
        std::fprintf(stderr, "FINDING: unexpected non-std exception\n");
        std::abort();
    }
}

// A private directory, made once per process and removed at exit.
const std::filesystem::path& scratchDir();

// Writes bytes to path (truncating); aborts when the scratch directory cannot be written,
// because that is a broken fuzzing set-up, not a finding in ShardScope.
void writeFile(const std::filesystem::path& path, std::string_view bytes);

} // namespace fuzzing
