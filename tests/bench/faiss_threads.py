"""Thread count of the FAISS references in tests/bench (imported by the *_faiss.py scripts)."""
import ctypes

import faiss


def set_threads(n):
    """n OpenMP threads for FAISS, and n threads for OpenBLAS, which runs its matrix products (k-means
    assignment, batched searches): Debian's OpenBLAS pthread build keeps its own pool, one thread per
    core, whatever omp_set_num_threads says, so "1 thread" alone still used every core."""
    faiss.omp_set_num_threads(n)
    for lib in ("libblas.so.3", "libopenblas.so.0"):  # FAISS links both; either may run sgemm
        try:
            ctypes.CDLL(lib).openblas_set_num_threads(n)
        except (OSError, AttributeError):
            pass  # not OpenBLAS: nothing to set
