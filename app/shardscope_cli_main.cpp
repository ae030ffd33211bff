#include "cli.h"

int main(int argc, char** argv) {
    return shardscope::runCli(argc, argv);
}
