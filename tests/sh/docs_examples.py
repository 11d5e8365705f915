#!/usr/bin/env python3
"""Run every ```sql block of README.md and docs/*.md as written; print TAP (one line per block).

Each Markdown file runs in a fresh database, its blocks in order, each block one psql session with
ON_ERROR_STOP. A file whose SQL has its own CREATE EXTENSION starts from an empty database (so that
statement runs as a reader would run it); the others get the extension created first.

A block that must not run says so on its first line, visibly in the Markdown:
    ```sql
    -- not run: <why>
It is reported as a TAP SKIP. Text that is not SQL goes in a ```text (or other) fence. An unlabelled
fence that holds SQL statements fails, so that no example can escape this test by losing its label.
Usage: docs_examples.py ROOT (connection from the PG* environment).
"""
import glob
import os
import re
import subprocess
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
FENCE = re.compile(r'^```\s*([A-Za-z0-9_+-]*)\s*$')
NOT_RUN = re.compile(r'^--\s*not run:\s*(\S.*)$', re.IGNORECASE)
SQL_STATEMENT = re.compile(r'^\s*(SELECT|CREATE|INSERT|UPDATE|DELETE|ALTER|DROP|SET|RESET|WITH|REINDEX|VACUUM|'
                           r'EXPLAIN|COPY|GRANT|REVOKE|TRUNCATE|ANALYZE|BEGIN|COMMIT)\b[^=]*(;|$)', re.IGNORECASE)
CREATE_EXTENSION = re.compile(r'^\s*CREATE\s+EXTENSION\b', re.IGNORECASE | re.MULTILINE)

n = 0
failed = 0


def tap(good, what, diag=None, skip=None):
    global n, failed
    n += 1
    line = ('ok' if good else 'not ok') + f' {n} - {what}'
    if skip:
        line += f' # SKIP {skip}'
    print(line, flush=True)
    if not good:
        failed += 1
        for d in (diag or '').rstrip().splitlines()[-15:]:
            print(f'#   {d}', flush=True)


def blocks(path):
    """(language, first line number of the body, body lines) for every fenced block."""
    out, lang, start, body = [], None, 0, []
    with open(path, encoding='utf-8') as f:
        for no, line in enumerate(f, 1):
            line = line.rstrip('\n')
            m = FENCE.match(line)
            if lang is None and m:
                lang, start, body = m.group(1).lower(), no + 1, []
            elif lang is not None and line.strip() == '```':
                out.append((lang, start, body))
                lang = None
            elif lang is not None:
                body.append(line)
    if lang is not None:
        out.append(('unterminated', start, body))
    return out


def psql(db, sql, **kw):
    return subprocess.run(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose', '-d', db, '-f', '-'],
                          input=sql, capture_output=True, text=True, timeout=kw.get('timeout', 300))


files = [os.path.join(ROOT, 'README.md')] + sorted(glob.glob(os.path.join(ROOT, 'docs', '*.md')))
for path in files:
    rel = os.path.relpath(path, ROOT)
    bl = blocks(path)
    for lang, start, body in bl:
        if lang == 'unterminated':
            tap(False, f'{rel}: the fence opened before line {start} is closed')
        elif lang == '' and any(SQL_STATEMENT.match(l) for l in body):
            tap(False, f'{rel} line {start}: an unlabelled fence holds SQL: make it ```sql (run by this test) '
                       'or ```text')
    sql_blocks = [(start, body) for lang, start, body in bl if lang == 'sql']
    if not sql_blocks:
        continue
    db = 'ruvector_docs_' + re.sub(r'[^a-z0-9]+', '_', os.path.splitext(rel)[0].lower())
    setup = psql('postgres', f'DROP DATABASE IF EXISTS {db} WITH (FORCE);\nCREATE DATABASE {db};\n')
    own_extension = any(CREATE_EXTENSION.search('\n'.join(body)) for _, body in sql_blocks)
    if setup.returncode == 0 and not own_extension:
        setup = psql(db, 'CREATE EXTENSION ruvector;\n')
    if setup.returncode != 0:
        tap(False, f'{rel}: set up database {db}', setup.stderr)
        continue
    for k, (start, body) in enumerate(sql_blocks, 1):
        what = f'{rel} block {k} (line {start})'
        first = next((l.strip() for l in body if l.strip()), '')
        m = NOT_RUN.match(first)
        if m:
            tap(True, what, skip='not run: ' + m.group(1))
            continue
        r = psql(db, '\n'.join(body) + '\n')
        tap(r.returncode == 0, what, r.stderr)
    psql('postgres', f'DROP DATABASE IF EXISTS {db} WITH (FORCE);\n')

print(f'1..{n}')
sys.exit(1 if failed else 0)
