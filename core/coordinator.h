// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "error.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

namespace shardscope {

// A failure as the processes of a distributed run share it: which rank it happened on and what
// it was, so every rank reports the same cause.
struct RankFailure {
    int rank = 0;
    ErrorKind kind = ErrorKind::Other;
    std::string file, tensor, message;
    bool cancelled = false;

    Error error() const; // "rank R: message", with the original file and tensor
};

// A collective that cannot complete because this process was told to stop (mpirun sends
// SIGTERM when another rank died): the run ends here without the others.
class PeersLost : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// How the processes of one distributed run agree. The CLI implements it over MPI; the core only
// sees this interface, so it stays free of MPI. Every member marked collective must be called by
// every rank in the same order, whatever happened locally: a rank that failed still takes part,
// which is what lets the others hear of the failure instead of waiting for it.
class Coordinator {
public:
    virtual ~Coordinator() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    // True once a wait for the others gave up (see PeersLost): this process must then end
    // without further collectives.
    virtual bool lost() const { return false; }

    // Collective: every rank passes its own failure, or none; every rank gets back the failure
    // of the lowest failing rank, or none when all succeeded.
    virtual std::optional<RankFailure> agree(const std::optional<RankFailure>& local) = 0;
    // Collective: rank 0's text on every rank.
    virtual std::string fromRoot(const std::string& text) = 0;
    // Collective: whether every rank passed the same value.
    virtual bool allEqual(uint64_t value) = 0;
    // Collective: every rank's text, in rank order, on rank 0 (empty elsewhere).
    virtual std::vector<std::string> gatherToRoot(const std::string& text) = 0;
    // Collective: runs `work` on this thread while the ranks exchange `localBytes` in the
    // background; `onTotal` is called on rank 0 with the sum over all ranks, and the token given
    // to `work` is stopped when another rank's work failed (so a run is not finished for nothing)
    // or `stop` is. Returns once every rank's work has returned; rethrows what `work` threw.
    virtual void whileWorking(const std::function<void(std::stop_token)>& work,
                              const std::atomic<uint64_t>& localBytes,
                              const std::function<void(uint64_t)>& onTotal,
                              std::stop_token stop) = 0;
};

// One process on its own: what every collective means with nobody else.
class SingleProcess final : public Coordinator {
public:
    int rank() const override { return 0; }
    int size() const override { return 1; }
    std::optional<RankFailure> agree(const std::optional<RankFailure>& local) override {
        return local;
    }
    std::string fromRoot(const std::string& text) override { return text; }
    bool allEqual(uint64_t) override { return true; }
    std::vector<std::string> gatherToRoot(const std::string& text) override { return {text}; }
    void whileWorking(const std::function<void(std::stop_token)>& work,
                      const std::atomic<uint64_t>& localBytes,
                      const std::function<void(uint64_t)>& onTotal, std::stop_token stop) override {
        work(stop);
        if (onTotal) onTotal(localBytes.load());
    }
};

// The failure `attempt` threw, as this rank reports it to the others (none when it returned).
std::optional<RankFailure> failureOf(int rank, const std::function<void()>& attempt);

// The pieces of `text` between `separator`s (a trailing separator ends the last piece): how the
// records that ranks send one another as text are taken apart.
std::vector<std::string> splitText(const std::string& text, char separator);

// RankFailure <-> bytes, for coordinators that send it as a message.
std::string encodeFailure(const RankFailure& failure);
RankFailure decodeFailure(const std::string& bytes);

} // namespace shardscope
