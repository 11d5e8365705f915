// Coexistence with pgvector (see compat.cpp).
#pragma once

extern "C" {
#include "postgres.h"
#include "nodes/nodes.h"
}

namespace ruvector::compat {

// For the ProcessUtility hook: refuses CREATE EXTENSION vector and LOAD of pgvector's library with
// a clear error; true when the statement is done (CREATE EXTENSION IF NOT EXISTS vector where
// ruvector provides it, and the COMMENT ON EXTENSION vector a pgvector dump follows it with: a
// NOTICE and nothing else).
bool refuse_pgvector(Node *stmt);

}  // namespace ruvector::compat
