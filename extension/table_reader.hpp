// Reading a vector column of a user table, in the calling backend, with the caller's privileges,
// row-level security and snapshot (through SPI). The worker never reads user tables.
#pragma once
#include "extension/types/vector.hpp"

extern "C" {
#include "access/attnum.h"
}

namespace ruvector {

// The schema ruvector is installed in.
Oid extension_schema();

// The oid of ruvector's `vector` type (cached per backend).
Oid vector_type_oid();

// Check that `column` of `relid` exists and is a vector column; returns its attribute number.
AttrNumber check_vector_column(Oid relid, const char *column);

// All non-NULL vectors of the column, row-major in one palloc'd (huge) array.
struct VectorRows {
	float *data;
	int64 n;
	int dim;
	int64 nulls_skipped;
};
VectorRows read_vector_column(Oid relid, const char *column);

// "schema"."table" for relid, quoted.
char *qualified_relation_name(Oid relid);

}  // namespace ruvector
