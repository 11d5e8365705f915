// Everything under worker/kernels/ and shmem/codec/ is compiled without PostgreSQL headers:
// this code runs on TBB threads, which must never call into PostgreSQL. The kernels target
// defines RUVECTOR_PG_FREE, so a PostgreSQL header that sneaks into a kernel build fails here.
// (Backend files may include kernel headers after postgres.h; that is how they call kernels.)
#pragma once
#if defined(RUVECTOR_PG_FREE) && defined(POSTGRES_H)
#error "worker/kernels and shmem/codec must not include PostgreSQL headers"
#endif
