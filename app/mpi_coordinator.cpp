// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "coordinator.h"

#include <mpi.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

// ShardScope's MPI module: the Coordinator of a distributed run over MPI. It is built as a
// shared module beside shardscope-cli and loaded only by distributed runs (app/mpi_launch.h).

namespace shardscope {
namespace {

std::string mpiError(int code) {
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    return std::string(text, size_t(length));
}

} // namespace

class MpiCoordinator final : public Coordinator {
public:
    explicit MpiCoordinator(std::stop_token stop) : m_stop(std::move(stop)) {
        int provided = 0;
        // Serialized: the progress thread of whileWorking and the main thread never call MPI at
        // the same time.
        check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init");
        if (provided < MPI_THREAD_SERIALIZED)
            throw Error(ErrorKind::Usage, "", "",
                        "this MPI library cannot be used from two threads in turn "
                        "(MPI_THREAD_SERIALIZED)");
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        check(MPI_Comm_dup(MPI_COMM_WORLD, &m_steps), "MPI_Comm_dup");
        check(MPI_Comm_dup(MPI_COMM_WORLD, &m_ticks), "MPI_Comm_dup");
        MPI_Comm_rank(m_steps, &m_rank);
        MPI_Comm_size(m_steps, &m_size);
    }

    ~MpiCoordinator() override {
        if (m_lost) return; // finalizing would wait for the processes that are gone
        MPI_Comm_free(&m_ticks);
        MPI_Comm_free(&m_steps);
        MPI_Finalize();
    }

    bool lost() const override { return m_lost; }
    int rank() const override { return m_rank; }
    int size() const override { return m_size; }

    std::optional<RankFailure> agree(const std::optional<RankFailure>& local) override {
        // The lowest rank with a failure of its own wins; a rank that only stopped because
        // another failed ranks after every real failure.
        const int none = 2 * m_size;
        int key = none;
        if (local) key = local->cancelled ? m_size + m_rank : m_rank;
        int winner = none;
        MPI_Request request;
        check(MPI_Iallreduce(&key, &winner, 1, MPI_INT, MPI_MIN, m_steps, &request),
              "MPI_Iallreduce");
        wait(request);
        if (winner == none) return std::nullopt;
        const int from = winner % m_size;
        const std::string bytes = broadcast(from, from == m_rank ? encodeFailure(*local) : "");
        return decodeFailure(bytes);
    }

    std::string fromRoot(const std::string& text) override { return broadcast(0, text); }

    bool allEqual(uint64_t value) override {
        uint64_t mine[2] = {value, ~value}, low[2] = {0, 0};
        MPI_Request request;
        check(MPI_Iallreduce(mine, low, 2, MPI_UINT64_T, MPI_MIN, m_steps, &request),
              "MPI_Iallreduce");
        wait(request);
        return low[0] == ~low[1]; // the smallest value equals the largest
    }

    std::vector<std::string> gatherToRoot(const std::string& text) override {
        int length = int(text.size());
        std::vector<int> lengths(size_t(m_rank == 0 ? m_size : 0));
        MPI_Request request;
        check(MPI_Igather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, m_steps, &request),
              "MPI_Igather");
        wait(request);
        std::vector<int> offsets(lengths.size());
        int total = 0;
        for (size_t r = 0; r < lengths.size(); ++r)
            offsets[r] = total, total += lengths[r];
        std::string all(size_t(total), '\0');
        check(MPI_Igatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(),
                           offsets.data(), MPI_CHAR, 0, m_steps, &request),
              "MPI_Igatherv");
        wait(request);
        std::vector<std::string> out;
        for (size_t r = 0; r < lengths.size(); ++r)
            out.push_back(all.substr(size_t(offsets[r]), size_t(lengths[r])));
        return out;
    }

    void whileWorking(const std::function<void(std::stop_token)>& work,
                      const std::atomic<uint64_t>& localBytes,
                      const std::function<void(uint64_t)>& onTotal, std::stop_token stop) override {
        std::stop_source cancelWork;
        std::stop_callback forward(stop, [&] { cancelWork.request_stop(); });
        std::atomic<bool> finished{false}, failed{false};
        std::jthread ticker([&] { tick(localBytes, finished, failed, onTotal, cancelWork); });
        std::exception_ptr thrown;
        try {
            work(cancelWork.get_token());
        } catch (...) {
            thrown = std::current_exception();
            failed = true;
        }
        finished = true;
        ticker.join();
        if (m_lost)
            throw PeersLost("stopped by a signal before the other processes of this run finished "
                            "(mpirun stops them all when one of them dies)");
        if (thrown) std::rethrow_exception(thrown);
    }

