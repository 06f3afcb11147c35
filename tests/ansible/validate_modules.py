"""ansible-test's validate-modules on the collection, run with Debian's own Python.

`ansible-test sanity --test validate-modules` insists on a virtualenv of its own whose
requirements it installs from PyPI, which CI and the lab have no access to; the test itself
is the script ansible-test ships, which needs only ansible-core and voluptuous (Debian's
python3-voluptuous). This runs that script with the arguments ansible-test gives it.

    validate_modules.py COLLECTION_DIR VERSION

One finding is accepted, on purpose: `missing-gplv3-license`. lvs-converge is Apache-2.0 (see
Cargo.toml) and so is its module; the GPLv3 header check is for modules contributed to Ansible
itself. Any other error fails.
"""

import glob
import json
import os
import subprocess
import sys

ACCEPTED = {'missing-gplv3-license'}


def main():
    collection, version = sys.argv[1], sys.argv[2]
    import ansible_test

    script = os.path.join(os.path.dirname(ansible_test.__file__), '_util', 'controller', 'sanity', 'validate-modules', 'validate.py')
    namespace_dir = os.path.dirname(os.path.dirname(collection))
    modules = sorted(os.path.relpath(p, collection) for p in glob.glob(os.path.join(collection, 'plugins', 'modules', '*.py')))
    if not modules:
        sys.exit('validate_modules.py: no module under %s/plugins/modules' % collection)
    cmd = [sys.executable, script, '--format', 'json', '--arg-spec', '--collection', os.path.relpath(collection, os.path.dirname(namespace_dir)),
           '--collection-version', version] + modules
    print('+ (cd %s) %s' % (collection, ' '.join(cmd)))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.dirname(namespace_dir))
    proc = subprocess.run(cmd, cwd=collection, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if proc.returncode not in (0, 3) or not proc.stdout.strip():
        sys.exit('validate-modules did not run (exit %d):\n%s%s' % (proc.returncode, proc.stdout, proc.stderr))
    found = json.loads(proc.stdout)
    failures = 0
    for path, report in sorted(found.items()):
        for error in report.get('errors', []) + report.get('traces', []):
            code = error.get('code', 'trace')
            accepted = code in ACCEPTED
            failures += not accepted
            print('%s %s:%s:%s: %s: %s' % ('accepted' if accepted else 'ERROR', path, error.get('line', 0), error.get('column', 0), code, error.get('msg', error)))
        for warning in report.get('warnings', []):
            print('warning %s: %s: %s' % (path, warning.get('code'), warning.get('msg')))
    print('validate-modules: %d module(s), %d error(s)' % (len(modules), failures))
    sys.exit(1 if failures else 0)


if __name__ == '__main__':
    main()
