"""The torch cross-checks' one way to talk to the test database: psql with the PG* environment the
scripted tests set, unaligned output, stopping at the first error."""
import subprocess


def psql(sql, stdin=None):
    r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql], input=stdin,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return r.stdout