private:
    // Every 50 ms all ranks sum {bytes written, ranks finished, ranks failed}: rank 0 shows the
    // total, a failure anywhere stops the work everywhere, and the loop ends on every rank at the
    // same tick, once every rank has finished.
    void tick(const std::atomic<uint64_t>& localBytes, const std::atomic<bool>& finished,
              const std::atomic<bool>& failed, const std::function<void(uint64_t)>& onTotal,
              std::stop_source& cancelWork) {
        const auto period = std::chrono::milliseconds(50);
        try {
            for (;;) {
                const auto next = std::chrono::steady_clock::now() + period;
                uint64_t mine[3] = {localBytes.load(), finished.load() ? 1u : 0u,
                                    failed.load() ? 1u : 0u};
                uint64_t sum[3] = {0, 0, 0};
                MPI_Request request;
                check(MPI_Iallreduce(mine, sum, 3, MPI_UINT64_T, MPI_SUM, m_ticks, &request),
                      "MPI_Iallreduce");
                wait(request);
                if (m_rank == 0 && onTotal) onTotal(sum[0]);
                if (sum[2] > 0) cancelWork.request_stop();
                if (sum[1] == uint64_t(m_size)) return;
                std::this_thread::sleep_until(next);
            }
        } catch (const PeersLost&) {
            cancelWork.request_stop(); // m_lost is set; whileWorking reports it
        }
    }

    std::string broadcast(int from, const std::string& text) {
        uint64_t length = text.size();
        MPI_Request request;
        check(MPI_Ibcast(&length, 1, MPI_UINT64_T, from, m_steps, &request), "MPI_Ibcast");
        wait(request);
        std::string out = m_rank == from ? text : std::string(length, '\0');
        if (length == 0) return out;
        check(MPI_Ibcast(out.data(), int(length), MPI_CHAR, from, m_steps, &request), "MPI_Ibcast");
        wait(request);
        return out;
    }

    // Polls instead of blocking, so a stop request (SIGTERM from mpirun when a rank died)
    // ends the wait; a blocking call would wait for the dead rank forever.
    void wait(MPI_Request& request) {
        for (int polls = 0;; ++polls) {
            int done = 0;
            check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
            if (done) return;
            if (m_stop.stop_requested()) {
                m_lost = true;
                throw PeersLost("stopped by a signal while waiting for the other processes of "
                                "this run (mpirun stops them all when one of them dies)");
            }
            // Spin briefly (steps are quick on one node), then sleep so a long wait costs no
            // core.
            if (polls > 1000) std::this_thread::sleep_for(std::chrono::microseconds(500));
        }
    }

    void check(int code, const char* call) {
        if (code == MPI_SUCCESS) return;
        m_lost = true;
        throw PeersLost(std::string(call) + " failed: " + mpiError(code));
    }

    std::stop_token m_stop;
    MPI_Comm m_steps = MPI_COMM_NULL, m_ticks = MPI_COMM_NULL;
    int m_rank = 0, m_size = 1;
    std::atomic<bool> m_lost{false};
};

} // namespace shardscope

// The module's one entry point (see app/mpi_launch.h), looked up by name after dlopen.
extern "C" __attribute__((visibility("default"))) shardscope::Coordinator*
shardscope_start_mpi(std::stop_token* stop) {
    return new shardscope::MpiCoordinator(*stop);
}
