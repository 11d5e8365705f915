// Distances between PostgreSQL's bit strings (pgvector's Hamming and Jaccard).
#include "shmem/pg.hpp"

#include "worker/kernels/bitwise.hpp"

extern "C" {
#include "utils/varbit.h"
}

namespace k = ruvector::kernels;

namespace {

struct BitPair {
	VarBit *a;
	VarBit *b;
};

BitPair get_pair(FunctionCallInfo fcinfo)
{
	BitPair p{PG_GETARG_VARBIT_P(0), PG_GETARG_VARBIT_P(1)};
	if (VARBITLEN(p.a) != VARBITLEN(p.b))
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
						errmsg("different bit lengths %u and %u", unsigned(VARBITLEN(p.a)), unsigned(VARBITLEN(p.b)))));
	return p;
}

}  // namespace

// PostgreSQL keeps the padding bits of the last byte zero, so whole bytes can be counted.
RV_FUNCTION(hamming_distance)
{
	auto [a, b] = get_pair(fcinfo);
	PG_RETURN_FLOAT8(double(k::hamming_distance(VARBITS(a), VARBITS(b), VARBITBYTES(a))));
}

RV_FUNCTION(jaccard_distance)
{
	auto [a, b] = get_pair(fcinfo);
	PG_RETURN_FLOAT8(k::jaccard_distance(VARBITS(a), VARBITS(b), VARBITBYTES(a)));
}
