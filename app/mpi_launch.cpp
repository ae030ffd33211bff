// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "mpi_launch.h"

#include <cstdlib>
#include <dlfcn.h>
#include <filesystem>
#include <string>

namespace shardscope {

int launcherWorldSize() {
    // Open MPI's mpirun, then PMI (MPICH's hydra, srun --mpi=pmi2), PMIx, and an srun step.
    for (const char* name :
         {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_STEP_NUM_TASKS"})
        if (const char* value = std::getenv(name)) {
            const int n = std::atoi(value);
            if (n > 0) return n;
        }
    return 0;
}

#ifndef SHARDSCOPE_MPI_MODULE

bool builtWithMpi() {
    return false;
}

std::unique_ptr<Coordinator> startMpi(std::stop_token) {
    throw Error(ErrorKind::Usage, "", "",
                "distributed mode needs ShardScope built with MPI: install libopenmpi-dev and "
                "openmpi-bin (scripts/shardscope.sh does) and rebuild, or run one process");
}

#else

bool builtWithMpi() {
    return true;
}

std::unique_ptr<Coordinator> startMpi(std::stop_token stop) {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    const std::filesystem::path module = self.parent_path() / SHARDSCOPE_MPI_MODULE;
    // Global, so Open MPI's own plugins (loaded by MPI_Init) find libmpi's symbols.
    void* handle = ::dlopen(module.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!handle)
        throw Error(ErrorKind::Usage, module.string(), "",
                    std::string("cannot load the MPI module: ") + ::dlerror());
    using Start = Coordinator* (*)(std::stop_token*);
    auto start = reinterpret_cast<Start>(::dlsym(handle, "shardscope_start_mpi"));
    if (!start)
        throw Error(ErrorKind::Usage, module.string(), "",
                    "not a ShardScope MPI module (no shardscope_start_mpi)");
    return std::unique_ptr<Coordinator>(start(&stop));
}

#endif

} // namespace shardscope
