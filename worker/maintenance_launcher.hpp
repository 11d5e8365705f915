// The ruvector worker starts the per-database maintenance processes (maintenance_launcher.cpp).
#pragma once
extern "C" {
#include "postgres.h"
}

namespace ruvector {

// Called from the worker's main loop on every wake-up: starts a round when one is due.
void maintenance_launcher_tick(MemoryContext cxt);

}  // namespace ruvector
