#!/usr/bin/env python3
"""A stand-in for the lvs-converge binary that replays JSON fixtures (plan-*.json recorded
from the real binary, apply-*.json synthesized: see fixtures/record.sh).

    fake_lvs_converge.py SCENARIO_DIR lvs-converge-ARGS...

The tests put a two-line shell wrapper named lvs-converge in SCENARIO_DIR that runs this
with the directory first, so the module calls it like the real binary. For each call it
appends one JSON line to SCENARIO_DIR/calls.jsonl: the argv (without SCENARIO_DIR), the
text of the `-f` spec file at the time of the call, and LVS_CONVERGE_FAULT, so a test can
check exactly what the module ran. Then, for the subcommand CMD (plan or apply), it prints
SCENARIO_DIR/CMD.json on stdout and CMD.stderr on stderr when they exist, and exits with
the number in CMD.rc (0 when absent). `plan --out FILE` copies SCENARIO_DIR/saved-plan.json
to FILE (or writes `{}`), as the real binary writes the saved plan before it prints.
"""

import json
import os
import shutil
import sys


def option(argv, name):
    if name in argv:
        i = argv.index(name)
        if i + 1 < len(argv):
            return argv[i + 1]
    return None


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except (IOError, OSError):
        return None


def main():
    scenario, argv = sys.argv[1], sys.argv[2:]
    spec_path = option(argv, '-f')
    with open(os.path.join(scenario, 'calls.jsonl'), 'a') as log:
        record = dict(
            argv=argv,
            spec=read(spec_path) if spec_path else None,
            fault=os.environ.get('LVS_CONVERGE_FAULT'),
        )
        log.write(json.dumps(record) + '\n')
    command = argv[0] if argv else ''
    out = option(argv, '--out')
    if command == 'plan' and out:
        saved = os.path.join(scenario, 'saved-plan.json')
        if os.path.exists(saved):
            shutil.copyfile(saved, out)
        else:
            with open(out, 'w') as f:
                f.write('{}')
    stdout = read(os.path.join(scenario, command + '.json'))
    if stdout is not None:
        sys.stdout.write(stdout)
    stderr = read(os.path.join(scenario, command + '.stderr'))
    if stderr is not None:
        sys.stderr.write(stderr)
    rc = read(os.path.join(scenario, command + '.rc'))
    sys.exit(int(rc) if rc else 0)


if __name__ == '__main__':
    main()
