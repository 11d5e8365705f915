#!/usr/bin/env python3
"""Run pgvector 0.8's README statements (copied, in order, into pgvector_readme.sql) in one session
of a fresh database, as a reader would; print TAP, one line per README statement.

The data file is SQL with annotations in comments, each applying to the next statement:
    -- § <README section>          where the following statements come from
    -- setup: <sql>                run first, silently: puts the table in the shape that README section
                                   assumes (the README reuses `items` for different column types)
    -- todo: <reason>              needs what ruvector does not have yet: run, reported as SKIP
    -- env: <reason>               needs a server setting the test cluster lacks (not ruvector): run, SKIP
    -- placeholder: <reason>       not a statement (`SELECT ...`, one line): reported as SKIP, not run
    -- mapped: <reason>            the README names pgvector's extension; the ruvector statement runs
    -- adapted: <reason>           a fragment or PostgreSQL 16 syntax completed to run on PostgreSQL 15
    -- readme: <text>              the README's own text of a mapped or adapted statement
    -- copy-binary-from: <query>   COPY ... FROM STDIN: the query's rows are sent as the binary stream
A statement ends with a line ending in `;` (before any -- comment). Every statement not marked todo,
env or placeholder must run
without error. The last line says how many README statements run.
Usage: pgvector_readme.py DATAFILE (connection from the PG* environment).
"""
import os
import re
import subprocess
import sys
import tempfile

ANNOTATION = re.compile(r'^--\s*(§|setup:|todo:|env:|placeholder:|mapped:|adapted:|readme:|copy-binary-from:)\s*(.*)$')
ERROR = re.compile(r'ERROR:\s+(?:([0-9A-Z]{5}):\s+)?(.*)$')
MARK = '@@ruvector-readme-end@@'


def parse(path):
    items, notes, setup, section, body = [], {}, [], '', []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.rstrip('\n')
            m = ANNOTATION.match(line.strip()) if not body else None
            if m:
                key, val = m.group(1).rstrip(':'), m.group(2)
                if key == '§':
                    section = val
                elif key == 'setup':
                    setup.append(val if val.rstrip().endswith(';') else val + ';')
                else:
                    notes[key] = val
                continue
            if not body and (not line.strip() or line.strip().startswith('--')):
                continue
            body.append(line)
            if 'placeholder' in notes or re.sub(r'\s*--.*$', '', line).rstrip().endswith(';'):
                items.append({'section': section, 'sql': '\n'.join(body), 'setup': setup, **notes})
                notes, setup, body = {}, [], []
    if body:
        sys.exit(f'{path}: unterminated statement: {body[0]}')
    return items


class Session:
    """One psql session (so SET, BEGIN ... COMMIT carry over, as for a reader at a prompt)."""

    def __init__(self):
        self.p = subprocess.Popen(['psql', '-X', '-q', '-v', 'VERBOSITY=verbose', '-f', '-'],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True, bufsize=1)

    def run(self, sql):
        """The (sqlstate, message) of the first error, or None; warnings and notices are ignored."""
        self.p.stdin.write(sql + '\n\\warn ' + MARK + '\n')
        self.p.stdin.flush()
        err = None
        for line in self.p.stderr:
            if line.strip() == MARK:
                return err
            m = ERROR.search(line)
            if m and err is None:
                err = (m.group(1) or '', m.group(2).strip())
        sys.exit('psql ended unexpectedly')

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def main():
    items = parse(sys.argv[1])
    s = Session()
    n = failed = ran = 0
    not_yet = []
    tmp = tempfile.mkdtemp(prefix='ruvector-readme-')
    for it in items:
        n += 1
        what = f"[{it['section']}] {' '.join(it['sql'].split())}"
        if len(what) > 160:
            what = what[:157] + '...'
        for sql in it['setup']:
            e = s.run(sql)
            if e:
                print(f'not ok {n} - {what}\n#   setup failed: {sql}\n#   {e[0]} {e[1]}', flush=True)
                failed += 1
                break
        else:
            if 'placeholder' in it:
                print(f"ok {n} - {what} # SKIP placeholder: {it['placeholder']}", flush=True)
                not_yet.append((what, 'placeholder: ' + it['placeholder']))
                continue
            sql = it['sql']
            if 'copy-binary-from' in it:
                data = os.path.join(tmp, f'copy{n}.bin')
                e = s.run(f"\\copy ({it['copy-binary-from']}) TO '{data}' WITH (FORMAT BINARY)")
                if e:
                    sys.exit(f'{what}: could not make the binary COPY data: {e}')
                # psql's \copy sends this very COPY ... FROM STDIN and streams the file
                sql = re.sub(r'^COPY\b', r'\\copy', sql.rstrip(';').strip()).replace('STDIN', f"'{data}'")
            e = s.run(sql)
            if 'todo' in it or 'env' in it:
                why = f"not yet: {it['todo']}" if 'todo' in it else f"environment: {it['env']}"
                outcome = f'error {e[0]}: {e[1]}' if e else 'runs, but not as in pgvector'
                print(f"ok {n} - {what} # SKIP {why} ({outcome})", flush=True)
                not_yet.append((what, f"{why} ({outcome})"))
            elif e:
                print(f'not ok {n} - {what}\n#   {e[0]} {e[1]}', flush=True)
                failed += 1
            else:
                ran += 1
                print(f'ok {n} - {what}', flush=True)
    s.close()
    print(f'# pgvector README: {ran} of {n} statements run', flush=True)
    for what, why in not_yet:
        print(f'#   not yet: {what} -- {why}', flush=True)
    print(f'1..{n}')
    return 1 if failed else 0


sys.exit(main())
